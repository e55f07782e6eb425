/**
 * Fault family 2 and 3a/3b, against the real browser-mode server process: the server
 * SIGKILLed while ingesting and restarted; eight runs flooding events while the UI queries;
 * the database held by another process's write transaction.
 */
import { type spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  eventsFilesOf,
  FAKE_PYTHON,
  killGroup,
  killRunsOf,
  lockDatabase,
  measure,
  processesWithEnv,
  type Row,
  runsOf,
  Server,
  sleep,
  supervisorLogs,
  tempDir,
  waitFor,
  writtenSeqs,
} from './lib';

const SPEC = { variant: 'star', dataset: 'addition', preset: 'tiny' } as const;

function fakeEnv(extra: Record<string, string>): Record<string, string> {
  return { STARLAB_PYTHON: FAKE_PYTHON, STARLAB_FAKE_MODE: 'flood', ...extra };
}

async function launchVia(server: Server, seeds: number[]): Promise<string[]> {
  const ids: string[] = [];
  for (const seed of seeds) {
    const r = await server.cmd<{ ok: boolean; id?: string; errors?: unknown }>('launchRun', { ...SPEC, seed });
    if (!r.ok || !r.id) throw new Error(`launch refused: ${JSON.stringify(r.errors)}`);
    ids.push(r.id);
  }
  return ids;
}

function ingestedOf(dbFile: string, id: string): number {
  return measure(dbFile, new Map([[id, []]])).ingested;
}

/** Count and judge a finished set of runs: all must end as `want` (status or per-run check). */
function judge(
  fault: string,
  dataDir: string,
  ids: string[],
  check: (r: ReturnType<typeof runsOf>[number]) => string | null,
  note = '',
): Row {
  const dbFile = join(dataDir, 'starlab.db');
  const files = eventsFilesOf(dataDir);
  const expected = new Map(ids.map((id) => [id, writtenSeqs(files.get(id)!)]));
  const m = measure(dbFile, expected, new Map(ids.map((id) => [id, files.get(id)!])));
  const problems = [...m.mismatches];
  const rows = runsOf(dbFile).filter((r) => ids.includes(r.id));
  for (const r of rows) {
    const p = check(r);
    if (p) problems.push(`${r.id}: ${p}`);
  }
  const written = [...expected.values()].reduce((a, s) => a + s.length, 0);
  const statuses = [...new Set(rows.map((r) => r.status))].join('/');
  return {
    fault,
    runs: ids.length,
    written,
    ingested: m.ingested,
    duplicates: m.duplicates,
    lost: m.lost,
    status: problems.length ? `FAIL: ${problems.slice(0, 3).join('; ')}` : `ok: ${statuses}${note ? `; ${note}` : ''}`,
  };
}

const completed = (r: { status: string; status_reason: string | null }) =>
  r.status === 'completed' ? null : `${r.status}: ${r.status_reason}`;

/** The server SIGKILLed while three runs flood events, then restarted: it re-attaches and ingests the rest once. */
export async function serverKilled(): Promise<Row> {
  const dataDir = tempDir();
  const dbFile = join(dataDir, 'starlab.db');
  const env = fakeEnv({ STARLAB_FAKE_EVENTS: '4000', STARLAB_FAKE_BURST: '200', STARLAB_FAKE_PACE_MS: '400' });
  let server = new Server(dataDir, env);
  try {
    await server.start();
    const ids = await launchVia(server, [1, 2, 3]);
    await waitFor(() => ids.every((id) => ingestedOf(dbFile, id) >= 300), 60_000, 'ingest under way');
    await server.kill();
    const atKill = ids.map((id) => ingestedOf(dbFile, id));
    const stillRunning = runsOf(dbFile).filter((r) => r.status === 'running').length;
    await sleep(500); // the runs go on writing with nobody ingesting
    server = new Server(dataDir, env);
    await server.start();
    await waitFor(() => runsOf(dbFile).every((r) => r.status !== 'running'), 90_000, 'the runs to end');
    const reattached = ids.filter((id) => supervisorLogs(dbFile, id).some((m) => /re-attached/.test(m))).length;
    return judge(
      'server SIGKILL mid-ingest + restart',
      dataDir,
      ids,
      completed,
      `killed at ${atKill.join('+')} ingested, ${stillRunning} running; restart re-attached ${reattached}`,
    );
  } finally {
    await server.stop();
    killRunsOf(dataDir);
  }
}

/** p50 / p95 / max of a list of durations (ms), nearest-rank. */
export function latencyStats(ms: number[]): { n: number; p50: number; p95: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)] ?? 0;
  return { n: s.length, p50: rank(50), p95: rank(95), max: s[s.length - 1] ?? 0 };
}

const fmt = (ms: number) => `${Math.round(ms)} ms`;

/**
 * One round of the queries the UI makes while runs are going (run list, a run, metric names,
 * series, traces, logs), each timed on its own. Returns the run list (to see when runs end).
 */
async function uiRound(server: Server, ids: string[], round: number, times: number[]): Promise<{ id: string; status: string }[]> {
  const id = ids[round % ids.length]!;
  const timed = async <T>(p: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await p();
    times.push(performance.now() - t0);
    return r;
  };
  const runs = await timed(() => server.cmd<{ id: string; status: string }[]>('listRuns'));
  await timed(() => server.cmd('getRun', id));
  await timed(() => server.cmd('metricNames', ids));
  await timed(() => server.cmd('getSeries', ids, ['train/loss']));
  await timed(() => server.cmd('getTraces', id, { limit: 50 }));
  await timed(() => server.cmd('getLogs', id, { limit: 100 }));
  return runs;
}

/**
 * Eight runs writing 5,000 events each at full speed while a UI client queries in a loop.
 * Every query's latency is recorded during the flood, then the same queries are timed on the
 * same database with no run writing (the idle baseline). The numbers are printed, not judged:
 * speed targets belong in benchmarks.
 */
export async function floodWithQueries(): Promise<Row> {
  const dataDir = tempDir();
  const server = new Server(dataDir, fakeEnv({ STARLAB_FAKE_EVENTS: '5000', STARLAB_FAKE_PACE_MS: '0' }));
  try {
    await server.start();
    const t0 = performance.now();
    const ids = await launchVia(server, [1, 2, 3, 4, 5, 6, 7, 8]);
    const flood: number[] = [];
    const errors: string[] = [];
    for (let round = 0; ; round++) {
      try {
        const runs = await uiRound(server, ids, round, flood);
        if (runs.filter((r) => ids.includes(r.id)).every((r) => r.status !== 'running')) break;
      } catch (e) {
        errors.push((e as Error).message);
        if (errors.length > 5) break;
      }
    }
    const floodS = (performance.now() - t0) / 1000;
    const idle: number[] = [];
    for (let round = 0; round < 10 && errors.length <= 5; round++) {
      try {
        await uiRound(server, ids, round, idle);
      } catch (e) {
        errors.push((e as Error).message);
      }
    }
    const f = latencyStats(flood);
    const i = latencyStats(idle);
    const note =
      `${f.n} queries answered during the flood (${floodS.toFixed(1)} s from launch to all ended): ` +
      `p50 ${fmt(f.p50)}, p95 ${fmt(f.p95)}, max ${fmt(f.max)} (idle, ${i.n} queries: p50 ${fmt(i.p50)}, p95 ${fmt(i.p95)}, max ${fmt(i.max)})`;
    const row = judge('8 runs flooding + UI queries', dataDir, ids, completed, note);
    return errors.length ? { ...row, status: `FAIL: query errors: ${errors.slice(0, 2).join('; ')}` } : row;
  } finally {
    await server.stop();
    killRunsOf(dataDir);
  }
}

/**
 * A launch while another process holds the lock past the 5 s busy timeout: it must be refused
 * with a message saying so, and leave nothing behind (no row, no run directory, no process).
 * Returns a problem, or what happened.
 */
async function launchWhileLocked(server: Server, dataDir: string, known: string[]): Promise<{ problem: string | null; note: string }> {
  const dbFile = join(dataDir, 'starlab.db');
  const dirs = () => (existsSync(join(dataDir, 'runs')) ? readdirSync(join(dataDir, 'runs')) : []);
  const dirsBefore = dirs().length;
  const lock = await lockDatabase(dbFile, 8000);
  const t0 = Date.now();
  let answer: string;
  try {
    const r = await server.cmd<{ ok: boolean; id?: string; errors?: { field: string; message: string }[] }>('launchRun', {
      ...SPEC,
      seed: 9,
    });
    answer = r.ok ? `launched ${r.id}` : `refused: ${r.errors?.map((e) => e.message).join('; ')}`;
  } catch (e) {
    answer = `refused: ${(e as Error).message}`; // thrown through the server (HTTP 500) if the service does not catch it
  }
  const waitedS = ((Date.now() - t0) / 1000).toFixed(1);
  const strays = processesWithEnv('STARLAB_DATA_DIR', dataDir);
  await lock.exited;
  const rows = runsOf(dbFile).filter((r) => !known.includes(r.id));
  const problems: string[] = [];
  if (!/refused: .*the database is locked by another process .*nothing was started/.test(answer))
    problems.push(`launch answered "${answer}"`);
  if (rows.length) problems.push(`${rows.length} new run row(s): ${rows.map((r) => `${r.id} ${r.status}`).join(', ')}`);
  if (dirs().length !== dirsBefore) problems.push(`${dirs().length - dirsBefore} new run director(y/ies) without a row`);
  if (strays.length) problems.push(`experiment process(es) started: pid ${strays.join(', ')}`);
  for (const pid of strays) killGroup(pid); // nothing may outlive the suite
  return {
    problem: problems.length ? `launch during an 8 s lock: ${problems.join('; ')}` : null,
    note: `a launch during an 8 s lock was refused after ${waitedS} s ("${answer.replace(/^refused: (launchRun: HTTP \d+: )?/, '').split(';')[0]}"), no row, directory or process left`,
  };
}

/**
 * Another process holds a write transaction (BEGIN EXCLUSIVE) for 7 s, longer than the
 * 5 s busy timeout, while runs write and end (one of them failing with exit code 1): nothing
 * is lost, and the failing run keeps its real exit code rather than "process disappeared".
 * Then, with the runs ended, the lock is taken again for 8 s and a launch is attempted.
 */
export async function databaseLocked(): Promise<Row> {
  const dataDir = tempDir();
  const dbFile = join(dataDir, 'starlab.db');
  const server = new Server(
    dataDir,
    fakeEnv({
      STARLAB_FAKE_EVENTS: '3000',
      STARLAB_FAKE_BURST: '300',
      STARLAB_FAKE_PACE_MS: '100',
      STARLAB_FAKE_MODE_SEED_3: 'fail',
      STARLAB_FAKE_FAIL_AFTER_MS: '2500',
    }),
  );
  const holdMs = 7000;
  let locker: ReturnType<typeof spawn> | null = null;
  try {
    await server.start();
    const ids = await launchVia(server, [1, 2, 3]);
    await waitFor(() => ids.every((id) => ingestedOf(dbFile, id) >= 8), 60_000, 'ingest under way');
    const lock = await lockDatabase(dbFile, holdMs);
    locker = lock.child;
    const tLock = Date.now();
    await lock.exited;
    const heldMs = Date.now() - tLock;
    const f = { id: ids[2]! };
    await waitFor(() => runsOf(dbFile).every((r) => r.status !== 'running'), 90_000, 'the runs to end');
    const launch = await launchWhileLocked(server, dataDir, ids);
    const row = judge(
      'database locked 7 s by another process',
      dataDir,
      ids,
      (r) =>
        r.id === f.id
          ? r.status === 'failed' && r.status_reason === 'exited with code 1'
            ? null
            : `${r.status}: ${r.status_reason}`
          : completed(r),
      `lock held ${(heldMs / 1000).toFixed(1)} s; the failing run says "exited with code 1"; ${launch.note}`,
    );
    if (launch.problem)
      return { ...row, status: row.status.startsWith('ok') ? `FAIL: ${launch.problem}` : `${row.status}; ${launch.problem}` };
    return row;
  } finally {
    locker?.kill('SIGKILL');
    await server.stop();
    killRunsOf(dataDir);
  }
}
