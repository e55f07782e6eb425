import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/open';
import { ingestLines } from '../../db/ingest';
import { eventIssues } from '../../db/event-issues';
import { cleanupTempDirs, ev, insertTestRun, RUN_START_FIELDS, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

describe('eventIssues', () => {
  it('lists malformed lines with their reasons and kept events per type and version', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'starlab.db'));
    insertTestRun(db, 'r', dir);
    const lines = [
      ev(1, 'run_start', RUN_START_FIELDS),
      'not json at all',
      ev(2, 'gpu_stats', { util: 0.9 }),
      JSON.stringify({ v: 2, seq: 3, t: 1_700_000_003, type: 'metrics', iteration: 0, step: 1, values: {}, extra: 1 }),
      ev(4, 'gpu_stats', { util: 0.8 }),
      JSON.stringify({ v: 1, seq: 5, t: 1, type: 'metrics' }),
    ];
    ingestLines(
      db,
      'r',
      lines.map((text, i) => ({ lineNo: i + 1, text })),
      null,
    );
    const got = eventIssues(db, 'r');
    expect(got.malformedTotal).toBe(2);
    expect(got.malformed.map((m) => m.lineNo)).toEqual([2, 6]);
    expect(got.malformed[0]!.reason).toMatch(/JSON/i);
    expect(got.unknownTotal).toBe(3);
    expect(got.unknownKinds).toEqual([
      { type: 'gpu_stats', version: 1, count: 2 },
      { type: 'metrics', version: 2, count: 1 },
    ]);
    expect(got.unknown.map((u) => [u.seq, u.type, u.version])).toEqual([
      [2, 'gpu_stats', 1],
      [3, 'metrics', 2],
      [4, 'gpu_stats', 1],
    ]);
    expect(JSON.parse(got.unknown[1]!.raw)).toMatchObject({ v: 2, extra: 1 });
    // the limit applies to the listed rows, not the totals
    const one = eventIssues(db, 'r', 1);
    expect([one.malformed.length, one.unknown.length, one.malformedTotal, one.unknownTotal]).toEqual([1, 1, 2, 3]);
    db.close();
  });

  it('keeps events after run_end, a foreign run_start and a seq repeated with other content, and applies none of them', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'starlab.db'));
    insertTestRun(db, 'r', dir);
    const env = { ...RUN_START_FIELDS.env, run_id: 'r' };
    const lines = [
      ev(1, 'run_start', { ...RUN_START_FIELDS, env }),
      ev(2, 'metrics', { iteration: 0, step: 1, values: { 'eval/accuracy': 0.25 } }),
      // another writer reusing seq 2: not the same line read twice
      ev(2, 'metrics', { iteration: 0, step: 1, values: { 'eval/accuracy': 0.99 } }),
      ev(2, 'metrics', { iteration: 0, step: 1, values: { 'eval/accuracy': 0.25 } }), // the same line again: a plain duplicate
      ev(3, 'run_start', { ...RUN_START_FIELDS, env: { ...env, run_id: 'someone-else' } }),
      ev(4, 'run_end', { status: 'completed', error: null }),
      ev(5, 'metrics', { iteration: 1, step: 2, values: { 'eval/accuracy': 0.75 } }),
      ev(6, 'run_end', { status: 'failed', error: 'late' }),
      ev(7, 'run_start', { ...RUN_START_FIELDS, env: { ...env, python: 'other' } }),
    ];
    const st = ingestLines(
      db,
      'r',
      lines.map((text, i) => ({ lineNo: i + 1, text })),
      null,
    );
    expect(st).toMatchObject({ applied: 3, duplicates: 1, malformed: 0, ignored: 5 });
    const run = db
      .prepare("SELECT end_status, end_error, latest_accuracy, env_json, ignored_events, malformed_lines FROM runs WHERE id = 'r'")
      .get() as Record<string, unknown>;
    expect(run).toMatchObject({ end_status: 'completed', end_error: null, latest_accuracy: 0.25, ignored_events: 5, malformed_lines: 0 });
    expect(JSON.parse(run.env_json as string)).toEqual(env);
    expect(db.prepare("SELECT iteration, value FROM metrics WHERE run_id = 'r'").all()).toEqual([{ iteration: 0, value: 0.25 }]);
    const got = eventIssues(db, 'r');
    expect(got.ignoredTotal).toBe(5);
    expect(got.ignored.map((g) => [g.seq, g.lineNo])).toEqual([
      [3, null],
      [5, null],
      [6, null],
      [7, null],
      [null, 3],
    ]);
    expect(got.ignored[0]!.reason).toMatch(/run_start of another run \(env\.run_id "someone-else"\)/);
    expect(got.ignored[1]!.reason).toMatch(/after the run's run_end \(completed\)/);
    expect(got.ignored[4]!.reason).toMatch(/seq 2 was already ingested from another line with different content/);
    expect(JSON.parse(got.ignored[1]!.raw)).toMatchObject({ seq: 5, values: { 'eval/accuracy': 0.75 } });
    // none of them is counted as malformed or unknown, and reading the file again adds nothing
    expect([got.malformedTotal, got.unknownTotal]).toEqual([0, 0]);
    expect(
      ingestLines(
        db,
        'r',
        lines.map((text, i) => ({ lineNo: i + 1, text })),
        null,
      ),
    ).toMatchObject({ applied: 0, ignored: 0, duplicates: 9 });
    expect(eventIssues(db, 'r').ignoredTotal).toBe(5);
    db.close();
  });

  it('drops the rows of later iterations only when a `resumed` event arrives', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'starlab.db'));
    insertTestRun(db, 'r', dir);
    const sample = (q: string) => ({
      question_id: q,
      split: 'train',
      kind: 'direct',
      question: q,
      text: 't',
      answer: '1',
      gold: '1',
      correct: true,
      hint_used: false,
    });
    const first = [0, 1, 2].flatMap((it) => [
      ev(1 + it * 3, 'metrics', { iteration: it, step: it, values: { 'eval/accuracy': it / 10 } }),
      ev(2 + it * 3, 'samples', { iteration: it, items: [sample(`q${it}`)] }),
      ev(3 + it * 3, 'phase_start', { iteration: it, phase: 'train' }),
    ]);
    ingestLines(
      db,
      'r',
      first.map((text, i) => ({ lineNo: i + 1, text })),
      null,
    );
    const count = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t} WHERE run_id = 'r'`).get() as { n: number }).n;
    expect([count('metrics'), count('samples'), count('phases')]).toEqual([3, 3, 3]);
    ingestLines(db, 'r', [{ lineNo: 10, text: ev(10, 'resumed', { iteration: 1 }) }], null);
    expect([count('metrics'), count('samples'), count('phases')]).toEqual([2, 2, 2]);
    expect(db.prepare("SELECT latest_accuracy FROM runs WHERE id = 'r'").get()).toEqual({ latest_accuracy: 0.1 });
    expect(
      db
        .prepare("SELECT count(*) AS n FROM logs WHERE run_id = 'r' AND message LIKE '%loaded its checkpoint of iteration 1: 3 rows%'")
        .get(),
    ).toEqual({ n: 1 });
    db.close();
  });
});
