import { appendFileSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type DB } from '../../db/open';
import { earlierLineHashes, getCursor, ingestLines, lineHash, splitTornLine } from '../../db/ingest';
import { getLogs, getRun, getRunRow, getSamples } from '../../db/queries';
import { ingestEventsFile, ingestTextLog, readCompleteLines } from '../../core/tailer';
import { cleanupTempDirs, ev, insertTestRun, RUN_START_FIELDS, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

let db: DB;
let dir: string;
let file: string;
const RUN = 'run1';

beforeEach(() => {
  dir = tempDir();
  file = join(dir, 'events.jsonl');
  db = openDatabase(join(dir, 'starlab.db'));
  insertTestRun(db, RUN, dir);
});

const sample = (q: string) => ({
  question_id: q,
  split: 'train',
  kind: 'direct',
  question: 'Q',
  text: 'T',
  answer: '1',
  gold: '1',
  correct: true,
  hint_used: false,
});

function fullRun(): string[] {
  return [
    ev(1, 'run_start', RUN_START_FIELDS),
    ev(2, 'phase_start', { iteration: 0, phase: 'sample' }),
    ev(3, 'samples', { iteration: 0, items: [sample('a'), sample('b'), sample('c')] }),
    ev(4, 'progress', { iteration: 0, phase: 'sample', done: 3, total: 3 }),
    ev(5, 'phase_end', { iteration: 0, phase: 'sample', duration_s: 2 }),
    ev(6, 'metrics', { iteration: 0, step: 10, values: { 'eval/accuracy': 0.25, 'train/loss': 2 } }),
    ev(7, 'metrics', { iteration: 1, step: 20, values: { 'eval/accuracy': 0.75 } }),
    ev(8, 'log', { level: 'warning', message: 'careful' }),
    ev(9, 'artifact', { name: 'ckpt', kind: 'checkpoint', path: 'artifacts/ckpt', size: 10, iteration: 1 }),
    'this is not json',
    ev(10, 'gpu_stats', { util: 1 }),
    ev(11, 'run_end', { status: 'completed' }),
  ];
}

const count = (table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table} WHERE run_id = ?`).get(RUN) as { n: number }).n;

describe('ingest', () => {
  it('applies every event type and stores run_start/run_end on the run', () => {
    writeFileSync(file, fullRun().join('\n') + '\n');
    const st = ingestEventsFile(db, RUN, file);
    expect(st.applied).toBe(11);
    expect(st.malformed).toBe(1);
    expect(st.unknown).toBe(1);
    expect(st.runEnd?.status).toBe('completed');
    const d = getRun(db, RUN)!;
    expect(d.metrics['eval/accuracy']!.map((p) => p.value)).toEqual([0.25, 0.75]);
    expect(d.metrics['train/loss']).toHaveLength(1);
    expect(d.latestAccuracy).toBe(0.75);
    expect(d.env?.host).toBe('h');
    expect(d.hashes).toEqual({ config: 'x' });
    expect(d.phases).toEqual([{ iteration: 0, phase: 'sample', startedAt: 1_700_000_002, endedAt: 1_700_000_005, durationS: 2 }]);
    expect(d.progressDone).toBe(3);
    expect(d.artifacts).toEqual([{ name: 'ckpt', kind: 'checkpoint', path: 'artifacts/ckpt', size: 10, iteration: 1 }]);
    expect(d.malformedLines).toBe(1);
    expect(d.unknownEvents).toBe(1);
    expect(getRunRow(db, RUN)!.end_status).toBe('completed');
    expect(getSamples(db, RUN, { iteration: 0 }).map((s) => s.questionId)).toEqual(['a', 'b', 'c']);
    expect(getLogs(db, RUN).map((l) => [l.source, l.level, l.message])).toEqual([['event', 'warning', 'careful']]);
    const rej = db.prepare('SELECT line_no, reason, text FROM rejected_lines WHERE run_id = ?').all(RUN) as {
      line_no: number;
      reason: string;
      text: string;
    }[];
    expect(rej).toEqual([{ line_no: 10, reason: expect.stringMatching(/invalid JSON/), text: 'this is not json' }]);
    const unk = db.prepare('SELECT payload FROM run_events WHERE run_id = ? AND seq = 10').get(RUN) as { payload: string };
    expect(JSON.parse(unk.payload).type).toBe('gpu_stats');
    expect(getCursor(db, RUN)).toMatchObject({ lineNo: 12, lastSeq: 11 });
  });

  it('is idempotent: the same file ingested twice adds nothing', () => {
    writeFileSync(file, fullRun().join('\n') + '\n');
    ingestEventsFile(db, RUN, file);
    const before = {
      m: count('metrics'),
      s: count('samples'),
      l: count('logs'),
      a: count('artifacts'),
      e: count('run_events'),
      g: count('event_spans'),
    };
    // Simulate a lost cursor (crash before it was known): re-read from the start.
    db.prepare('UPDATE ingest_cursors SET offset = 0, line_no = 0 WHERE run_id = ?').run(RUN);
    const st = ingestEventsFile(db, RUN, file);
    expect(st.applied).toBe(0);
    expect(st.duplicates).toBe(11);
    expect({
      m: count('metrics'),
      s: count('samples'),
      l: count('logs'),
      a: count('artifacts'),
      e: count('run_events'),
      g: count('event_spans'),
    }).toEqual(before);
    const d = getRun(db, RUN)!;
    expect(d.malformedLines).toBe(1);
    expect(d.unknownEvents).toBe(1);
    // And through ingestLines directly.
    const lines = fullRun().map((text, i) => ({ lineNo: i + 1, text }));
    expect(ingestLines(db, RUN, lines, null).applied).toBe(0);
    expect(count('metrics')).toBe(before.m);
  });

  it.each([
    ['one UTF-16 unit a step (schema v6–v9)', 0],
    ['sha1 (before)', 1],
  ])('reads lines an earlier version stored under its line hash, %s, as the same lines', (_, which) => {
    const lines = [
      ev(1, 'metrics', { iteration: 0, step: 0, values: { a: 1 } }),
      ev(2, 'metrics', { iteration: 0, step: 1, values: { a: 2 } }),
    ];
    // as an earlier version stored them: a run_events row per event, with that version's hash
    const setRow = db.prepare("INSERT INTO run_events (run_id, seq, type, t, hash) VALUES (?, ?, 'metrics', 1, ?)");
    const setMetric = db.prepare("INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES (?, ?, 'a', 0, ?, ?, 1)");
    lines.forEach((text, i) => {
      setRow.run(RUN, i + 1, earlierLineHashes(text)[which]!);
      setMetric.run(RUN, i + 1, i, i + 1);
    });
    expect(lineHash(lines[0]!)).not.toBe(earlierLineHashes(lines[0]!)[which]);
    const again = ingestLines(
      db,
      RUN,
      lines.map((text, i) => ({ lineNo: i + 1, text })),
      null,
    );
    expect(again).toMatchObject({ applied: 0, duplicates: 2, ignored: 0 });
    // a line reusing seq 2 with other content is still a conflict
    const other = ingestLines(db, RUN, [{ lineNo: 3, text: ev(2, 'metrics', { iteration: 0, step: 1, values: { a: 3 } }) }], null);
    expect(other).toMatchObject({ applied: 0, duplicates: 0, ignored: 1 });
    expect(count('metrics')).toBe(2);
  });

  it("keeps the earlier versions' hash functions as they were", () => {
    // computed by the line hash of schema v6–v9 (db/ingest-rows.ts at 5eabb6e)
    const line = '{"v":1,"seq":2,"t":5,"type":"metrics","iteration":0,"step":0,"values":{"a":1}}';
    expect(earlierLineHashes(line)[0]).toBe(258775936186897);
    expect(earlierLineHashes(` ${line}\n`)).toEqual(earlierLineHashes(line));
  });

  it('consumes a torn last line only once its newline arrives', () => {
    const a = ev(1, 'metrics', { iteration: 0, step: 0, values: { x: 1 } });
    const b = ev(2, 'metrics', { iteration: 0, step: 1, values: { x: 2 } });
    writeFileSync(file, a + '\n' + b.slice(0, 20));
    expect(ingestEventsFile(db, RUN, file).applied).toBe(1);
    const c1 = getCursor(db, RUN);
    expect(c1.offset).toBe(Buffer.byteLength(a) + 1);
    expect(ingestEventsFile(db, RUN, file).applied).toBe(0);
    expect(getRun(db, RUN)!.malformedLines).toBe(0);
    appendFileSync(file, b.slice(20));
    expect(ingestEventsFile(db, RUN, file).applied).toBe(0); // still no newline
    appendFileSync(file, '\n');
    expect(ingestEventsFile(db, RUN, file).applied).toBe(1);
    expect(getRun(db, RUN)!.metrics.x!.map((p) => p.value)).toEqual([1, 2]);
    expect(getRun(db, RUN)!.malformedLines).toBe(0);
  });

  it('handles a file that does not exist yet, blank lines and CRLF', () => {
    expect(ingestEventsFile(db, RUN, file).applied).toBe(0);
    writeFileSync(file, '\n' + ev(1, 'heartbeat') + '\r\n\n' + ev(2, 'heartbeat') + '\n');
    const st = ingestEventsFile(db, RUN, file);
    expect(st.applied).toBe(2);
    expect(st.malformed).toBe(0);
  });

  it('batches by line count and drains over several calls', () => {
    const lines = Array.from({ length: 50 }, (_, i) => ev(i + 1, 'metrics', { iteration: 0, step: i, values: { x: i } }));
    writeFileSync(file, lines.join('\n') + '\n');
    const st = ingestEventsFile(db, RUN, file, { maxLines: 7, maxBatches: 3 });
    expect(st.applied).toBe(21);
    expect(st.batches).toBe(3);
    expect(st.more).toBe(true);
    const rest = ingestEventsFile(db, RUN, file, { maxLines: 7, maxBatches: Infinity });
    expect(rest.applied).toBe(29);
    expect(rest.more).toBe(false);
    expect(count('metrics')).toBe(50);
  });

  it('reads a line longer than the byte batch', () => {
    const big = ev(1, 'log', { level: 'info', message: 'x'.repeat(50_000) });
    writeFileSync(file, big + '\n' + ev(2, 'heartbeat') + '\n');
    const r = readCompleteLines(file, 0, 0, { maxBytes: 1000 });
    expect(r.lines).toHaveLength(1);
    expect(r.offset).toBe(Buffer.byteLength(big) + 1);
    expect(ingestEventsFile(db, RUN, file, { maxBytes: 1000, maxBatches: Infinity }).applied).toBe(2);
  });

  it('survives a file truncated below the cursor with a supervisor warning', () => {
    writeFileSync(file, [1, 2, 3].map((s) => ev(s, 'metrics', { iteration: 0, step: s, values: { x: s } })).join('\n') + '\n');
    expect(ingestEventsFile(db, RUN, file).applied).toBe(3);
    truncateSync(file, 0);
    writeFileSync(file, ev(1, 'metrics', { iteration: 0, step: 1, values: { x: 1 } }) + '\n');
    const st = ingestEventsFile(db, RUN, file);
    expect(st.truncated).toBe(true);
    expect(st.applied).toBe(0);
    const warn = getLogs(db, RUN).filter((l) => l.source === 'supervisor');
    expect(warn).toHaveLength(1);
    expect(warn[0]!.level).toBe('warning');
    expect(warn[0]!.message).toMatch(/truncated/);
    appendFileSync(file, ev(4, 'metrics', { iteration: 0, step: 4, values: { x: 4 } }) + '\n');
    expect(ingestEventsFile(db, RUN, file).applied).toBe(1);
    expect(count('metrics')).toBe(4);
  });

  it('notices a file truncated mid-line and refilled past the cursor, and loses no appended event', () => {
    const m = (q: number) => ev(q, 'metrics', { iteration: 0, step: q, values: { x: q } });
    const first = [1, 2, 3, 4].map(m).join('\n') + '\n';
    writeFileSync(file, first);
    expect(ingestEventsFile(db, RUN, file).applied).toBe(4);
    // cut in the middle of line 3; an O_APPEND writer goes on at the new end, quickly passing the cursor
    const cut = first.indexOf(m(3)) + 10;
    truncateSync(file, cut);
    appendFileSync(file, [5, 6, 7, 8, 9].map(m).join('\n') + '\n');
    expect(statSync(file).size).toBeGreaterThan(first.length);
    const st = ingestEventsFile(db, RUN, file, { maxBatches: Infinity });
    expect(st.truncated).toBe(true);
    expect(st.applied).toBe(5); // 5..9: event 5 shares its line with the fragment of 3
    expect(st.malformed).toBe(1);
    expect(count('metrics')).toBe(9);
    expect(db.prepare('SELECT reason FROM rejected_lines WHERE run_id = ?').get(RUN)).toEqual({
      reason: 'torn fragment of 10 bytes before event 5 on the same line (a write cut off by a crash or a truncation)',
    });
    const warn = getLogs(db, RUN)
      .filter((l) => l.source === 'supervisor')
      .map((l) => l.message);
    expect(warn).toEqual([expect.stringMatching(/^events\.jsonl was truncated or rewritten before the ingest cursor at byte \d+/)]);
  });

  it('notices a deleted and recreated events file even when the new one is already longer', () => {
    const m = (q: number) => ev(q, 'metrics', { iteration: 0, step: q, values: { x: q } });
    writeFileSync(file, [1, 2].map(m).join('\n') + '\n');
    expect(ingestEventsFile(db, RUN, file).applied).toBe(2);
    unlinkSync(file);
    expect(ingestEventsFile(db, RUN, file).applied).toBe(0);
    expect(getLogs(db, RUN).at(-1)!.message).toMatch(/^events\.jsonl was deleted after \d+ bytes had been ingested/);
    // recreated by a writer that reopens by path: longer than the old file, ends in a newline at the old cursor's byte too
    writeFileSync(file, [3, 4, 5, 6].map(m).join('\n') + '\n');
    const st = ingestEventsFile(db, RUN, file, { maxBatches: Infinity });
    expect(st.truncated).toBe(true);
    expect(st.applied).toBe(4);
    expect(count('metrics')).toBe(6);
  });

  it('splits a torn fragment from the event that follows it on the same line', () => {
    expect(splitTornLine(7, '{"v":1,"se' + ev(3, 'heartbeat'))?.map((x) => [x.text.length, x.parsed.kind])).toEqual([
      [10, 'malformed'],
      [ev(3, 'heartbeat').length, 'event'],
    ]);
    expect(splitTornLine(7, 'garbage {"v": 1, "no": "event"}')).toBeNull();
    expect(splitTornLine(7, ev(3, 'heartbeat'))).toBeNull(); // a whole event is not split
  });

  it('copies stdout/stderr lines into logs, keeping the last state of \\r progress bars', () => {
    const out = join(dir, 'stdout.log');
    writeFileSync(out, 'hello\n 10%\r 50%\r100%\npartial');
    expect(ingestTextLog(db, RUN, out, 'stdout')).toBe(2);
    expect(ingestTextLog(db, RUN, out, 'stdout', { flush: true })).toBe(1);
    expect(getLogs(db, RUN).map((l) => l.message)).toEqual(['hello', '100%', 'partial']);
  });
});
