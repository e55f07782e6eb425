/**
 * Archiving and deleting runs (issue 17, the runs table's bulk actions): archived is a label
 * kept in the row and run.json (a reindex restores it); delete refuses running runs, removes
 * every row of the others (samples set-wise) and moves their directories to <data>/trash,
 * never following a link planted in place of one.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../core/service';
import { databasePath } from '../../core/paths';
import { openDatabase } from '../../db/open';
import { cleanupTempDirs, completedRun, fakeCommand, SPEC, tempDir, waitFor } from '../fixtures/helpers';

const open: Service[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});
afterAll(cleanupTempDirs);

function service(dataDir: string, mode = 'complete'): Service {
  const s = createService({ dataDir, pollMs: 50, commandFor: fakeCommand(mode) });
  open.push(s);
  return s;
}

/** Rows of every table that holds the run's data. */
function rowsOf(dataDir: string, id: string): Record<string, number> {
  const db = openDatabase(databasePath(dataDir));
  try {
    const tables = ['runs', 'metrics', 'samples', 'run_events', 'event_spans', 'phases', 'logs', 'question_outcomes', 'question_summary'];
    return Object.fromEntries(
      tables.map((t) => [
        t,
        (db.prepare(`SELECT count(*) AS n FROM ${t} WHERE ${t === 'runs' ? 'id' : 'run_id'} = ?`).get(id) as { n: number }).n,
      ]),
    );
  } finally {
    db.close();
  }
}

describe('archive and delete', () => {
  it('archives runs as a label a reindex gives back', async () => {
    const dataDir = tempDir();
    const s = service(dataDir);
    const [a, b] = [await completedRun(s, 0), await completedRun(s, 1)];
    expect(s.archiveRuns([a, b], true)).toEqual({ ok: true, message: '2 run(s) archived', changed: 2 });
    expect(s.archiveRuns([a], true).changed).toBe(0); // already so
    expect(s.archiveRuns([b], false)).toMatchObject({ ok: true, changed: 1 });
    expect(s.listRuns().map((r) => [r.id, r.archived])).toEqual(
      expect.arrayContaining([
        [a, true],
        [b, false],
      ]),
    );
    expect(JSON.parse(readFileSync(join(s.getRun(a)!.runDir, 'run.json'), 'utf8')).labels).toMatchObject({ archived: true });
    expect(s.archiveRuns(['nope-1'], true)).toMatchObject({ ok: false, message: expect.stringContaining('no run "nope-1"') });
    s.close();
    for (const f of ['', '-wal', '-shm']) rmSync(databasePath(dataDir) + f, { force: true });
    const again = service(dataDir);
    await again.reindexRuns();
    expect(again.getRun(a)?.archived).toBe(true);
    expect(again.getRun(b)?.archived).toBe(false);
  });

  it('deletes finished runs whole, keeps their directories in the trash, and refuses a running one', async () => {
    const dataDir = tempDir();
    const s = service(dataDir);
    const done = await completedRun(s, 0);
    const before = rowsOf(dataDir, done);
    expect(before.samples).toBeGreaterThan(0);
    expect(before.metrics).toBeGreaterThan(0);
    expect(before.event_spans).toBeGreaterThan(0);
    expect(before.question_outcomes).toBeGreaterThan(0);
    s.close();

    const live = service(dataDir, 'hang');
    const r = await live.launchRun({ ...SPEC, seed: 5 });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    await waitFor(() => live.getRun(r.id)?.status === 'running', 10_000, 'the run to start');
    const runDir = live.getRun(done)!.runDir;

    const res = live.deleteRuns([done, r.id]);
    expect(res.deleted).toEqual([done]);
    expect(res.ok).toBe(false);
    expect(res.message).toContain(`${r.id} is running: stop it first`);
    expect(rowsOf(dataDir, done)).toEqual(Object.fromEntries(Object.keys(before).map((k) => [k, 0])));
    expect(existsSync(runDir)).toBe(false);
    expect(existsSync(join(dataDir, 'trash', done, 'events.jsonl'))).toBe(true);
    expect(live.getRun(r.id)?.status).toBe('running'); // untouched
    expect(live.listRuns().map((x) => x.id)).toEqual([r.id]);
    await live.stopRun(r.id);
  });

  it('does not move what a link planted in place of a run directory points to', async () => {
    const dataDir = tempDir();
    const s = service(dataDir);
    const id = await completedRun(s, 0);
    const runDir = s.getRun(id)!.runDir;
    const elsewhere = join(tempDir(), 'precious');
    mkdirSync(elsewhere);
    renameSync(runDir, join(elsewhere, 'moved'));
    symlinkSync(elsewhere, runDir);
    const res = s.deleteRuns([id]);
    expect(res.deleted).toEqual([id]);
    expect(res.ok).toBe(false);
    expect(res.message).toContain('is not a directory: left where it is');
    expect(existsSync(join(elsewhere, 'moved', 'events.jsonl'))).toBe(true);
    expect(existsSync(join(dataDir, 'trash', id))).toBe(false);
  });
});
