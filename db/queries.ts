/** What the UI and the CLI read, plus the small writes the service makes on runs. */
import type { GroupSummary, LogLine, PhaseRecord, RunDetail, RunStatus, RunSummary, SampleRow } from '../shared/contract';
import type { DB } from './open';
import { getMetricsBounded } from './metric-reads';

export { minMaxBuckets, metricCaps, getMetricsBounded, getMetricPoints, getSeries, getSeriesColumns, metricNames } from './metric-reads';

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
  /** Where the process lives: 'local', 'slurm' or 'script' (core/executor.ts). */
  executor: string;
  /** The Slurm job id of a 'slurm' run. */
  job_id: string | null;
  /** The executor options it was submitted with (JSON), or null. */
  executor_json: string | null;
  /** The name its author gave it (NULL: the name made from variant, dataset and seed). */
  name: string | null;
  /** Its tags (a JSON array of strings). */
  tags_json: string;
  archived: number;
  notes: string | null;
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
  Partial<
    Pick<
      RunRow,
      | 'group_id'
      | 'status_reason'
      | 'started_at'
      | 'ended_at'
      | 'pid'
      | 'pid_start_time'
      | 'python'
      | 'retry_of'
      | 'executor'
      | 'executor_json'
      | 'name'
      | 'tags_json'
      | 'notes'
      | 'archived'
    >
  >;

export function nowS(): number {
  return Date.now() / 1000;
}

export function insertRun(db: DB, r: NewRun): void {
  db.prepare(
    `INSERT INTO runs (id, group_id, variant, dataset, preset, seed, model, config_json, config_hash, status, status_reason,
                       created_at, started_at, ended_at, pid, pid_start_time, run_dir, python, retry_of, executor, executor_json, name, tags_json, notes, archived)
     VALUES (@id, @group_id, @variant, @dataset, @preset, @seed, @model, @config_json, @config_hash, @status, @status_reason,
             @created_at, @started_at, @ended_at, @pid, @pid_start_time, @run_dir, @python, @retry_of, @executor, @executor_json, @name, @tags_json, @notes, @archived)`,
  ).run({
    executor: 'local',
    executor_json: null,
    name: null,
    tags_json: '[]',
    notes: null,
    archived: 0,
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
    name: r.name,
    tags: parseJson<string[]>(r.tags_json, []),
    notes: r.notes,
    archived: r.archived === 1,
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
    executor: r.executor,
    jobId: r.job_id,
    exitCode: r.exit_code,
    signal: r.signal,
    stderrTail: r.stderr_tail,
    lastEventAt: r.last_event_at,
    groupName: r.group_id
      ? ((db.prepare('SELECT name FROM experiment_groups WHERE id = ?').pluck().get(r.group_id) as string | undefined) ?? null)
      : null,
    ...getMetricsBounded(db, id),
    phases: getPhases(db, id),
    artifacts,
  };
}

/** The configs of several runs in one read ({runId: config}; an unknown id is left out): what the compare view needs of each run. */
export function getRunConfigs(db: DB, ids: string[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  const rows = db.prepare('SELECT id, config_json FROM runs WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(ids)) as {
    id: string;
    config_json: string;
  }[];
  for (const r of rows) out[r.id] = parseJson<Record<string, unknown>>(r.config_json, {});
  return out;
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
