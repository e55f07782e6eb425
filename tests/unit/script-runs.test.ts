/**
 * Runs that scripts report themselves (starlab.init outside the lab), with the real Python SDK:
 * they appear live in a serving app, end as the script ends, are stopped by a signal to the
 * script alone, are never resumed or retried, come back from a reindex, and `starlab sync`
 * brings in runs written offline (again after they grew).
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { defaultDataDir, databasePath, runsDir } from '../../core/paths';
import { pidStartTime } from '../../core/process-info';
import { createService, type Service } from '../../core/service';
import { cleanupTempDirs, ev, REPO, RUN_START_FIELDS, tempDir, waitFor } from '../fixtures/helpers';

const PYTHON = join(REPO, 'experiments', '.venv', 'bin', 'python');
const PYENV = { PYTHONPATH: join(REPO, 'experiments'), PYTHONUNBUFFERED: '1' };

const open: Service[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const s of open.splice(0)) s.close();
});
afterAll(cleanupTempDirs);

function service(dataDir = tempDir()): Service {
  const s = createService({ dataDir, pollMs: 100, integrityCheck: false });
  open.push(s);
  return s;
}

/** A plain Python script, not launched by the lab; `gate` is a file it waits for before going on. */
function script(code: string, env: Record<string, string>, cwd = tempDir()): ChildProcess {
  const c = spawn(PYTHON, ['-c', code], { cwd, env: { ...process.env, ...PYENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  c.on('exit', (code) => {
    if (code) console.error(`script exited ${code}: ${err}`);
  });
  children.push(c);
  return c;
}

const exited = (c: ChildProcess) =>
  new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) return resolve({ code: c.exitCode, signal: c.signalCode });
    c.once('exit', (code, signal) => resolve({ code, signal }));
  });

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', ...args],
      { cwd: REPO, env: { ...process.env, ...env } },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/**
 * Forges the run directory of a script that announced itself, as the SDK writes it: run.json
 * whose script claim names this test process (its pid and start time), an empty config.json,
 * events.jsonl holding one run_start from `host` and `pid`, and the run's inbox entry. Returns
 * the events file.
 */
function forgeAnnouncedRun(dataDir: string, id: string, from: { name: string; host: string; pid: number }): string {
  const dir = join(runsDir(dataDir), id);
  mkdirSync(dir, { recursive: true });
  const script = { project: null, name: from.name, pid: process.pid, startTime: pidStartTime(process.pid) };
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ format: 1, id, createdAt: 1, group: null, retryOf: null, script }));
  writeFileSync(join(dir, 'config.json'), '{}');
  const events = join(dir, 'events.jsonl');
  writeFileSync(
    events,
    ev(1, 'run_start', { ...RUN_START_FIELDS, env: { ...RUN_START_FIELDS.env, host: from.host, pid: from.pid } }) + '\n',
  );
  mkdirSync(join(dataDir, 'inbox'));
  writeFileSync(join(dataDir, 'inbox', id), '');
  return events;
}

const GATED = (gate: string, steps: number) => `
import os, time, starlab
run = starlab.init(project="probe", name="lr 3e-4", config={"lr": 3e-4, "seed": 7, "dataset": "gsm8k"})
for i in range(${steps}):
    run.log({"train/loss": 1.0 / (i + 1)}, step=i)
while not os.path.exists(${JSON.stringify(gate)}):
    time.sleep(0.05)
for i in range(${steps}, ${2 * steps}):
    run.log({"train/loss": 1.0 / (i + 1)}, step=i)
run.finish()
`;

describe('a script that reports in (starlab.init)', () => {
  it('resolves the data directory as the app does', () => {
    const cases: [NodeJS.Platform, Record<string, string>][] = [
      ['linux', {}],
      ['linux', { XDG_DATA_HOME: '/xdg/data' }],
      ['linux', { XDG_DATA_HOME: 'relative/ignored' }],
      ['darwin', {}],
      ['win32', { APPDATA: 'C:\\Users\\r\\AppData\\Roaming' }],
    ];
    for (const [platform, env] of cases) {
      const py = execFileSync(
        PYTHON,
        [
          '-c',
          `import json, sys; from starlab import lab_dir; print(lab_dir.default_data_dir(json.loads(sys.argv[1]), sys.argv[2]))`,
          JSON.stringify(env),
          platform,
        ],
        { env: { ...process.env, ...PYENV, HOME: homedir() }, encoding: 'utf8' },
      ).trim();
      // path.join differs on win32 only in the separator, which the test machine's join uses for both
      expect(py, `${platform} ${JSON.stringify(env)}`).toBe(defaultDataDir(env, platform));
    }
  });

  it('appears live in a serving app, with its name and project, and completes with every point', async () => {
    const dataDir = tempDir();
    const s = service(dataDir);
    const gate = join(tempDir(), 'go');
    const child = script(GATED(gate, 300), { STARLAB_DATA_DIR: dataDir });
    const live = await waitFor(
      () => s.listRuns().find((r) => r.status === 'running' && (s.getMetricPoints(r.id, { name: 'train/loss' })?.total ?? 0) >= 300),
      30_000,
      'the script run, live, with its first 300 points',
    );
    expect(live).toMatchObject({ name: 'lr 3e-4', variant: 'script', dataset: 'gsm8k', seed: 7 });
    expect(s.listGroups().find((g) => g.id === live.groupId)?.name).toBe('probe');
    const detail = s.getRun(live.id)!;
    expect(detail.executor).toBe('script');
    expect(detail.config).toEqual({ lr: 3e-4, seed: 7, dataset: 'gsm8k' });
    expect(readdirSync(join(dataDir, 'inbox'))).toEqual([]); // the announcement was taken
    writeFileSync(gate, '');
    expect(await exited(child)).toEqual({ code: 0, signal: null });
    const done = await waitFor(() => (s.getRun(live.id)?.status === 'completed' ? s.getRun(live.id) : null), 20_000, 'completed');
    expect(done!.metricCounts['train/loss']).toBe(600);
  }, 60_000);

  it('is stopped by a signal to the script alone, and comes back from a reindex', async () => {
    const dataDir = tempDir();
    const s = service(dataDir);
    // the script shares this test process's process group: a signal to the group would end the test run
    const child = script(GATED(join(tempDir(), 'never'), 5), { STARLAB_DATA_DIR: dataDir });
    const live = await waitFor(() => s.listRuns().find((r) => r.status === 'running'), 30_000, 'the script run');
    expect(s.stopRun(live.id).ok).toBe(true);
    expect((await exited(child)).signal).toBe('SIGTERM');
    const stopped = await waitFor(() => (s.getRun(live.id)?.status === 'stopped' ? s.getRun(live.id) : null), 20_000, 'stopped');
    expect(stopped!.metricCounts['train/loss']).toBe(5);
    // the lab never runs it again: there is no lab experiment behind it
    expect(await s.resumeRun(live.id)).toMatchObject({ ok: false, message: expect.stringContaining('reported by a script') });
    expect(s.retryRun(live.id)).toMatchObject({ ok: false, message: expect.stringContaining('reported by a script') });
    s.close();

    rmSync(databasePath(dataDir));
    const again = service(dataDir);
    const r = await again.reindexRuns();
    expect(r).toMatchObject({ ok: true, added: [live.id] });
    expect(again.getRun(live.id)).toMatchObject({ name: 'lr 3e-4', executor: 'script', groupId: live.groupId, status: 'failed' });
    expect(again.getRun(live.id)!.metricCounts['train/loss']).toBe(5);
  }, 60_000);

  it("takes a run.json naming a live process for a claim: the process must hold the run's events file", async () => {
    const dataDir = tempDir();
    const id = '20261207-120000-f00d';
    // this test process: alive, its start time right, but it is not writing the run
    forgeAnnouncedRun(dataDir, id, { name: 'forged', host: hostname(), pid: process.pid });
    const s = service(dataDir);
    const run = await waitFor(() => s.getRun(id), 10_000, 'the announced run');
    expect(run.status).not.toBe('running');
    expect(s.getRun(id)!.pid).toBeNull();
    expect(s.stopRun(id).ok).toBe(false);
  });

  it('follows a script on another machine by its heartbeat, and never signals a pid there', async () => {
    const dataDir = tempDir();
    const id = '20261207-120000-beef';
    // a compute node sharing the data directory: its pid means nothing here
    const events = forgeAnnouncedRun(dataDir, id, { name: 'remote', host: 'node-17', pid: 4242 });
    const s = service(dataDir);
    const run = await waitFor(() => s.getRun(id), 10_000, 'the announced run');
    expect(run).toMatchObject({ status: 'running', pid: null });
    expect(s.stopRun(id).ok).toBe(false); // nothing here to signal
    // it falls silent (no heartbeat for longer than the lab waits): the run ends as its events say
    const old = Date.now() / 1000 - 120;
    utimesSync(events, old, old);
    const ended = await waitFor(() => (s.getRun(id)?.status !== 'running' ? s.getRun(id) : null), 10_000, 'the silent run to end');
    expect(ended!.status).toBe('failed');
  });

  it('`starlab list` adopts announced runs without a serving app', async () => {
    const dataDir = tempDir();
    const child = script(`import starlab\nr = starlab.init(name="cli probe")\nr.log({"x": 1.0})\nr.finish()`, {
      STARLAB_DATA_DIR: dataDir,
    });
    expect((await exited(child)).code).toBe(0);
    const r = await cli(['list', '--json', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([expect.objectContaining({ name: 'cli probe', status: 'completed', variant: 'script' })]);
  }, 60_000);
});

describe('starlab sync', () => {
  it('brings in an offline run, then what it wrote since, and refuses what is not a continuation', async () => {
    const dataDir = tempDir();
    const work = tempDir();
    const gate = join(work, 'go');
    const child = script(GATED(gate, 50), { STARLAB_MODE: 'offline', STARLAB_DATA_DIR: dataDir }, work);
    const offline = join(work, 'starlab-runs');
    await waitFor(() => existsSync(offline) && readdirSync(offline).length === 1, 30_000, 'the offline run directory');
    const id = readdirSync(offline)[0]!;
    expect(existsSync(join(dataDir, 'inbox'))).toBe(false); // offline: nothing announced to the lab
    // the run directory comes first, its events file a moment later
    const events = join(offline, id, 'events.jsonl');
    await waitFor(() => existsSync(events) && readFileSync(events, 'utf8').split('\n').length > 50, 10_000, 'its first 50 steps');

    let r = await cli(['sync', offline, '--json', '--data-dir', dataDir]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ added: [id] });
    const s = service(dataDir);
    expect(s.getRun(id)).toMatchObject({ status: 'failed', name: 'lr 3e-4' }); // no run_end yet: not finished
    s.close();

    writeFileSync(gate, '');
    expect((await exited(child)).code).toBe(0);
    r = await cli(['sync', join(offline, id), '--json', '--data-dir', dataDir]);
    expect(JSON.parse(r.stdout)).toMatchObject({ updated: [{ id }] });
    const after = service(dataDir).getRun(id)!;
    expect(after.status).toBe('completed');
    expect(after.metricCounts['train/loss']).toBe(100);
    r = await cli(['sync', offline, '--json', '--data-dir', dataDir]);
    expect(JSON.parse(r.stdout)).toMatchObject({ unchanged: [id] });

    // a copy whose history differs is not synced over the lab's
    const forged = join(tempDir(), id);
    mkdirSync(forged);
    writeFileSync(join(forged, 'events.jsonl'), '{"v":1,"seq":1,"t":1,"type":"run_start","config":{},"env":{},"hashes":{}}\n'.repeat(300));
    r = await cli(['sync', forged, '--json', '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).skipped[0].reason).toMatch(/not a continuation/);
  }, 90_000);

  it('makes a run of an events file written with events_path, and never reads through a link', async () => {
    const dataDir = tempDir();
    const dir = join(tempDir(), '20261201-120000-abcd');
    const child = script(
      `import starlab\nr = starlab.init(config={"k": 1}, events_path=${JSON.stringify(join(dir, 'events.jsonl'))})\nr.log({"x": 2.0}, step=3)\nr.finish()`,
      {},
    );
    expect((await exited(child)).code).toBe(0);
    let r = await cli(['sync', dir, '--json', '--data-dir', dataDir]);
    expect(JSON.parse(r.stdout)).toMatchObject({ added: ['20261201-120000-abcd'] });
    const run = service(dataDir).getRun('20261201-120000-abcd')!;
    expect(run).toMatchObject({ status: 'completed', executor: 'script', config: { k: 1 } });

    const linked = join(tempDir(), '20261201-120000-beef');
    mkdirSync(linked);
    const secret = join(tempDir(), 'secret.txt');
    writeFileSync(secret, 'not an event\n');
    symlinkSync(secret, join(linked, 'events.jsonl'));
    r = await cli(['sync', linked, '--json', '--data-dir', dataDir]);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout).skipped).toHaveLength(1);
    expect(existsSync(join(runsDir(dataDir), '20261201-120000-beef'))).toBe(false);
  }, 60_000);
});
