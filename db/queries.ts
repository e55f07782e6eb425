/** What the UI and the CLI read, plus the small writes the service makes on runs. */
import type {
  GroupSummary,
  LogLine,
  MetricPoint,
  MetricPointsPage,
  PhaseRecord,
  RunDetail,
  RunStatus,
  RunSummary,
  SampleRow,
} from '../shared/contract';
import { METRIC_POINTS_PAGE_MAX, RUN_DETAIL_METRIC_LIMITS } from '../shared/contract';
import { METRIC_NAMESPACES } from '../shared/catalogue';
import type { DB } from './open';

/** A row of `runs` as stored. */
export interface RunRow {
  id: string;
  group_id: string | null;
  variant: string;
  dataset: string;
  preset: string;
  seed: number;
  model: string;
  config_json: string;
  config_hash: string;
  status: RunStatus;
  status_reason: string | null;
  created_at: number;
  resumed_at: number | null;
  resume_count: number;
  gpu_slot: string | null;
  retry_of: string | null;
  started_at: number | null;
  ended_at: number | null;
  pid: number | null;
  pid_start_time: number | null;
  exit_code: number | null;
  signal: string | null;
  stderr_tail: string | null;
  run_dir: string;
  python: string | null;
  stop_requested_at: number | null;
  malformed_lines: number;
  unknown_events: number;
  ignored_events: number;
  /** The run's ending while a resume is starting (core/supervisor.ts), else null. */
  resume_prev_json: string | null;
  env_json: string | null;
  hashes_json: string | null;
  start_config_json: string | null;
  end_status: string | null;
  end_error: string | null;
  end_t: number | null;
  last_event_at: number | null;
  current_iteration: number | null;
  current_phase: string | null;
  progress_done: number | null;
  progress_total: number | null;
  latest_accuracy: number | null;
}

export type NewRun = Pick<
  RunRow,
  'id' | 'variant' | 'dataset' | 'preset' | 'seed' | 'model' | 'config_json' | 'config_hash' | 'status' | 'created_at' | 'run_dir'
> &
  Partial<Pick<RunRow, 'group_id' | 'status_reason' | 'started_at' | 'ended_at' | 'pid' | 'pid_start_time' | 'python' | 'retry_of'>>;

export function nowS(): number {
  return Date.now() / 1000;
}

export function insertRun(db: DB, r: NewRun): void {
  db.prepare(
    `INSERT INTO runs (id, group_id, variant, dataset, preset, seed, model, config_json, config_hash, status, status_reason,
                       created_at, started_at, ended_at, pid, pid_start_time, run_dir, python, retry_of)
     VALUES (@id, @group_id, @variant, @dataset, @preset, @seed, @model, @config_json, @config_hash, @status, @status_reason,
             @created_at, @started_at, @ended_at, @pid, @pid_start_time, @run_dir, @python, @retry_of)`,
  ).run({
    group_id: null,
    retry_of: null,
    status_reason: null,
    started_at: null,
    ended_at: null,
    pid: null,
    pid_start_time: null,
    python: null,
    ...r,
  });
  db.prepare('INSERT OR IGNORE INTO ingest_cursors (run_id) VALUES (?)').run(r.id);
}

export function getRunRow(db: DB, id: string): RunRow | undefined {
  return db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as RunRow | undefined;
}

/** Queued runs, oldest first (the order the queue starts them). */
export function queuedRuns(db: DB): RunRow[] {
  return db.prepare("SELECT * FROM runs WHERE status = 'queued' ORDER BY created_at, id").all() as RunRow[];
}

export function insertGroup(db: DB, g: { id: string; name: string; created_at: number; spec_json: string }): void {
  db.prepare('INSERT INTO experiment_groups (id, name, created_at, spec_json) VALUES (@id, @name, @created_at, @spec_json)').run(g);
}

/** Groups, newest first, with their runs counted by status. */
export function listGroups(db: DB): GroupSummary[] {
  const groups = db.prepare('SELECT id, name, created_at, spec_json FROM experiment_groups ORDER BY created_at DESC').all() as {
    id: string;
    name: string;
    created_at: number;
    spec_json: string | null;
  }[];
  const counts = db
    .prepare('SELECT group_id, status, count(*) AS n FROM runs WHERE group_id IS NOT NULL GROUP BY group_id, status')
    .all() as {
    group_id: string;
    status: RunStatus;
    n: number;
  }[];
  return groups.map((g) => {
    const byStatus: Partial<Record<RunStatus, number>> = {};
    for (const c of counts) if (c.group_id === g.id) byStatus[c.status] = c.n;
    return {
      id: g.id,
      name: g.name,
      createdAt: g.created_at,
      spec: parseJson<Record<string, unknown> | null>(g.spec_json, null),
      counts: byStatus,
      total: Object.values(byStatus).reduce((a, b) => a + (b ?? 0), 0),
    };
  });
}

export function groupRunIds(db: DB, groupId: string): string[] {
  return (db.prepare('SELECT id FROM runs WHERE group_id = ? ORDER BY created_at, id').all(groupId) as { id: string }[]).map((r) => r.id);
}

export function runningRuns(db: DB): RunRow[] {
  return db.prepare("SELECT * FROM runs WHERE status = 'running' ORDER BY id").all() as RunRow[];
}

export function addLog(db: DB, runId: string, source: LogLine['source'], level: string, message: string, t = nowS()): void {
  db.prepare('INSERT INTO logs (run_id, t, source, level, message) VALUES (?, ?, ?, ?, ?)').run(runId, t, source, level, message);
}

function toSummary(r: RunRow): RunSummary {
  return {
    id: r.id,
    groupId: r.group_id,
    status: r.status,
    statusReason: r.status_reason,
    variant: r.variant,
    dataset: r.dataset,
    preset: r.preset,
    model: r.model,
    seed: r.seed,
    createdAt: r.created_at,
    startedAt: r.started_at,
    endedAt: r.ended_at,
    latestAccuracy: r.latest_accuracy,
    currentIteration: r.current_iteration,
    currentPhase: r.current_phase,
    progressDone: r.progress_done,
    progressTotal: r.progress_total,
    malformedLines: r.malformed_lines,
    unknownEvents: r.unknown_events,
    ignoredEvents: r.ignored_events,
  };
}

function parseJson<T>(text: string | null, fallback: T): T {
  if (text == null) return fallback;
  try {
    return JSON.parse(text) as T;
  } catch {
    return fallback;
  }
}

export function listRuns(db: DB): RunSummary[] {
  const rows = db.prepare('SELECT * FROM runs ORDER BY created_at DESC, id DESC').all() as RunRow[];
  return rows.map(toSummary);
}

interface MetricRow {
  iteration: number;
  step: number;
  value: number;
  t: number;
}
const toPoint = (r: MetricRow): MetricPoint => ({ iteration: r.iteration, step: r.step, value: r.value, t: r.t });

/**
 * Keep at most `max` of `n` points arriving in order: n split into max/4 buckets of
 * consecutive points, of each the first, the last, the lowest and the highest (in their
 * order). The curve's extent, spikes and ends survive; the last point is always kept.
 */
export function minMaxBuckets(n: number, max: number): { add(p: MetricPoint): void; done(): MetricPoint[] } {
  const buckets = Math.max(1, Math.floor(max / 4));
  const out: MetricPoint[] = [];
  type At = { p: MetricPoint; i: number };
  let i = 0;
  let cur = -1;
  let first: At | null = null;
  let last: At | null = null;
  let lo: At | null = null;
  let hi: At | null = null;
  const flush = () => {
    if (!first) return;
    const kept = [first, lo!, hi!, last!].sort((a, b) => a.i - b.i);
    kept.forEach((k, j) => {
      if (j === 0 || k.i !== kept[j - 1]!.i) out.push(k.p);
    });
    first = last = lo = hi = null;
  };
  return {
    add(p) {
      const b = Math.min(buckets - 1, Math.floor((i * buckets) / n));
      if (b !== cur) {
        flush();
        cur = b;
      }
      const at = { p, i: i++ };
      if (!first) first = lo = hi = at;
      if (p.value < lo!.p.value) lo = at;
      if (p.value > hi!.p.value) hi = at;
      last = at;
    },
    done() {
      flush();
      return out;
    },
  };
}

/**
 * Points per name for getRun within RUN_DETAIL_METRIC_LIMITS: names with few points keep
 * them all, the rest share what is left of the total budget (at most pointsPerName each).
 */
export function metricCaps(counts: number[], limits: { pointsPerName: number; totalPoints: number } = RUN_DETAIL_METRIC_LIMITS): number[] {
  const order = counts.map((c, i) => [c, i] as const).sort((a, b) => a[0] - b[0]);
  const caps = new Array<number>(counts.length);
  let left = limits.totalPoints;
  order.forEach(([c, i], k) => {
    const share = Math.max(4, Math.min(limits.pointsPerName, Math.floor(left / (order.length - k))));
    caps[i] = Math.min(c, share);
    left = Math.max(0, left - caps[i]);
  });
  return caps;
}

/**
 * The metric families the variants write and the run page draws (the namespaces of
 * experiments/starlab/catalogue.json's metrics: lower-case words, safe inside the GLOB below):
 * kept first when a run has too many names.
 */
const APP_METRIC_PREFIXES = METRIC_NAMESPACES;

/**
 * A run's metrics as getRun returns them: bounded by RUN_DETAIL_METRIC_LIMITS (over the name
 * limit, the app's own families first, then by name; a name over its cap cut by
 * minMaxBuckets), with the full count of every name returned.
 */
export function getMetricsBounded(
  db: DB,
  runId: string,
): Pick<RunDetail, 'metrics' | 'metricsDownsampled' | 'metricCounts' | 'metricNamesOmitted'> {
  const L = RUN_DETAIL_METRIC_LIMITS;
  const ours = APP_METRIC_PREFIXES.map((p) => `name GLOB '${p}/*'`).join(' OR ');
  const names = db
    .prepare(
      `SELECT name, count(*) AS n FROM metrics WHERE run_id = ? GROUP BY name ORDER BY (CASE WHEN ${ours} THEN 0 ELSE 1 END), name LIMIT ?`,
    )
    .all(runId, L.names + 1) as { name: string; n: number }[];
  let omitted = 0;
  if (names.length > L.names) {
    names.length = L.names;
    const all = (db.prepare('SELECT count(*) AS n FROM (SELECT DISTINCT name FROM metrics WHERE run_id = ?)').get(runId) as { n: number })
      .n;
    omitted = all - L.names;
  }
  const stmt = db.prepare('SELECT iteration, step, value, t FROM metrics WHERE run_id = ? AND name = ? ORDER BY step, seq');
  const metrics: Record<string, MetricPoint[]> = {};
  const metricCounts: Record<string, number> = {};
  let downsampled = omitted > 0;
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const caps = metricCaps(names.map((x) => x.n));
  names.forEach(({ name, n }, k) => {
    metricCounts[name] = n;
    const cap = caps[k]!;
    if (n <= cap) {
      metrics[name] = (stmt.all(runId, name) as MetricRow[]).map(toPoint);
      return;
    }
    downsampled = true;
    const b = minMaxBuckets(n, cap);
    for (const r of stmt.iterate(runId, name) as IterableIterator<MetricRow>) b.add(toPoint(r));
    metrics[name] = b.done();
  });
  return { metrics, metricsDownsampled: downsampled, metricCounts, metricNamesOmitted: omitted };
}

/** A page of one metric's exact points in (step, seq) order, after the cursor `after` (the previous page's `next`). */
export function getMetricPoints(
  db: DB,
  runId: string,
  o: { name: string; after?: { step: number; seq: number }; limit?: number },
): MetricPointsPage {
  const limit = Math.max(1, Math.min(METRIC_POINTS_PAGE_MAX, o.limit ?? METRIC_POINTS_PAGE_MAX));
  const total = (db.prepare('SELECT count(*) AS n FROM metrics WHERE run_id = ? AND name = ?').get(runId, o.name) as { n: number }).n;
  const rows = (
    o.after
      ? db
          .prepare(
            'SELECT iteration, step, value, t, seq FROM metrics WHERE run_id = ? AND name = ? AND (step > ? OR (step = ? AND seq > ?)) ORDER BY step, seq LIMIT ?',
          )
          .all(runId, o.name, o.after.step, o.after.step, o.after.seq, limit + 1)
      : db
          .prepare('SELECT iteration, step, value, t, seq FROM metrics WHERE run_id = ? AND name = ? ORDER BY step, seq LIMIT ?')
          .all(runId, o.name, limit + 1)
  ) as (MetricRow & { seq: number })[];
  const more = rows.length > limit;
  if (more) rows.length = limit;
  const lastRow = rows[rows.length - 1];
  return { name: o.name, total, points: rows.map(toPoint), next: more && lastRow ? { step: lastRow.step, seq: lastRow.seq } : null };
}

/** Only the named metrics of several runs: {runId: {name: points}} (the compare view's data). */
export function getSeries(db: DB, runIds: string[], names: string[]): Record<string, Record<string, MetricPoint[]>> {
  const out: Record<string, Record<string, MetricPoint[]>> = {};
  if (!runIds.length || !names.length) return out;
  const stmt = db.prepare(
    `SELECT name, iteration, step, value, t FROM metrics WHERE run_id = ? AND name IN (${names.map(() => '?').join(',')})
     ORDER BY name, step, seq`,
  );
  for (const id of runIds) {
    const m: Record<string, MetricPoint[]> = {};
    for (const r of stmt.all(id, ...names) as { name: string; iteration: number; step: number; value: number; t: number }[])
      (m[r.name] ??= []).push({ iteration: r.iteration, step: r.step, value: r.value, t: r.t });
    out[id] = m;
  }
  return out;
}

/** Every metric name of these runs, with how many of the runs have it. */
export function metricNames(db: DB, runIds: string[]): { name: string; runs: number }[] {
  if (!runIds.length) return [];
  return db
    .prepare(
      `SELECT name, count(DISTINCT run_id) AS runs FROM metrics WHERE run_id IN (${runIds.map(() => '?').join(',')})
       GROUP BY name ORDER BY name`,
    )
    .all(...runIds) as { name: string; runs: number }[];
}

export function getPhases(db: DB, runId: string): PhaseRecord[] {
  const rows = db
    .prepare('SELECT iteration, phase, started_at, ended_at, duration_s FROM phases WHERE run_id = ? ORDER BY started_at, iteration')
    .all(runId) as { iteration: number; phase: string; started_at: number; ended_at: number | null; duration_s: number | null }[];
  return rows.map((p) => ({
    iteration: p.iteration,
    phase: p.phase,
    startedAt: p.started_at,
    endedAt: p.ended_at,
    durationS: p.duration_s,
  }));
}

export function getRun(db: DB, id: string): Omit<RunDetail, 'checkpointIteration'> | null {
  const r = getRunRow(db, id);
  if (!r) return null;
  const artifacts = db
    .prepare('SELECT name, kind, path, size, iteration FROM artifacts WHERE run_id = ? ORDER BY seq')
    .all(id) as RunDetail['artifacts'];
  return {
    ...toSummary(r),
    config: parseJson<Record<string, unknown>>(r.config_json, {}),
    configHash: r.config_hash,
    env: parseJson<Record<string, unknown> | null>(r.env_json, null),
    hashes: parseJson<Record<string, string>>(r.hashes_json, {}),
    runDir: r.run_dir,
    pid: r.pid,
    exitCode: r.exit_code,
    signal: r.signal,
    stderrTail: r.stderr_tail,
    lastEventAt: r.last_event_at,
    ...getMetricsBounded(db, id),
    phases: getPhases(db, id),
    artifacts,
  };
}

/** The id of the run's newest log line (0: none): where a follower starts reading. */
export function lastLogId(db: DB, runId: string): number {
  return (db.prepare('SELECT coalesce(max(id), 0) AS m FROM logs WHERE run_id = ?').get(runId) as { m: number }).m;
}

export function getLogs(db: DB, runId: string, opts: { afterId?: number; limit?: number } = {}): LogLine[] {
  return db
    .prepare('SELECT id, t, source, level, message FROM logs WHERE run_id = ? AND id > ? ORDER BY id LIMIT ?')
    .all(runId, opts.afterId ?? 0, opts.limit ?? 1000) as LogLine[];
}

/** A samples row as stored. */
export interface SampleDbRow {
  id: number;
  iteration: number;
  question_id: string;
  split: string;
  kind: string;
  question: string;
  text: string;
  answer: string | null;
  gold: string;
  correct: number;
  hint_used: number;
  kept: number | null;
  difficulty: number | null;
  scores_json: string | null;
}

export function getSamples(
  db: DB,
  runId: string,
  opts: { iteration?: number; kind?: string; limit?: number; offset?: number } = {},
): SampleRow[] {
  const conds = ['run_id = ?'];
  const params: unknown[] = [runId];
  if (opts.iteration !== undefined) {
    conds.push('iteration = ?');
    params.push(opts.iteration);
  }
  if (opts.kind !== undefined) {
    conds.push('kind = ?');
    params.push(opts.kind);
  }
  const rows = db
    .prepare(
      `SELECT id, iteration, question_id, split, kind, question, text, answer, gold, correct, hint_used, kept, difficulty, scores_json
       FROM samples WHERE ${conds.join(' AND ')} ORDER BY id LIMIT ? OFFSET ?`,
    )
    .all(...params, opts.limit ?? 100, opts.offset ?? 0) as SampleDbRow[];
  return rows.map((s) => ({
    id: s.id,
    iteration: s.iteration,
    questionId: s.question_id,
    split: s.split,
    kind: s.kind,
    question: s.question,
    text: s.text,
    answer: s.answer,
    gold: s.gold,
    correct: s.correct === 1,
    hintUsed: s.hint_used === 1,
    kept: s.kept === null ? null : s.kept === 1,
    difficulty: s.difficulty,
    scores: parseJson<Record<string, number> | null>(s.scores_json, null),
  }));
}

/** The iterations at which a run stored V-STaR test-time candidates, ascending. */
export function candidateIterations(db: DB, runId: string): number[] {
  return (
    db.prepare("SELECT DISTINCT iteration FROM samples WHERE run_id = ? AND kind = 'candidate' ORDER BY iteration").all(runId) as {
      iteration: number;
    }[]
  ).map((r) => r.iteration);
}

/** A run's stored candidates at one iteration, by question (in storage order within a question). */
export function candidatesByQuestion(
  db: DB,
  runId: string,
  iteration: number,
): Map<string, { answer: string | null; correct: boolean; scores: Record<string, number> | null }[]> {
  const rows = db
    .prepare(
      "SELECT question_id, answer, correct, scores_json FROM samples WHERE run_id = ? AND iteration = ? AND kind = 'candidate' ORDER BY question_id, id",
    )
    .all(runId, iteration) as { question_id: string; answer: string | null; correct: number; scores_json: string | null }[];
  const out = new Map<string, { answer: string | null; correct: boolean; scores: Record<string, number> | null }[]>();
  for (const r of rows) {
    let l = out.get(r.question_id);
    if (!l) out.set(r.question_id, (l = []));
    l.push({ answer: r.answer, correct: r.correct === 1, scores: parseJson<Record<string, number> | null>(r.scores_json, null) });
  }
  return out;
}

export function getSetting(db: DB, key: string): string | undefined {
  const r = db.prepare('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
  return r?.value;
}

export function setSetting(db: DB, key: string, value: string | null): void {
  if (value === null) db.prepare('DELETE FROM settings WHERE key = ?').run(key);
  else db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
}
