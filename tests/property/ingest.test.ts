/**
 * Property tests of ingest (db/ingest.ts) on a real SQLite database: random mixes of valid,
 * malformed, duplicate, newer-version and unknown-type lines never make ingestLines throw, the
 * counts add up exactly, nothing malformed reaches metrics/samples, every unknown or newer
 * event is kept (run_events.payload holds its raw line) and counted on the run, events after
 * the run's run_end are kept but not applied, a seq repeated with other content is recorded
 * as a conflict, and `resumed` drops what later iterations stored.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ingestLines, type RawLine } from '../../db/ingest';
import { ingestedSeqs } from '../../db/event-gate';
import { openDatabase, type DB } from '../../db/open';
import { EVENT_TYPES } from '../../shared/protocol';
import { insertTestRun } from '../fixtures/helpers';
import { validEvent } from './arbitraries';

const RUN = 'r1';
/** A small seq pool, so duplicates within and across batches are common. */
const seq = fc.integer({ min: 1, max: 40 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });

type Kind = 'event' | 'unknown' | 'malformed' | 'blank';
interface Line {
  text: string;
  kind: Kind;
  /** For event/unknown lines. */
  seq?: number;
  type?: string;
  items?: number;
  metricNames?: number;
  iteration?: number;
  /** run_start's hashes.config, when it has one. */
  configHash?: string;
}

const extra = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 });
const unknownType = fc.string({ minLength: 1, maxLength: 12 }).filter((t) => !(EVENT_TYPES as readonly string[]).includes(t));

const line: fc.Arbitrary<Line> = fc.oneof(
  {
    weight: 5,
    arbitrary: validEvent(seq).map((e): Line => ({
      text: JSON.stringify(e),
      kind: 'event',
      seq: e.seq as number,
      type: e.type,
      items: e.type === 'samples' ? (e.items as unknown[]).length : 0,
      metricNames: e.type === 'metrics' ? Object.keys(e.values as object).length : 0,
      iteration: typeof e.iteration === 'number' ? e.iteration : undefined,
      configHash: e.type === 'run_start' ? ((e.hashes as Record<string, string>)['config'] ?? undefined) : undefined,
    })),
  },
  // a newer protocol version, of any type (known names included)
  {
    weight: 2,
    arbitrary: fc
      .tuple(fc.integer({ min: 2, max: 99 }), seq, finite, fc.oneof(unknownType, fc.constantFrom(...EVENT_TYPES)), extra)
      .map(([v, s, t, type, x]): Line => ({ text: JSON.stringify({ ...x, v, seq: s, t, type }), kind: 'unknown', seq: s, type })),
  },
  // this version, a type it does not know
  {
    weight: 2,
    arbitrary: fc
      .tuple(seq, finite, unknownType, extra)
      .map(([s, t, type, x]): Line => ({ text: JSON.stringify({ ...x, v: 1, seq: s, t, type }), kind: 'unknown', seq: s, type })),
  },
  // a proper prefix of a valid line is never valid JSON
  {
    weight: 2,
    arbitrary: fc
      .tuple(validEvent(seq), fc.nat())
      .map(([e, n]) => {
        const s = JSON.stringify(e);
        return s.slice(0, 1 + (n % (s.length - 1)));
      })
      .map((text): Line => ({ text, kind: text.trim() ? 'malformed' : 'blank' })),
  },
  // a known type with a body that breaks the schema
  {
    weight: 2,
    arbitrary: fc
      .tuple(seq, fc.constantFrom('metrics', 'samples', 'progress', 'phase_start', 'log'), fc.constantFrom('x', -1, null, 1.5, [1]))
      .map(([s, type, bad]): Line => ({
        text: JSON.stringify({
          v: 1,
          seq: s,
          t: 1,
          type,
          iteration: bad,
          step: bad,
          values: { a: bad },
          items: [{ question_id: bad }],
          phase: bad,
          level: bad,
        }),
        kind: 'malformed',
      })),
  },
  // bad envelopes and plain garbage
  {
    weight: 1,
    arbitrary: fc
      .oneof(
        fc.constant('[1,2]'),
        fc.constant('{"v":1,"seq":0,"t":1,"type":"heartbeat"}'),
        fc.constant('not json'),
        fc.constant('{"v":1,"seq":1.5,"t":1,"type":"x"}'),
      )
      .map((text): Line => ({ text, kind: 'malformed' })),
  },
  { weight: 1, arbitrary: fc.constantFrom('', '   ', '\t', '\r').map((text): Line => ({ text, kind: 'blank' })) },
);

function freshDb(): DB {
  const db = openDatabase(':memory:');
  insertTestRun(db, RUN, '/tmp/x');
  return db;
}

const one = <T>(db: DB, sql: string): T => db.prepare(sql).get(RUN) as T;

describe('ingestLines (properties, real SQLite)', () => {
  it('never throws; applied/duplicates/malformed/unknown add up; unknowns are kept; nothing malformed is stored', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 60 }), fc.nat(), (lines, cut) => {
        const db = freshDb();
        try {
          const raw: RawLine[] = lines.map((l, i) => ({ lineNo: i + 1, text: l.text }));
          const at = lines.length ? cut % (lines.length + 1) : 0;
          // two batches: duplicates across batches count the same as within one
          const a = ingestLines(db, RUN, raw.slice(0, at), null);
          const b = ingestLines(db, RUN, raw.slice(at), { offset: 1, lineNo: raw.length });
          const total = {
            applied: a.applied + b.applied,
            duplicates: a.duplicates + b.duplicates,
            malformed: a.malformed + b.malformed,
            unknown: a.unknown + b.unknown,
            ignored: a.ignored + b.ignored,
          };

          // the model: the first line with a seq wins; a later one with that seq is a duplicate
          // when it is the same text, a conflict (kept, not applied) otherwise. Known events
          // after the first applied run_end, and a run_start with another config hash, are kept
          // but not applied; `resumed` drops the metrics and samples of later iterations.
          const firstText = new Map<number, string>();
          const first: Line[] = [];
          const notApplied = new Set<Line>();
          let live: Line[] = []; // applied metrics/samples events still stored
          let duplicates = 0;
          let conflicts = 0;
          let ended = false;
          let configHash: string | undefined;
          for (const l of lines) {
            if (l.kind !== 'event' && l.kind !== 'unknown') continue;
            const seen = firstText.get(l.seq!);
            if (seen !== undefined) {
              if (seen === l.text.trim()) duplicates++;
              else conflicts++;
              continue;
            }
            firstText.set(l.seq!, l.text.trim());
            first.push(l);
            if (l.kind === 'unknown') continue;
            const foreign = l.type === 'run_start' && configHash !== undefined && l.configHash !== undefined && l.configHash !== configHash;
            if (ended || foreign) {
              notApplied.add(l);
              continue;
            }
            if (l.type === 'run_end') ended = true;
            if (l.type === 'run_start') configHash = l.configHash;
            if (l.type === 'metrics' || l.type === 'samples') live.push(l);
            if (l.type === 'resumed') live = live.filter((x) => x.iteration! <= l.iteration!);
          }
          const malformed = lines.filter((l) => l.kind === 'malformed').length;
          const unknown = first.filter((l) => l.kind === 'unknown');
          const nonBlank = lines.filter((l) => l.kind !== 'blank').length;
          expect(total).toEqual({
            applied: first.length - notApplied.size,
            duplicates,
            malformed,
            unknown: unknown.length,
            ignored: notApplied.size + conflicts,
          });
          expect(total.applied + total.duplicates + total.malformed + total.ignored).toBe(nonBlank);

          // the gate holds each first seq once: applied metrics events in spans, every other event
          // a run_events row; unknowns and events not applied keep their raw line, applied ones none
          expect(ingestedSeqs(db, RUN).sort((x, y) => x - y)).toEqual(first.map((l) => l.seq!).sort((x, y) => x - y));
          const rows = db.prepare('SELECT seq, type, payload, note FROM run_events WHERE run_id = ? ORDER BY seq').all(RUN) as {
            seq: number;
            type: string;
            payload: string | null;
            note: string | null;
          }[];
          const bySeq = new Map(rows.map((r) => [r.seq, r]));
          for (const l of first) {
            const r = bySeq.get(l.seq!);
            const spanned = l.kind !== 'unknown' && l.type === 'metrics' && !notApplied.has(l);
            expect(r === undefined).toBe(spanned);
            if (!r) continue;
            expect(r.type).toBe(l.type);
            expect(r.payload).toBe(l.kind === 'unknown' || notApplied.has(l) ? l.text : null);
            expect(r.note !== null).toBe(notApplied.has(l));
          }
          const run = one<{ unknown_events: number; malformed_lines: number; ignored_events: number }>(
            db,
            'SELECT unknown_events, malformed_lines, ignored_events FROM runs WHERE id = ?',
          );
          expect(run).toEqual({ unknown_events: unknown.length, malformed_lines: malformed, ignored_events: notApplied.size + conflicts });
          expect(one<{ n: number }>(db, "SELECT count(*) AS n FROM rejected_lines WHERE run_id = ? AND kind = 'malformed'").n).toBe(
            malformed,
          );
          expect(one<{ n: number }>(db, "SELECT count(*) AS n FROM rejected_lines WHERE run_id = ? AND kind = 'conflict'").n).toBe(
            conflicts,
          );

          // metrics and samples hold exactly what the applied known events carried (and no resume dropped)
          const metricSeqs = live.filter((l) => l.type === 'metrics').map((l) => l.seq!);
          const sampleSeqs = live.filter((l) => l.type === 'samples').map((l) => l.seq!);
          expect(one<{ n: number }>(db, 'SELECT count(*) AS n FROM metrics WHERE run_id = ?').n).toBe(
            live.reduce((n, l) => n + (l.metricNames ?? 0), 0),
          );
          expect(one<{ n: number }>(db, 'SELECT count(*) AS n FROM samples WHERE run_id = ?').n).toBe(
            live.reduce((n, l) => n + (l.items ?? 0), 0),
          );
          for (const [table, seqs] of [
            ['metrics', metricSeqs],
            ['samples', sampleSeqs],
          ] as const) {
            const stored = (db.prepare(`SELECT DISTINCT seq FROM ${table} WHERE run_id = ?`).all(RUN) as { seq: number }[]).map(
              (r) => r.seq,
            );
            for (const s of stored) expect(seqs).toContain(s);
          }

          // re-reading everything adds nothing
          const again = ingestLines(db, RUN, raw, null);
          expect(again).toMatchObject({
            applied: 0,
            unknown: 0,
            malformed: 0,
            ignored: 0,
            duplicates: first.length + duplicates + conflicts,
          });
        } finally {
          db.close();
        }
      }),
      { numRuns: 150 },
    );
  });
});
