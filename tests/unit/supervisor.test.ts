import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createService, type Service, type ServiceOptions } from '../../core/service';
import { isAlive, pidStartTime } from '../../core/process-info';
import { openDatabase } from '../../db/open';
import { eventCount } from '../../db/event-gate';
import { insertRun } from '../../db/queries';
import { clearPythonCheckCache } from '../../core/python-check';
import { cleanupTempDirs, ev, FAKE_PYTHON, fakeCommand, REPO, RUN_START_FIELDS, SPEC, tempDir, waitFor } from '../fixtures/helpers';

const open: Service[] = [];
const pids: number[] = [];
function service(o: Partial<ServiceOptions> & { dataDir: string }): Service {
  const s = createService({ pollMs: 100, ...o });
  open.push(s);
  return s;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  for (const pid of pids.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});
afterAll(cleanupTempDirs);

async function launch(s: Service, overrides?: Record<string, string>): Promise<string> {
  const r = await s.launchRun({ ...SPEC, seed: 3, overrides });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  const pid = s.getRun(r.id)?.pid;
  if (pid) pids.push(pid);
  return r.id;
}

/** The message a refused launch gives: {ok: false} errors, or the preflight's exception. */
async function refusal(s: Service): Promise<string> {
  try {
    const r = await s.launchRun({ ...SPEC });
    if (r.ok) throw new Error(`launched ${r.id}`);
    expect(r.errors[0]!.field).toBe('python');
    return r.errors[0]!.message;
  } catch (e) {
    expect((e as Error).name).toBe('PythonPreflightError');
    return (e as Error).message;
  }
}

/** Pids of live processes whose environment has key=value (read from /proc). */
function processesWithEnv(key: string, value: string): number[] {
  const found: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const env = readFileSync(`/proc/${p}/environ`, 'utf8').split('\0');
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      if (env.includes(`${key}=${value}`) && !/^\d+ \(.*\) [ZX]/.test(stat)) found.push(Number(p));
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

const metricCount = (s: Service, id: string) =>
  (s.db.prepare('SELECT count(*) AS n FROM metrics WHERE run_id = ?').get(id) as { n: number }).n;

describe('supervisor', () => {
  it('runs an experiment to completion and ingests its events', async () => {
    const s = service({ dataDir: tempDir(), commandFor: fakeCommand('complete') });
    const changed: string[][] = [];
    s.on('runsChanged', (p) => changed.push(p.ids));
    const id = await launch(s, { 'loop.iterations': '2' });
    expect(id).toMatch(/^\d{8}-\d{6}-[0-9a-f]{4}$/);
    const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
    expect(d.status).toBe('completed');
    expect(d.statusReason).toBeNull();
    expect(d.exitCode).toBe(0);
    expect(d.seed).toBe(3);
    expect((d.config as { loop: { iterations: number } }).loop.iterations).toBe(2);
    expect(d.metrics['eval/accuracy']).toHaveLength(2);
    expect(d.latestAccuracy).toBeCloseTo(0.6);
    expect(d.env?.run_id).toBe(id);
    // never the run directory: `python -m` would import code planted there (see python-integration.test.ts)
    expect(d.env?.cwd).toBe(join(REPO, 'experiments'));
    expect(d.artifacts).toHaveLength(1);
    expect(s.getSamples(id, { iteration: 1 })).toHaveLength(2);
    const logs = s.getLogs(id, {});
    expect(logs.some((l) => l.source === 'stdout' && /fake experiment complete/.test(l.message))).toBe(true);
    expect(logs.at(-1)).toMatchObject({ source: 'supervisor', message: 'run completed' });
    expect(s.getLogs(id, { afterId: logs.at(-2)!.id })).toHaveLength(1);
    expect(changed.flat()).toContain(id);
  });

  it('marks a crashed experiment failed with the exit code and the stderr tail', async () => {
    const s = service({ dataDir: tempDir(), commandFor: fakeCommand('fail') });
    const id = await launch(s);
    const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
    expect(d.status).toBe('failed');
    expect(d.statusReason).toBe('exited with code 1');
    expect(d.exitCode).toBe(1);
    expect(d.stderrTail).toMatch(/ValueError: boom/);
    expect(d.metrics['eval/accuracy']).toHaveLength(1);
    expect(s.getLogs(id, {}).some((l) => l.source === 'stderr' && l.message === 'ValueError: boom')).toBe(true);
  });

  it("takes the run_end event's status and error", async () => {
    const s = service({ dataDir: tempDir(), commandFor: fakeCommand('fail-end') });
    const id = await launch(s);
    const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
    expect(d.status).toBe('failed');
    expect(d.statusReason).toBe('ValueError: boom');
  });

  it('stops a run with SIGTERM (the experiment reports stopped)', async () => {
    const s = service({ dataDir: tempDir(), commandFor: fakeCommand('hang') });
    const id = await launch(s);
    await waitFor(() => s.getRun(id)!.lastEventAt, 5000, 'first events');
    const r = s.stopRun(id);
    expect(r.ok).toBe(true);
    const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
    expect(d.status).toBe('stopped');
    expect(s.stopRun(id).ok).toBe(false);
    expect(s.stopRun('no-such-run')).toEqual({ ok: false, message: 'no run "no-such-run"' });
  });

  it('escalates to SIGKILL after the grace period', async () => {
    const s = service({ dataDir: tempDir(), commandFor: fakeCommand('stubborn'), stopGraceMs: 300 });
    const id = await launch(s);
    await waitFor(() => s.getRun(id)!.lastEventAt, 5000, 'first events');
    s.stopRun(id);
    const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
    expect(d.status).toBe('stopped');
    expect(d.signal).toBe('SIGKILL');
    expect(d.statusReason).toMatch(/SIGKILL/);
    expect(s.getLogs(id, {}).some((l) => l.level === 'warning' && /SIGKILL/.test(l.message))).toBe(true);
  });

  it('detects a SIGKILLed experiment and fails it within 5 s', async () => {
    const s = service({ dataDir: tempDir(), commandFor: fakeCommand('hang'), pollMs: 250 });
    const id = await launch(s);
    await waitFor(() => s.getRun(id)!.lastEventAt, 5000, 'first events');
    const pid = s.getRun(id)!.pid!;
    const t0 = Date.now();
    process.kill(pid, 'SIGKILL');
    await waitFor(() => s.getRun(id)!.status !== 'running', 5000, 'finalisation');
    expect(Date.now() - t0).toBeLessThan(5000);
    const d = s.getRun(id)!;
    expect(d.status).toBe('failed');
    expect(d.statusReason).toBe('killed by SIGKILL');
  });

  it('re-attaches to a live run after a restart and finalises it when it dies, without duplicates', async () => {
    const dataDir = tempDir();
    const a = service({ dataDir, commandFor: fakeCommand('hang') });
    const id = await launch(a);
    await waitFor(() => a.getRun(id)!.metrics['eval/accuracy'], 5000, 'metrics');
    const pid = a.getRun(id)!.pid!;
    a.close(); // the experiment keeps running
    expect(isAlive(pid)).toBe(true);

    const b = service({ dataDir });
    const changes: string[] = [];
    b.on('runsChanged', (p) => changes.push(...p.ids));
    expect(b.getRun(id)!.status).toBe('running'); // re-attached
    expect(b.getLogs(id, {}).some((l) => l.source === 'supervisor' && /re-attached/.test(l.message))).toBe(true);
    const seen = b.getRun(id)!.lastEventAt!;
    await waitFor(() => b.getRun(id)!.lastEventAt! > seen, 5000, 'heartbeats ingested by B');
    expect(changes).toContain(id);
    process.kill(pid, 'SIGKILL');
    await waitFor(() => b.getRun(id)!.status !== 'running', 5000, 'finalisation by B');
    const d = b.getRun(id)!;
    expect(d.status).toBe('failed');
    expect(d.statusReason).toBe('process disappeared without a run_end event');
    expect(metricCount(b, id)).toBe(2); // one metrics event with two values, not duplicated
    const n = (b.db.prepare("SELECT count(*) AS n FROM logs WHERE run_id = ? AND message = 'iteration 0 done'").get(id) as { n: number }).n;
    expect(n).toBe(1);
  });

  it('notices runs launched and finished by another process', async () => {
    const dataDir = tempDir();
    const watcher = service({ dataDir });
    const seen = new Set<string>();
    watcher.on('runsChanged', (p) => p.ids.forEach((i) => seen.add(i)));
    const cli = service({ dataDir, watch: false, commandFor: fakeCommand('complete') });
    const id = await launch(cli);
    await cli.waitForRun(id, { timeoutMs: 10_000 });
    await waitFor(() => seen.has(id), 3000, 'runsChanged from the watcher');
    expect(watcher.getRun(id)!.status).toBe('completed');
  });

  it('reconciles a dead run on open: ingests what is left and finalises it', async () => {
    const dataDir = tempDir();
    const db = openDatabase(join(dataDir, 'starlab.db'));
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.on('exit', r));
    const mk = (id: string, lines: string[]) => {
      const runDir = join(dataDir, 'runs', id);
      mkdirSync(runDir, { recursive: true });
      writeFileSync(join(runDir, 'events.jsonl'), lines.join('\n') + '\n');
      writeFileSync(join(runDir, 'stderr.log'), 'Killed\n');
      insertRun(db, {
        id,
        variant: 'star',
        dataset: 'addition',
        preset: 'tiny',
        seed: 0,
        model: 'm',
        config_json: '{}',
        config_hash: 'h',
        status: 'running',
        created_at: 1,
        started_at: 1,
        run_dir: runDir,
        pid: dead.pid!,
        pid_start_time: 12345,
      });
    };
    mk('lost', [ev(1, 'run_start', RUN_START_FIELDS), ev(2, 'metrics', { iteration: 0, step: 0, values: { 'eval/accuracy': 0.1 } })]);
    mk('finished', [ev(1, 'run_start', RUN_START_FIELDS), ev(2, 'run_end', { status: 'completed' })]);
    // its spawner saw it exit with code 3 and closed before finalising (a backlog was unread)
    mk('exited', [ev(1, 'run_start', RUN_START_FIELDS)]);
    db.prepare("UPDATE runs SET exit_code = 3 WHERE id = 'exited'").run();
    db.close();

    const s = service({ dataDir, watch: false });
    expect(s.reconcile().sort()).toEqual(['exited', 'finished', 'lost']);
    expect(s.getRun('exited')).toMatchObject({ status: 'failed', statusReason: 'exited with code 3', exitCode: 3 });
    const lost = s.getRun('lost')!;
    expect(lost.status).toBe('failed');
    expect(lost.statusReason).toBe('process disappeared without a run_end event');
    expect(lost.stderrTail).toBe('Killed\n');
    expect(lost.metrics['eval/accuracy']).toHaveLength(1);
    expect(s.getRun('finished')!.status).toBe('completed');
    expect(s.reconcile()).toEqual([]);
  });

  it('after a restart, a dead run with a big backlog is ingested by the ticks, not while starting', async () => {
    const dataDir = tempDir();
    const db = openDatabase(join(dataDir, 'starlab.db'));
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((r) => dead.on('exit', r));
    const runDir = join(dataDir, 'runs', 'big');
    mkdirSync(runDir, { recursive: true });
    const lines = [ev(1, 'run_start', RUN_START_FIELDS)];
    for (let i = 2; i <= 3000; i++) lines.push(ev(i, 'metrics', { iteration: 0, step: i, values: { 'train/loss': 1 / i } }));
    writeFileSync(join(runDir, 'events.jsonl'), lines.join('\n') + '\n');
    insertRun(db, {
      id: 'big',
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 0,
      model: 'm',
      config_json: '{}',
      config_hash: 'h',
      status: 'running',
      created_at: 1,
      started_at: 1,
      run_dir: runDir,
      pid: dead.pid!,
      pid_start_time: 12345,
    });
    db.close();
    const s = service({ dataDir, pollMs: 50 });
    // starting took one batch; the rest comes in the ticks
    expect(s.getRun('big')!.status).toBe('running');
    expect(metricCount(s, 'big')).toBeLessThan(3000);
    const d = await waitFor(() => (s.getRun('big')!.status !== 'running' ? s.getRun('big') : null), 20_000, 'the run to be finalised');
    expect(d!.status).toBe('failed');
    expect(d!.statusReason).toBe('process disappeared without a run_end event');
    expect(metricCount(s, 'big')).toBe(2999);
  });

  it('starts the default command <python> -m starlab run --config with PYTHONPATH', async () => {
    const s = service({ dataDir: tempDir(), pythonPath: FAKE_PYTHON });
    expect(s.getSettings().pythonPath).toBe(FAKE_PYTHON);
    const id = await launch(s);
    const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
    expect(d.status).toBe('completed');
    expect(String(d.env?.pythonpath).split(':')[0]).toMatch(/experiments$/);
    expect((d.config as { seed: number }).seed).toBe(3);
    expect(pidStartTime(process.pid)).toEqual(expect.any(Number));
  });

  it('refuses invalid configs and a missing interpreter before anything starts', async () => {
    const dataDir = tempDir();
    const s = service({ dataDir, pythonPath: join(dataDir, 'no-python') });
    const bad = await s.launchRun({ ...SPEC, overrides: { 'loop.lr': '-1', 'nope.x': '1' } });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.errors.map((e) => e.field)).toEqual(['overrides.nope.x']);
    const bad2 = await s.launchRun({ ...SPEC, overrides: { 'loop.lr': '-1' } });
    expect(bad2.ok).toBe(false);
    if (!bad2.ok) expect(bad2.errors[0]!.field).toBe('loop.lr');
    const noPy = await s.launchRun({ ...SPEC });
    expect(noPy).toEqual({ ok: false, errors: [{ field: 'python', message: expect.stringMatching(/not found/) }] });
    expect(s.listRuns()).toEqual([]);
    expect(s.validateLaunch({ ...SPEC, seed: 1 }).ok).toBe(true);
    // the setting takes absolute paths only; a bare name still reaches a launch from the host's option
    expect(await s.setPythonPath('definitely-not-a-python-binary-xyz')).toEqual({
      ok: false,
      errors: [{ field: 'pythonPath', message: expect.stringMatching(/must be an absolute path/) }],
    });
    const bare = service({ dataDir: tempDir(), pythonPath: 'definitely-not-a-python-binary-xyz' });
    expect(await refusal(bare)).toBe(
      'Python interpreter not found: definitely-not-a-python-binary-xyz (not found on PATH; set it in Settings or $STARLAB_PYTHON)',
    );
    expect(s.listRuns()).toEqual([]);
    expect(bare.listRuns()).toEqual([]);
  });

  describe('the interpreter preflight (fake-python answers the check)', () => {
    const saved = { ...process.env };
    beforeEach(() => clearPythonCheckCache());
    afterEach(() => {
      for (const k of ['STARLAB_FAKE_PY_VERSION', 'STARLAB_FAKE_PY_MISSING']) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
      clearPythonCheckCache();
    });

    it('refuses a launch on Python 3.9 before anything is created', async () => {
      process.env.STARLAB_FAKE_PY_VERSION = '3.9.2';
      const s = service({ dataDir: tempDir(), pythonPath: FAKE_PYTHON });
      expect(await refusal(s)).toBe(
        `Python interpreter ${FAKE_PYTHON} is 3.9.2; STaR Lab needs Python >= 3.10 (set it in Settings or $STARLAB_PYTHON)`,
      );
      expect(s.listRuns()).toEqual([]);
    });

    it('refuses a launch when torch cannot be imported, naming the pip command', async () => {
      process.env.STARLAB_FAKE_PY_MISSING = 'torch';
      const s = service({ dataDir: tempDir(), pythonPath: FAKE_PYTHON });
      expect(await refusal(s)).toBe(
        `Python interpreter ${FAKE_PYTHON} (3.11.0) cannot import torch (ModuleNotFoundError: No module named 'torch'): ` +
          `install the experiment requirements: ${FAKE_PYTHON} -m pip install -r ${join(REPO, 'experiments', 'requirements.txt')}`,
      );
    });

    it('fails queued runs with the reason instead of starting them', async () => {
      process.env.STARLAB_FAKE_PY_VERSION = '3.8.10';
      const s = service({ dataDir: tempDir(), pythonPath: FAKE_PYTHON });
      const g = s.createAblation({ variants: ['star'], datasets: ['addition'], preset: 'tiny', seeds: [1, 2] });
      if (!g.ok) throw new Error(JSON.stringify(g.errors));
      await waitFor(() => g.runs.every((id) => s.getRun(id)!.status === 'failed'), 10_000, 'queued runs failed');
      for (const id of g.runs)
        expect(s.getRun(id)!.statusReason).toMatch(/^not started: Python interpreter .* is 3\.8\.10; STaR Lab needs Python >= 3\.10/);
    });
  });

  it('says when the experiment was SIGKILLed mid-line, and ingests every complete line', async () => {
    const s = service({ dataDir: tempDir(), commandFor: fakeCommand('partial') });
    const id = await launch(s);
    const d0 = await waitFor(() => s.getRun(id)!.metrics['eval/accuracy'] && s.getRun(id), 5000, 'first iteration');
    const file = join(d0.runDir, 'events.jsonl');
    await waitFor(() => !readFileSync(file, 'utf8').endsWith('\n'), 5000, 'the torn line');
    const text = readFileSync(file, 'utf8');
    const torn = Buffer.byteLength(text.slice(text.lastIndexOf('\n') + 1));
    process.kill(d0.pid!, 'SIGKILL');
    const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
    expect(d.status).toBe('failed');
    expect(d.statusReason).toBe(
      `killed by SIGKILL; events.jsonl ends with an incomplete line of ${torn} bytes (the writer died mid-line; not ingested)`,
    );
    const n = eventCount(s.db, id);
    expect(n).toBe(text.split('\n').length - 1); // run_start + 7 events of iteration 0
    expect(n).toBe(8);
  });

  it('says when the experiment was killed before its first event', async () => {
    const s = service({ dataDir: tempDir(), commandFor: fakeCommand('silent') });
    const id = await launch(s);
    await waitFor(() => s.getLogs(id, {}).some((l) => l.source === 'stdout'), 5000, 'the process to start');
    process.kill(s.getRun(id)!.pid!, 'SIGKILL');
    const d = (await s.waitForRun(id, { timeoutMs: 10_000 }))!;
    expect(d.status).toBe('failed');
    expect(d.statusReason).toBe('killed by SIGKILL; no event was written (there is no events.jsonl)');
  });

  it('refuses a launch while another process holds the database locked, starting nothing', async () => {
    const dataDir = tempDir();
    const s = service({ dataDir, commandFor: fakeCommand('hang') });
    s.db.pragma('busy_timeout = 300'); // the production 5 s, shortened for the test
    const locker = new Database(join(dataDir, 'starlab.db'));
    locker.exec('BEGIN EXCLUSIVE');
    let message: string;
    try {
      const r = await s.launchRun({ ...SPEC, seed: 3 });
      // core/service.ts may turn the error into a refusal (like the preflight's)
      if (r.ok) throw new Error(`launched ${r.id}`);
      expect(r.errors[0]!.field).toBe('database');
      message = r.errors[0]!.message;
    } catch (e) {
      expect((e as Error).name).toBe('DatabaseLockedError');
      message = (e as Error).message;
    } finally {
      locker.exec('COMMIT');
      locker.close();
    }
    expect(message).toMatch(/^the database is locked by another process \(database is locked: .*\); nothing was started/);
    // no row, no run directory, no process (an experiment spawned before the row would be an orphan)
    expect(s.listRuns()).toEqual([]);
    const runs = join(dataDir, 'runs');
    expect(existsSync(runs) ? readdirSync(runs) : []).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(processesWithEnv('STARLAB_DATA_DIR', dataDir)).toEqual([]);
    // with the lock gone the same launch goes through
    const id = await launch(s);
    expect(s.getRun(id)!.status).toBe('running');
    expect(processesWithEnv('STARLAB_DATA_DIR', dataDir)).toEqual([s.getRun(id)!.pid]);
  });

  it('ingests a big backlog in bounded batches, letting the event loop run, and finalises after the last event', async () => {
    const dataDir = tempDir();
    const s = service({ dataDir, commandFor: fakeCommand('flood', { STARLAB_FAKE_EVENTS: '6000', STARLAB_FAKE_PACE_MS: '0' }) });
    const id = await launch(s);
    // Sampled between event-loop turns: a synchronous drain would show one or two counts.
    const seen = new Set<number>();
    const count = () => eventCount(s.db, id);
    const lastSeq = s.db.prepare('SELECT last_seq FROM ingest_cursors WHERE run_id = ?').pluck();
    const status = s.db.prepare('SELECT status FROM runs WHERE id = ?').pluck();
    while (status.get(id) === 'running') {
      seen.add((lastSeq.get(id) as number | null) ?? 0);
      await new Promise((r) => setImmediate(r));
    }
    const d = s.getRun(id)!;
    expect(d.status).toBe('completed');
    expect(d.exitCode).toBe(0);
    const written = readFileSync(join(d.runDir, 'events.jsonl'), 'utf8').trim().split('\n').length;
    expect(written).toBe(6002); // run_start + 6000 + run_end
    expect(count()).toBe(written);
    expect(seen.size).toBeGreaterThan(10);
    expect(s.getLogs(id, {}).filter((l) => l.source === 'supervisor' && l.message === 'run completed')).toHaveLength(1);
  });

  it('provides the catalog and settings', async () => {
    const s = service({ dataDir: tempDir(), watch: false, stopGraceMs: 1234 });
    const c = s.catalog();
    expect(c.variants.map((v) => v.id)).toContain('star');
    expect(c.datasets.map((d) => d.id)).toEqual(['addition', 'gsm8k', 'commonsenseqa', 'pair-sum']);
    expect(c.presets).toEqual(expect.arrayContaining(['tiny', 'paper']));
    expect((c.defaults.star!.addition!.tiny as { model: { name: string } }).model.name).toBe('tiny-llama');
    expect(s.getSettings().stopGraceMs).toBe(1234);
    expect(await s.setPythonPath(FAKE_PYTHON)).toEqual({ ok: true, settings: expect.objectContaining({ pythonPath: FAKE_PYTHON }) });
    expect(s.getSettings().pythonPath).toBe(FAKE_PYTHON);
  });
});
