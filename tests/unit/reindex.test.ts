/**
 * The run directories are the source of truth (issue 13): with the database emptied or
 * removed, `check` reports the run directories it does not know and Reindex puts every run
 * back through the normal ingest — statuses, rows, groups — and re-attaches a run whose
 * process is still alive. Links and bad configs are skipped with the reason.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../core/service';
import type { LaunchContext } from '../../core/executor';
import { databasePath, runsDir } from '../../core/paths';
import { eventCount } from '../../db/event-gate';
import { cleanupTempDirs, FAKE_PYTHON, fakeCommand, REPO, SPEC, tempDir, waitFor } from '../fixtures/helpers';

const open: Service[] = [];
const pids: number[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  for (const pid of pids.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});
afterAll(cleanupTempDirs);

/** Seed 1 completes, 2 fails, 3 hangs until stopped. */
const MODES: Record<number, string> = { 1: 'complete', 2: 'fail', 3: 'hang' };
function service(dataDir: string, watch = true): Service {
  const s = createService({
    dataDir,
    pollMs: 50,
    watch,
    stopGraceMs: 5000,
    commandFor: fakeCommand((ctx: LaunchContext) => MODES[ctx.config.seed] ?? 'complete'),
  });
  open.push(s);
  return s;
}

function removeDatabase(dataDir: string): void {
  for (const f of ['', '-wal', '-shm']) rmSync(databasePath(dataDir) + f, { force: true });
}

/** Everything a run is in the database, minus what only the database can know (pid, python, resume counters). */
function state(s: Service, id: string) {
  const n = (t: string) => (s.db.prepare(`SELECT count(*) AS n FROM ${t} WHERE run_id = ?`).get(id) as { n: number }).n;
  const r = s.getRun(id)!;
  return {
    status: r.status,
    group: r.groupId,
    config: r.config,
    metrics: r.metrics,
    phases: r.phases,
    artifacts: r.artifacts.length,
    events: eventCount(s.db, id),
    samples: n('samples'),
    outcomes: n('question_outcomes'),
    env: r.env,
    latestAccuracy: r.latestAccuracy,
  };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', ...args],
      { cwd: REPO, env: { ...process.env, STARLAB_PYTHON: FAKE_PYTHON }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('reindex', () => {
  it('puts back every run of an emptied database: statuses, rows and groups', async () => {
    const dataDir = tempDir();
    const a = service(dataDir);
    const ids: string[] = [];
    for (const seed of [1, 2, 3]) {
      const r = await a.launchRun({ ...SPEC, seed });
      if (!r.ok) throw new Error(JSON.stringify(r.errors));
      ids.push(r.id);
    }
    const group = a.createAblation({ variants: ['star'], datasets: ['addition'], seeds: [1, 4], preset: 'tiny' } as never);
    if (!group.ok) throw new Error(JSON.stringify(group));
    ids.push(...group.runs);
    await waitFor(() => a.getRun(ids[2]!)?.currentIteration === 0, 10_000, 'the hanging run to start');
    a.stopRun(ids[2]!);
    await waitFor(() => ids.every((id) => ['completed', 'failed', 'stopped'].includes(a.getRun(id)!.status)), 30_000, 'every run to end');
    expect(ids.map((id) => a.getRun(id)!.status)).toEqual(['completed', 'failed', 'stopped', 'completed', 'completed']);
    const before = new Map(ids.map((id) => [id, state(a, id)]));
    const reasonsBefore = ids.map((id) => a.getRun(id)!.statusReason);
    a.close();

    // the database emptied (a fresh file): nothing listed, but check and the data info say why
    removeDatabase(dataDir);
    const checked = await cli(['check', '--json', '--data-dir', dataDir]);
    expect(checked.code).toBe(1);
    expect(JSON.parse(checked.stdout)).toMatchObject({ ok: false, exists: false, unindexedRuns: [...ids].sort() });
    const b = service(dataDir);
    expect(b.listRuns()).toEqual([]);
    expect(b.getDataInfo().unindexedRuns).toEqual({ total: 5, ids: [...ids].sort() });
    const text = await cli(['check', '--data-dir', dataDir]);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/5 run directories are not in the database .*: run `starlab reindex` to put them back/);

    const r = await b.reindexRuns();
    if (!r.ok) throw new Error(r.message);
    expect([...r.added].sort()).toEqual([...ids].sort());
    expect(r.skipped).toEqual([]);
    expect(r.groupsAdded).toEqual([group.id]);
    for (const id of ids) expect(state(b, id)).toEqual(before.get(id));
    // failed and stopped runs keep what their events said, or say they were reindexed
    expect(reasonsBefore[2]).toBe('stopped by user');
    expect(b.getRun(ids[2]!)!.statusReason).toBe('stopped'); // its run_end says stopped; who asked is only in the database
    expect(b.getRun(ids[1]!)!.statusReason).toMatch(/reindexed from its run directory: it has no run_end event/);
    expect(
      b
        .getGroup(group.id)!
        .runs.map((x) => x.id)
        .sort(),
    ).toEqual([...group.runs].sort());
    expect(b.getDataInfo().unindexedRuns.total).toBe(0);
    expect((await cli(['check', '--data-dir', dataDir])).code).toBe(0);
    // a second reindex finds nothing to do
    expect(await b.reindexRuns()).toMatchObject({ ok: true, added: [], skipped: [] });
  }, 60_000);

  it('re-attaches a run whose process is still alive, and stops it', async () => {
    const dataDir = tempDir();
    const a = service(dataDir);
    const r = await a.launchRun({ ...SPEC, seed: 3 });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const pid = a.getRun(r.id)!.pid!;
    pids.push(pid);
    await waitFor(() => a.getRun(r.id)?.currentIteration === 0, 10_000, 'the run to start');
    a.close();
    removeDatabase(dataDir);
    const b = service(dataDir);
    const rep = await b.reindexRuns();
    if (!rep.ok) throw new Error(rep.message);
    expect(rep.running).toEqual([r.id]);
    expect(b.getRun(r.id)).toMatchObject({ status: 'running', pid });
    expect(b.stopRun(r.id).ok).toBe(true);
    const d = (await b.waitForRun(r.id, { timeoutMs: 20_000 }))!;
    expect(d.status).toBe('stopped');
  }, 60_000);

  it('skips run directories that are links, hold a linked events file, a bad config, or are being created', async () => {
    const dataDir = tempDir();
    const outside = tempDir();
    const s = service(dataDir, false);
    const runs = runsDir(dataDir);
    mkdirSync(runs, { recursive: true });
    // a link to a folder elsewhere: never followed
    mkdirSync(join(outside, 'victim'));
    writeFileSync(
      join(outside, 'victim', 'config.json'),
      JSON.stringify({ variant: 'star', dataset: 'addition', preset: 'tiny', seed: 0, model: { name: 'm' } }),
    );
    symlinkSync(join(outside, 'victim'), join(runs, '20260101-000000-0001'));
    // an events file that is a link
    mkdirSync(join(runs, '20260101-000000-0002'));
    writeFileSync(join(runs, '20260101-000000-0002', 'config.json'), '{}');
    symlinkSync('/etc/passwd', join(runs, '20260101-000000-0002', 'events.jsonl'));
    // not a run config
    mkdirSync(join(runs, '20260101-000000-0003'));
    writeFileSync(join(runs, '20260101-000000-0003', 'config.json'), '{"variant": 3}');
    writeFileSync(join(runs, '20260101-000000-0003', 'events.jsonl'), '');
    // a launch in progress: config written a moment ago, no events yet
    mkdirSync(join(runs, '20260101-000000-0004'));
    writeFileSync(
      join(runs, '20260101-000000-0004', 'config.json'),
      JSON.stringify({ variant: 'star', dataset: 'addition', preset: 'tiny', seed: 0, model: { name: 'm' } }),
    );
    // not a run directory name at all, and the bundle import's staging folder
    mkdirSync(join(runs, '.import-abc'));
    const r = await s.reindexRuns();
    if (!r.ok) throw new Error(r.message);
    expect(r.added).toEqual([]);
    const why = Object.fromEntries(r.skipped.map((x) => [x.id, x.reason]));
    expect(why['20260101-000000-0001']).toMatch(/is a symbolic link: not followed/);
    expect(why['20260101-000000-0002']).toMatch(/events\.jsonl is not a regular file/);
    expect(why['20260101-000000-0003']).toMatch(/config\.json is not a run config: variant is not a string/);
    expect(why['20260101-000000-0004']).toMatch(/is being created/);
    expect(Object.keys(why)).toHaveLength(4);
    expect(s.listRuns()).toEqual([]);
  });
});
