/**
 * Fault family 5 (issue 13): nothing is deleted before what replaces it is in place, and the
 * follower of `launch --wait` outlives a lock and a full disk.
 * - a resume whose checkpoint fails to load: every row as before;
 * - the database emptied under a data dir, then `reindex`: every run back;
 * - a lock held 20 s by another process during `starlab launch --wait`: the follower survives;
 * - a full disk during `starlab launch --wait`: the exit code and the reason are kept.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createService } from '../../core/service';
import { MICRO_STAR } from '../../tests/fixtures/micro-star';
import {
  eventsFilesOf,
  FAKE_PYTHON,
  faultRow,
  killRunsOf,
  lockDatabase,
  measure,
  mountTmpfs,
  ROOT,
  type Row,
  runsOf,
  Server,
  supervisorLogs,
  tempDir,
  VENV_PYTHON,
  waitFor,
  writtenSeqs,
} from './lib';

const SPEC = { variant: 'star', dataset: 'addition', preset: 'tiny' } as const;

/** Rows a resume could drop: every per-iteration table of one run. */
function rowCounts(dbFile: string, id: string): Record<string, number> {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    const n = (t: string) => (db.prepare(`SELECT count(*) AS n FROM ${t} WHERE run_id = ?`).get(id) as { n: number }).n;
    return {
      metrics: n('metrics'),
      samples: n('samples'),
      phases: n('phases'),
      artifacts: n('artifacts'),
      question_outcomes: n('question_outcomes'),
    };
  } finally {
    db.close();
  }
}

/**
 * A real STaR run stopped after its first checkpoint, inside a later iteration; its checkpoint's
 * weight files are then damaged (cut to half), so the resumed process fails while loading it.
 * Nothing may be dropped: rows before = rows after, and the run's status and reason are back.
 * It gets iterations to spare: on a loaded machine a short run could end between two polls.
 */
export async function resumeFailsToLoad(): Promise<Row> {
  const fault = 'resume whose checkpoint fails to load';
  const dataDir = tempDir();
  const dbFile = join(dataDir, 'starlab.db');
  const s = createService({ dataDir, pythonPath: VENV_PYTHON, pollMs: 100, stopGraceMs: 20_000 });
  try {
    const r = await s.launchRun({
      ...SPEC,
      seed: 1,
      overrides: { ...MICRO_STAR, 'loop.iterations': '12', 'loop.base_steps': '60', 'loop.step_growth': '1' },
    });
    if (!r.ok) throw new Error(`launch refused: ${JSON.stringify(r.errors)}`);
    const id = r.id;
    await waitFor(
      () => {
        const d = s.getRun(id);
        if (!d || d.status !== 'running') throw new Error(`run ended early: ${d?.status} ${d?.statusReason} ${d?.stderrTail}`);
        return (d.checkpointIteration ?? 0) >= 1 && (d.currentIteration ?? 0) > d.checkpointIteration!;
      },
      180_000,
      'the run to be past its first checkpoint',
    );
    s.stopRun(id);
    const stopped = (await s.waitForRun(id, { timeoutMs: 60_000 }))!;
    const before = { rows: rowCounts(dbFile, id), status: stopped.status, reason: stopped.statusReason };
    const ck = join(stopped.runDir, 'checkpoint');
    const damaged = readdirSync(ck, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name !== 'state.json');
    for (const f of damaged) {
      const p = join(f.parentPath, f.name);
      truncateSync(p, Math.floor(statSync(p).size / 2));
    }
    const res = await s.resumeRun(id);
    if (!res.ok) return faultRow(fault, 1, 0, { ingested: 0, duplicates: 0, lost: 0 }, [`resume refused: ${res.message}`], '');
    const d = (await s.waitForRun(id, { timeoutMs: 120_000 }))!;
    const after = { rows: rowCounts(dbFile, id), status: d.status, reason: d.statusReason };
    const file = join(d.runDir, 'events.jsonl');
    const seqs = writtenSeqs(file);
    const m = measure(dbFile, new Map([[id, seqs]]));
    const problems: string[] = [];
    if (JSON.stringify(after) !== JSON.stringify(before)) problems.push(`before ${JSON.stringify(before)}, after ${JSON.stringify(after)}`);
    const log = supervisorLogs(dbFile, id).find((l) => l.startsWith('resume failed before the checkpoint was loaded'));
    if (!log) problems.push('no log line says the resume failed');
    const total = Object.values(before.rows).reduce((a, b) => a + b, 0);
    return faultRow(
      fault,
      1,
      seqs.length,
      m,
      problems,
      `${damaged.length} checkpoint file(s) cut; ${total} rows before = after (metrics ${before.rows.metrics}, samples ${before.rows.samples}); still ${d.status}, "${d.statusReason}"; logged "${log?.slice(0, 140)}…"`,
    );
  } finally {
    s.close();
    killRunsOf(dataDir);
  }
}

/**
 * Runs of every ending (completed, failed, stopped; two in an ablation group) under a server;
 * the server stopped, starlab.db removed; `starlab check` must report the run directories, and
 * after a restart Reindex (over HTTP) must put every run back: same statuses, every written
 * event in the (run, seq) gate once.
 */
export async function databaseEmptiedThenReindex(): Promise<Row> {
  const fault = 'database emptied, then reindex';
  const dataDir = tempDir();
  const dbFile = join(dataDir, 'starlab.db');
  const env = {
    STARLAB_PYTHON: FAKE_PYTHON,
    STARLAB_FAKE_MODE: 'flood',
    STARLAB_FAKE_EVENTS: '2000',
    STARLAB_FAKE_MODE_SEED_2: 'fail',
    STARLAB_FAKE_MODE_SEED_3: 'hang',
  };
  const server = new Server(dataDir, env);
  try {
    await server.start();
    await server.cmd('setQueueSettings', { maxConcurrent: 4, gpuSlots: [] });
    const ids: string[] = [];
    for (const seed of [1, 2, 3]) {
      const r = await server.cmd<{ ok: boolean; id?: string }>('launchRun', { ...SPEC, seed });
      if (!r.ok || !r.id) throw new Error(`launch refused: ${JSON.stringify(r)}`);
      ids.push(r.id);
    }
    const g = await server.cmd<{ ok: boolean; id: string; runs: string[] }>('createAblation', {
      variants: ['star'],
      datasets: ['addition'],
      seeds: [4, 5],
      preset: 'tiny',
    });
    ids.push(...g.runs);
    await waitFor(() => runsOf(dbFile).find((r) => r.id === ids[2])?.pid, 20_000, 'the hanging run to start');
    await server.cmd('stopRun', ids[2]);
    await waitFor(
      () =>
        runsOf(dbFile)
          .filter((r) => ids.includes(r.id))
          .every((r) => !['running', 'queued'].includes(r.status)),
      90_000,
      'every run to end',
    );
    const before = new Map(runsOf(dbFile).map((r) => [r.id, r.status]));
    await server.stop();
    for (const f of ['', '-wal', '-shm']) rmSync(dbFile + f, { force: true });

    const check = (() => {
      try {
        execFileSync(process.execPath, ['--import', 'tsx', 'cli/main.ts', 'check', '--json', '--data-dir', dataDir], {
          cwd: ROOT,
          stdio: 'pipe',
        });
        return { code: 0, out: '' };
      } catch (e) {
        return { code: (e as { status: number }).status, out: String((e as { stdout: Buffer }).stdout) };
      }
    })();
    const reported = check.code === 1 ? ((JSON.parse(check.out) as { unindexedRuns: string[] }).unindexedRuns ?? []).length : 0;

    await server.start();
    const empty = (await server.cmd<unknown[]>('listRuns')).length;
    const r = await server.cmd<{
      ok: boolean;
      added: string[];
      skipped: unknown[];
      groupsAdded: string[];
      seconds: number;
      message?: string;
    }>('reindexRuns');
    if (!r.ok) throw new Error(`reindex: ${r.message}`);
    const files = eventsFilesOf(dataDir);
    const expected = new Map(ids.map((id) => [id, writtenSeqs(files.get(id)!)]));
    const m = measure(dbFile, expected, new Map(ids.map((id) => [id, files.get(id)!])));
    const problems = [...m.mismatches];
    const after = new Map(runsOf(dbFile).map((x) => [x.id, x.status]));
    for (const id of ids)
      if (after.get(id) !== before.get(id)) problems.push(`${id}: ${before.get(id)} before, ${after.get(id) ?? 'missing'} after`);
    if (reported !== ids.length) problems.push(`check reported ${reported} of ${ids.length} run directories (exit ${check.code})`);
    if (empty !== 0) problems.push(`the emptied database listed ${empty} runs`);
    if (r.groupsAdded.length !== 1) problems.push(`groups put back: ${r.groupsAdded.length}`);
    if (r.skipped.length) problems.push(`skipped: ${JSON.stringify(r.skipped)}`);
    return faultRow(
      fault,
      ids.length,
      [...expected.values()].reduce((a, x) => a + x.length, 0),
      m,
      problems,
      `check reported ${reported} unknown run dirs; reindex put back ${r.added.length} runs (${[...new Set(after.values())].sort().join('/')}) and 1 group in ${r.seconds.toFixed(1)} s`,
    );
  } finally {
    await server.stop();
    killRunsOf(dataDir);
  }
}

/** `starlab launch … --wait` as its own process, its output collected. */
function launchWait(dataDir: string, env: Record<string, string>) {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'cli/main.ts',
      'launch',
      '--variant',
      'star',
      '--dataset',
      'addition',
      '--preset',
      'tiny',
      '--seed',
      '1',
      '--wait',
      '--data-dir',
      dataDir,
    ],
    {
      cwd: ROOT,
      env: { ...process.env, STARLAB_PYTHON: FAKE_PYTHON, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, exited, output: () => out };
}

/**
 * `starlab launch --wait` follows a run that writes for about 25 s; another process holds
 * BEGIN EXCLUSIVE for 20 s in the middle. The follower must wait it out (saying so), finalise
 * the run as completed and exit 0; every written event ingested once.
 */
export async function lockDuringLaunchWait(): Promise<Row> {
  const fault = 'lock held 20 s during launch --wait';
  const dataDir = tempDir();
  const dbFile = join(dataDir, 'starlab.db');
  const cli = launchWait(dataDir, {
    STARLAB_FAKE_MODE: 'flood',
    STARLAB_FAKE_EVENTS: '3000',
    STARLAB_FAKE_BURST: '100',
    STARLAB_FAKE_PACE_MS: '800',
  });
  try {
    // (the CLI creates the file, then its tables: until then there is no run to see)
    const started = () => {
      try {
        return existsSync(dbFile) && runsOf(dbFile)[0]?.pid;
      } catch {
        return false;
      }
    };
    await waitFor(started, 30_000, 'the run to start');
    const id = runsOf(dbFile)[0]!.id;
    await waitFor(() => measure(dbFile, new Map([[id, []]])).ingested >= 50, 30_000, 'ingest under way');
    const t = Date.now();
    await (
      await lockDatabase(dbFile, 20_000)
    ).exited;
    const held = (Date.now() - t) / 1000;
    const code = await Promise.race([cli.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 90_000))]);
    const files = eventsFilesOf(dataDir);
    const seqs = writtenSeqs(files.get(id)!);
    const m = measure(dbFile, new Map([[id, seqs]]), new Map([[id, files.get(id)!]]));
    const run = runsOf(dbFile).find((r) => r.id === id)!;
    const problems = [...m.mismatches];
    if (code !== 0) problems.push(`the CLI exited ${code}: ${cli.output().slice(-400)}`);
    if (run.status !== 'completed') problems.push(`${run.status}: ${run.status_reason}`);
    const said = /waiting: the database is locked by another process/.test(cli.output());
    if (!said) problems.push('the CLI did not say it was waiting for the lock');
    return faultRow(
      fault,
      1,
      seqs.length,
      m,
      problems,
      `completed, CLI exit 0 after a ${held.toFixed(1)} s lock (it said "waiting: the database is locked by another process")`,
    );
  } finally {
    cli.child.kill('SIGKILL');
    killRunsOf(dataDir);
  }
}

/**
 * `starlab launch --wait` with the data directory on a 16 MiB tmpfs, mostly filled: the run
 * floods events until the disk is full and dies (exit 1); the database cannot be written
 * either. The follower must keep waiting, and once space is freed record the run as failed
 * with its exit code and the full disk in the reason (not "process disappeared").
 */
export async function diskFullDuringLaunchWait(): Promise<Row> {
  const fault = 'disk full during launch --wait';
  const fs = mountTmpfs(fault);
  if ('skipped' in fs) return fs.skipped;
  const { mnt } = fs;
  const dataDir = join(mnt, 'data');
  const dbFile = join(dataDir, 'starlab.db');
  let cli: ReturnType<typeof launchWait> | null = null;
  try {
    // the database exists first (with its schema), then the ballast leaves ~1.5 MB free
    createService({ dataDir, watch: false }).close();
    const free = () => Number(execFileSync('df', ['-B1', '--output=avail', mnt], { encoding: 'utf8' }).trim().split('\n').pop()!);
    const ballast = join(mnt, 'ballast');
    writeFileSync(ballast, Buffer.alloc(Math.max(0, free() - 1_500_000)));
    cli = launchWait(dataDir, {
      STARLAB_FAKE_MODE: 'flood',
      STARLAB_FAKE_EVENTS: '20000',
      STARLAB_FAKE_BURST: '500',
      STARLAB_FAKE_PACE_MS: '50',
    });
    const c = cli;
    // the writer dies of ENOSPC; the follower keeps waiting (it cannot write the database)
    await waitFor(
      () => /waiting: the disk holding the database is full/.test(c.output()) || (c.child.exitCode !== null && 'exit'),
      90_000,
      'the follower to wait for space',
    );
    if (cli.child.exitCode !== null)
      throw new Error(`the CLI exited ${cli.child.exitCode} while the disk was full: ${cli.output().slice(-600)}`);
    const fullAt = free();
    await new Promise((r) => setTimeout(r, 2000)); // still alive a while later
    const aliveWhileFull = cli.child.exitCode === null;
    rmSync(ballast);
    const code = await Promise.race([cli.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 60_000))]);
    const run = runsOf(dbFile)[0]!;
    const files = eventsFilesOf(dataDir);
    const seqs = writtenSeqs(files.get(run.id)!);
    const m = measure(dbFile, new Map([[run.id, seqs]]), new Map([[run.id, files.get(run.id)!]]));
    const problems = [...m.mismatches];
    if (!aliveWhileFull) problems.push('the CLI gave up while the disk was full');
    if (code !== 1) problems.push(`the CLI exited ${code} (want 1: the run failed)`);
    if (
      run.status !== 'failed' ||
      run.exit_code !== 1 ||
      !/^exited with code 1/.test(run.status_reason ?? '') ||
      !/the disk holding the run directory was full/.test(run.status_reason ?? '')
    )
      problems.push(`${run.status} (exit ${run.exit_code}): ${run.status_reason}`);
    if (/process disappeared/.test(run.status_reason ?? '')) problems.push('the reason says the process disappeared');
    return faultRow(
      fault,
      1,
      seqs.length,
      m,
      problems,
      `the CLI waited with ${fullAt} bytes free, then exit 1; failed (exit code ${run.exit_code}), "${run.status_reason}"`,
    );
  } finally {
    cli?.child.kill('SIGKILL');
    killRunsOf(dataDir);
    fs.unmount();
  }
}
