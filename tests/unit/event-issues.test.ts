import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../db/open';
import { ingestLines } from '../../db/ingest';
import { insertRun } from '../../db/queries';
import { eventIssues } from '../../db/event-issues';
import { cleanupTempDirs, ev, RUN_START_FIELDS, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

describe('eventIssues', () => {
  it('lists malformed lines with their reasons and kept events per type and version', () => {
    const dir = tempDir();
    const db = openDatabase(join(dir, 'starlab.db'));
    insertRun(db, {
      id: 'r', variant: 'star', dataset: 'addition', preset: 'tiny', seed: 0, model: 'm',
      config_json: '{}', config_hash: 'h', status: 'running', created_at: 1, run_dir: dir,
    });
    const lines = [
      ev(1, 'run_start', RUN_START_FIELDS),
      'not json at all',
      ev(2, 'gpu_stats', { util: 0.9 }),
      JSON.stringify({ v: 2, seq: 3, t: 1_700_000_003, type: 'metrics', iteration: 0, step: 1, values: {}, extra: 1 }),
      ev(4, 'gpu_stats', { util: 0.8 }),
      JSON.stringify({ v: 1, seq: 5, t: 1, type: 'metrics' }),
    ];
    ingestLines(db, 'r', lines.map((text, i) => ({ lineNo: i + 1, text })), null);
    const got = eventIssues(db, 'r');
    expect(got.malformedTotal).toBe(2);
    expect(got.malformed.map((m) => m.lineNo)).toEqual([2, 6]);
    expect(got.malformed[0]!.reason).toMatch(/JSON/i);
    expect(got.unknownTotal).toBe(3);
    expect(got.unknownKinds).toEqual([
      { type: 'gpu_stats', version: 1, count: 2 },
      { type: 'metrics', version: 2, count: 1 },
    ]);
    expect(got.unknown.map((u) => [u.seq, u.type, u.version])).toEqual([[2, 'gpu_stats', 1], [3, 'metrics', 2], [4, 'gpu_stats', 1]]);
    expect(JSON.parse(got.unknown[1]!.raw)).toMatchObject({ v: 2, extra: 1 });
    // the limit applies to the listed rows, not the totals
    const one = eventIssues(db, 'r', 1);
    expect([one.malformed.length, one.unknown.length, one.malformedTotal, one.unknownTotal]).toEqual([1, 1, 2, 3]);
    db.close();
  });
});
