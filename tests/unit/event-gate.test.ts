/**
 * The (run, seq) gate split over run_events rows and event_spans (migration 010): metrics
 * events share spans of consecutive seqs, and every question about ingested events (is this
 * seq in, how many, since when, from which line) gets the answer one table of rows gave.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { exportBundle, importBundle } from '../../core/bundle';
import { databasePath, runsDir } from '../../core/paths';
import { eventCount, eventTimes, ingestedSeqs, knownSeqs, MAX_SPAN } from '../../db/event-gate';
import { ingestLines, lineHash, type RawLine } from '../../db/ingest';
import { openDatabase, type DB } from '../../db/open';
import { getRun } from '../../db/queries';
import { ingestEventsFile } from '../../core/tailer';
import { cleanupTempDirs, ev, insertTestRun, RUN_START_FIELDS, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const RUN = 'run1';
let db: DB;
let dir: string;

beforeEach(() => {
  dir = tempDir();
  db = openDatabase(databasePath(dir));
  insertTestRun(db, RUN, join(runsDir(dir), RUN));
});

const metric = (seq: number, value = seq) => ev(seq, 'metrics', { iteration: 0, step: seq, values: { loss: value } });
const lines = (texts: string[], from = 1): RawLine[] => texts.map((text, i) => ({ lineNo: from + i, text }));
const spans = () =>
  db
    .prepare('SELECT first_seq, last_seq, t_min, t_max, length(hashes) AS bytes FROM event_spans WHERE run_id = ? ORDER BY first_seq')
    .all(RUN);
const rowSeqs = () => db.prepare('SELECT seq FROM run_events WHERE run_id = ? ORDER BY seq').pluck().all(RUN);

describe('the (run, seq) gate', () => {
  it('keeps stretches of consecutive metrics events as spans and every other event as a row', () => {
    const texts = [
      ev(1, 'run_start', RUN_START_FIELDS),
      ...[2, 3, 4, 5].map((s) => metric(s)),
      ev(6, 'log', { level: 'info', message: 'hello' }),
      ...[7, 8].map((s) => metric(s)),
      metric(10), // a gap: seq 9 never written
      ev(11, 'run_end', { status: 'completed' }),
    ];
    expect(ingestLines(db, RUN, lines(texts), null)).toMatchObject({ applied: 10, duplicates: 0, ignored: 0 });
    expect(spans()).toEqual([
      { first_seq: 2, last_seq: 5, t_min: 1_700_000_002, t_max: 1_700_000_005, bytes: 24 },
      { first_seq: 7, last_seq: 8, t_min: 1_700_000_007, t_max: 1_700_000_008, bytes: 12 },
      { first_seq: 10, last_seq: 10, t_min: 1_700_000_010, t_max: 1_700_000_010, bytes: 6 },
    ]);
    expect(rowSeqs()).toEqual([1, 6, 11]);
    expect(ingestedSeqs(db, RUN).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 10, 11]);
    expect(eventCount(db, RUN)).toBe(10);
    expect(eventTimes(db, RUN)).toEqual({ first: 1_700_000_001, last: 1_700_000_011 });
    const known = knownSeqs(db, RUN, [1, 4, 9, 10, 12]);
    expect([...known.keys()].sort((a, b) => a - b)).toEqual([1, 4, 10]);
    expect(known.get(4)).toEqual({ hash: lineHash(texts[3]!), type: 'metrics' });
    expect(known.get(1)!.type).toBe('run_start');
  });

  it('re-reads any part of a file as already ingested, across batches and span boundaries', () => {
    const n = MAX_SPAN + 900;
    const texts = Array.from({ length: n }, (_, i) => metric(i + 1));
    // one batch larger than a span: two spans
    expect(ingestLines(db, RUN, lines(texts), null).applied).toBe(n);
    expect(spans().map((s) => [(s as { first_seq: number }).first_seq, (s as { last_seq: number }).last_seq])).toEqual([
      [1, MAX_SPAN],
      [MAX_SPAN + 1, n],
    ]);
    // stretches straddling the boundary, the start and the end, with new events after the end
    for (const [from, to] of [
      [MAX_SPAN - 10, MAX_SPAN + 10],
      [1, 3],
      [n - 5, n + 5],
    ] as const) {
      const batch = Array.from({ length: to - from + 1 }, (_, i) => metric(from + i));
      const st = ingestLines(db, RUN, lines(batch, from), null);
      expect(st).toMatchObject({ applied: Math.max(0, to - Math.max(from - 1, n)), duplicates: Math.min(to, n) - from + 1 });
    }
    expect(eventCount(db, RUN)).toBe(n + 5);
    expect(new Set(ingestedSeqs(db, RUN)).size).toBe(n + 5);
    expect((db.prepare('SELECT count(*) AS n FROM metrics WHERE run_id = ?').get(RUN) as { n: number }).n).toBe(n + 5);
  });

  it('tells a spanned seq read again from another line reusing it', () => {
    ingestLines(db, RUN, lines([metric(1), metric(2), metric(3)]), null);
    // the same line again: a duplicate; other content under seq 2, a metrics or a log event: conflicts, not applied
    const st = ingestLines(db, RUN, lines([metric(2), metric(2, 99), ev(3, 'log', { level: 'info', message: 'x' })], 4), null);
    expect(st).toMatchObject({ applied: 0, duplicates: 1, ignored: 2 });
    expect(getRun(db, RUN)!.ignoredEvents).toBe(2);
    expect(db.prepare('SELECT value FROM metrics WHERE run_id = ? AND step = 2').pluck().all(RUN)).toEqual([2]);
    expect(db.prepare("SELECT count(*) FROM rejected_lines WHERE run_id = ? AND kind = 'conflict'").pluck().get(RUN)).toBe(2);
    // within one batch too: the second line of a seq is compared with the first
    const both = ingestLines(db, RUN, lines([metric(7), metric(7), metric(7, 5)], 10), null);
    expect(both).toMatchObject({ applied: 1, duplicates: 1, ignored: 1 });
  });

  it('travels in a bundle: the imported run reads its events file again as already ingested', () => {
    const runDir = join(runsDir(dir), RUN);
    mkdirSync(runDir, { recursive: true });
    const file = join(runDir, 'events.jsonl');
    const texts = [ev(1, 'run_start', RUN_START_FIELDS), ...Array.from({ length: 50 }, (_, i) => metric(i + 2))];
    writeFileSync(file, texts.join('\n') + '\n');
    expect(ingestEventsFile(db, RUN, file).applied).toBe(51);
    const bundle = join(tempDir(), 'b.starlab.tar');
    expect(exportBundle(db, dir, [RUN], bundle).rows).toMatchObject({ run_events: 1, event_spans: 1, metrics: 50 });
    const dst = tempDir();
    const db2 = openDatabase(databasePath(dst));
    importBundle(db2, dst, bundle);
    expect(ingestedSeqs(db2, RUN).sort((a, b) => a - b)).toEqual(ingestedSeqs(db, RUN).sort((a, b) => a - b));
    db2.prepare('UPDATE ingest_cursors SET offset = 0, line_no = 0 WHERE run_id = ?').run(RUN);
    const again = ingestEventsFile(db2, RUN, join(runsDir(dst), RUN, 'events.jsonl'));
    expect(again).toMatchObject({ applied: 0, duplicates: 51, ignored: 0 });
    db2.close();
  });

  it('refuses a span the schema cannot hold (as a bundle might carry)', () => {
    const put = db.prepare('INSERT INTO event_spans (run_id, first_seq, last_seq, t_min, t_max, hashes) VALUES (?, ?, ?, 0, 0, ?)');
    expect(() => put.run(RUN, 5, 6, Buffer.alloc(6))).toThrow(/CHECK constraint/); // 2 seqs, 1 hash
    expect(() => put.run(RUN, 5, 4, Buffer.alloc(0))).toThrow(/CHECK constraint/);
    expect(() => put.run(RUN, 1, MAX_SPAN, Buffer.alloc(6 * MAX_SPAN))).not.toThrow();
    expect(() => put.run(RUN, MAX_SPAN + 1, 2 * MAX_SPAN + 1, Buffer.alloc(6 * (MAX_SPAN + 1)))).toThrow(/CHECK constraint/);
  });
});
