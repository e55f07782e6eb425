/**
 * Ingest and query rates beside raw better-sqlite3 on the same rows, in one process run
 * (issue 17: "ingest at ≥ 50% of the raw insert rate", "the compare view's data for 50 runs ×
 * 10,000 points in ≤ 0.5 s warm").
 *
 *  1. The lab's own SDK (Python, experiments/.venv) writes R runs × S steps of one metric
 *     (--metrics M per step) to events files, as a script does.
 *  2. lab ingest: those files through the tailer into a fresh database (parse, validate, the
 *     (run, seq) gate, metrics, run state), the way the app ingests them.
 *  3. raw: the same metric rows, already in memory, inserted into the same table of another
 *     fresh database with one prepared INSERT per row, one transaction per run: the ceiling.
 *  4. compare query: the compare view's data for --query-runs × --query-points, warm, as the
 *     service returns it (getSeriesColumns), beside the per-point objects of getSeries.
 *  5. MLflow's SQLite store logging the same points (log_batch), when `mlflow` imports in the
 *     experiments' Python.
 *
 *   npm run bench:ingest -- [--runs 50] [--steps 20000] [--metrics 1] [--reps 3]
 *                           [--query-runs 50] [--query-points 10000] [--json]
 *
 * Each rate is the median of --reps. With --json the last line of stdout is one JSON object
 * (ingest_points_per_s, raw_points_per_s, ingest_vs_raw, compare_query_warm_s, ...).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openDatabase, type DB } from '../db/open';
import * as q from '../db/queries';
import { getSeries, getSeriesColumns } from '../db/metric-reads';
import { ingestEventsFile } from '../core/tailer';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
const RUNS = Number(arg('runs', '50'));
const STEPS = Number(arg('steps', '20000'));
const METRICS = Number(arg('metrics', '1'));
const REPS = Number(arg('reps', '3'));
const Q_RUNS = Number(arg('query-runs', '50'));
const Q_POINTS = Number(arg('query-points', '10000'));
const JSON_OUT = process.argv.includes('--json');
const PYTHON = resolve('experiments/.venv/bin/python');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const log = (s: string) => (JSON_OUT ? process.stderr : process.stdout).write(s + '\n');

/** The SDK writes the runs' events files, one Python process for all (its own rate is reported too). */
function writeWithSdk(dir: string, runs: number, steps: number, metrics: number): number {
  const code = `
import sys, time
sys.path.insert(0, 'experiments')
import starlab
d, runs, steps, metrics = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
names = ['train/loss'] + [f'train/m{k}' for k in range(1, metrics)]
t0 = time.perf_counter()
for r in range(runs):
    run = starlab.init({'run': r}, f'{d}/run-{r:03d}/events.jsonl', heartbeat=False)
    for s in range(steps):
        run.log({n: 1.0 / (1 + s + k) for k, n in enumerate(names)}, step=s, iteration=s * 10 // steps)
    run.finish()
print(time.perf_counter() - t0)
`;
  for (let r = 0; r < runs; r++) mkdirSync(join(dir, `run-${String(r).padStart(3, '0')}`), { recursive: true });
  const out = execFileSync(PYTHON, ['-c', code, dir, String(runs), String(steps), String(metrics)], { encoding: 'utf8' });
  return Number(out.trim().split('\n').pop());
}

function addRun(db: DB, id: string, dir: string): void {
  q.insertRun(db, {
    id,
    variant: 'star',
    dataset: 'addition',
    preset: 'tiny',
    seed: 0,
    model: 'bench',
    config_json: '{}',
    config_hash: 'bench',
    status: 'running',
    created_at: 1_700_000_000,
    run_dir: dir,
    executor: 'script',
  });
}

/** The lab's ingest of every events file into a fresh database: seconds. */
function labIngest(work: string, ids: string[]): { s: number; applied: number; points: number } {
  const dbDir = mkdtempSync(join(work, 'lab-'));
  const db = openDatabase(join(dbDir, 'starlab.db'));
  for (const id of ids) addRun(db, id, join(work, 'events', id));
  let applied = 0;
  const t0 = performance.now();
  for (const id of ids) applied += ingestEventsFile(db, id, join(work, 'events', id, 'events.jsonl'), { maxBatches: Infinity }).applied;
  const s = (performance.now() - t0) / 1000;
  const points = (db.prepare('SELECT count(*) AS n FROM metrics').get() as { n: number }).n;
  db.close();
  rmSync(dbDir, { recursive: true, force: true });
  return { s, applied, points };
}

type Row = [string, number, string, number, number, number, number];

/** The same metric rows, read back from a lab database once (so raw inserts exactly what the lab stored). */
function rowsOf(work: string, ids: string[]): Row[] {
  const dbDir = mkdtempSync(join(work, 'rows-'));
  const db = openDatabase(join(dbDir, 'starlab.db'));
  for (const id of ids) addRun(db, id, join(work, 'events', id));
  for (const id of ids) ingestEventsFile(db, id, join(work, 'events', id, 'events.jsonl'), { maxBatches: Infinity });
  const rows = db.prepare('SELECT run_id, seq, name, iteration, step, value, t FROM metrics ORDER BY run_id, seq').raw().all() as Row[];
  db.close();
  rmSync(dbDir, { recursive: true, force: true });
  return rows;
}

/** Raw better-sqlite3: one prepared INSERT per row, one transaction per run: seconds. */
function rawInsert(work: string, ids: string[], rows: Row[]): number {
  const dbDir = mkdtempSync(join(work, 'raw-'));
  const db = openDatabase(join(dbDir, 'starlab.db'));
  for (const id of ids) addRun(db, id, join(work, 'events', id));
  const ins = db.prepare('INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const byRun = new Map<string, Row[]>();
  for (const r of rows) (byRun.get(r[0]) ?? byRun.set(r[0], []).get(r[0])!).push(r);
  const t0 = performance.now();
  for (const id of ids) db.transaction((rs: Row[]) => rs.forEach((r) => ins.run(...r)))(byRun.get(id) ?? []);
  const s = (performance.now() - t0) / 1000;
  db.close();
  rmSync(dbDir, { recursive: true, force: true });
  return s;
}

/** A database of nRuns × nPoints of eval/accuracy for the compare query. */
function queryDb(work: string, nRuns: number, nPoints: number): { db: DB; ids: string[] } {
  const db = openDatabase(join(mkdtempSync(join(work, 'query-')), 'starlab.db'));
  const ins = db.prepare('INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const ids: string[] = [];
  db.transaction(() => {
    for (let r = 0; r < nRuns; r++) {
      const id = `q-${String(r).padStart(3, '0')}`;
      ids.push(id);
      addRun(db, id, join(work, id));
      for (let s = 0; s < nPoints; s++)
        ins.run(id, s + 1, 'eval/accuracy', Math.floor((s * 10) / nPoints), s, Math.random(), 1_700_000_000 + s);
      ins.run(id, nPoints + 1, 'train/loss', 0, 0, 1, 1_700_000_000); // another metric the query must leave out
    }
  })();
  return { db, ids };
}

function timeQuery(f: () => unknown): number {
  f(); // warm: the pages in SQLite's cache, the statement prepared
  return median(
    Array.from({ length: REPS }, () => {
      const t0 = performance.now();
      f();
      return (performance.now() - t0) / 1000;
    }),
  );
}

/** MLflow's SQLite store logging the same points, batched as its client batches (1000 per call): points/s, or null. */
function mlflowRate(work: string, runs: number, steps: number, metrics: number): number | null {
  const code = `
import sys, time
try:
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.entities import Metric
except Exception:
    print('none'); sys.exit(0)
d, runs, steps, metrics = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
store = SqlAlchemyStore(f'sqlite:///{d}/mlflow.db', f'{d}/artifacts')
exp = store.create_experiment('bench')
names = ['train/loss'] + [f'train/m{k}' for k in range(1, metrics)]
t0 = time.perf_counter()
for r in range(runs):
    run = store.create_run(exp, 'bench', 0, [], 'run', None)
    batch = []
    for s in range(steps):
        for k, n in enumerate(names):
            batch.append(Metric(n, 1.0 / (1 + s + k), 0, s))
        if len(batch) >= 1000:
            store.log_batch(run.info.run_id, batch, [], []); batch = []
    if batch: store.log_batch(run.info.run_id, batch, [], [])
print(runs * steps * metrics / (time.perf_counter() - t0))
`;
  const d = mkdtempSync(join(work, 'mlflow-'));
  try {
    const out = execFileSync(PYTHON, ['-c', code, d, String(runs), String(steps), String(metrics)], { encoding: 'utf8' }).trim();
    return out === 'none' ? null : Number(out.split('\n').pop());
  } catch (e) {
    log(`mlflow: failed (${(e as Error).message.split('\n')[0]})`);
    return null;
  }
}

function main(): void {
  const work = mkdtempSync(join(tmpdir(), 'starlab-bench-ingest-'));
  try {
    const ids = Array.from({ length: RUNS }, (_, r) => `run-${String(r).padStart(3, '0')}`);
    const points = RUNS * STEPS * METRICS;
    log(`writing ${RUNS} runs × ${STEPS} steps × ${METRICS} metric(s) = ${points.toLocaleString('en-US')} points with the SDK…`);
    const sdkS = writeWithSdk(join(work, 'events'), RUNS, STEPS, METRICS);
    writeFileSync(join(work, 'events', 'README'), 'bench scratch\n');
    const rows = rowsOf(work, ids);
    if (rows.length !== points) throw new Error(`the lab stored ${rows.length} points, expected ${points}`);
    const lab: number[] = [];
    const raw: number[] = [];
    for (let k = 0; k < REPS; k++) {
      // alternated, so drift on the machine falls on both
      const l = labIngest(work, ids);
      if (l.points !== points) throw new Error(`ingest stored ${l.points} points, expected ${points}`);
      lab.push(l.s);
      raw.push(rawInsert(work, ids, rows));
    }
    const ingestRate = points / median(lab);
    const rawRate = points / median(raw);
    const { db, ids: qIds } = queryDb(work, Q_RUNS, Q_POINTS);
    const colS = timeQuery(() => getSeriesColumns(db, qIds, ['eval/accuracy']));
    const objS = timeQuery(() => getSeries(db, qIds, ['eval/accuracy']));
    const rawQ = db.prepare("SELECT step, value FROM metrics WHERE run_id = ? AND name = 'eval/accuracy' ORDER BY step, seq").raw();
    const rawQS = timeQuery(() => qIds.map((id) => rawQ.all(id)));
    db.close();
    const mlflow = mlflowRate(work, Math.min(RUNS, 5), STEPS, METRICS);

    const k = (n: number) => `${(n / 1000).toFixed(1)}k/s`;
    log('');
    log(`ingest, ${points.toLocaleString('en-US')} points (${RUNS} runs × ${STEPS} steps × ${METRICS}), median of ${REPS}`);
    log(`  SDK writing the events files  ${k(points / sdkS)}`);
    log(`  lab ingest (tailer)           ${k(ingestRate)}   ${((100 * ingestRate) / rawRate).toFixed(0)}% of raw`);
    log(`  raw better-sqlite3 INSERT     ${k(rawRate)}`);
    log(
      `  MLflow SQLite store           ${mlflow === null ? 'not installed' : `${k(mlflow)}   lab is ${(ingestRate / mlflow).toFixed(1)}×`}`,
    );
    log(`compare query, ${Q_RUNS} runs × ${Q_POINTS.toLocaleString('en-US')} points, warm, median of ${REPS}`);
    log(`  getSeriesColumns (the compare view's)  ${(colS * 1000).toFixed(0)} ms`);
    log(`  getSeries (an object per point)        ${(objS * 1000).toFixed(0)} ms   ${(objS / colS).toFixed(1)}× the columns`);
    log(`  raw SELECT of the same rows            ${(rawQS * 1000).toFixed(0)} ms`);
    if (JSON_OUT)
      process.stdout.write(
        JSON.stringify({
          points,
          runs: RUNS,
          steps: STEPS,
          metrics_per_step: METRICS,
          reps: REPS,
          sdk_write_points_per_s: Math.round(points / sdkS),
          ingest_points_per_s: Math.round(ingestRate),
          raw_points_per_s: Math.round(rawRate),
          ingest_vs_raw: Number((ingestRate / rawRate).toFixed(3)),
          mlflow_points_per_s: mlflow === null ? null : Math.round(mlflow),
          compare_query_runs: Q_RUNS,
          compare_query_points: Q_POINTS,
          compare_query_warm_s: Number(colS.toFixed(4)),
          object_query_warm_s: Number(objS.toFixed(4)),
          raw_query_warm_s: Number(rawQS.toFixed(4)),
        }) + '\n',
      );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
