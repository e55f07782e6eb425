/**
 * The run row's lifecycle writes, one named function each. Every transition is a conditional
 * UPDATE on the status it leaves (queued → running, running → ended, ended → running for a
 * resume), so two processes sharing one database never both take the same step: the caller
 * learns from the return value whether it did.
 */
import type { DB } from './open';
import { addLog, getRunRow } from './queries';

/** How a run had ended before a resume claimed it: put back when the resume fails before loading its checkpoint. */
export interface Ending {
  status: string;
  status_reason: string | null;
  ended_at: number | null;
  exit_code: number | null;
  signal: string | null;
  stderr_tail: string | null;
  stop_requested_at: number | null;
  end_status: string | null;
  end_error: string | null;
  end_t: number | null;
  current_iteration: number | null;
  current_phase: string | null;
  progress_done: number | null;
  progress_total: number | null;
}
const ENDING_COLUMNS: readonly (keyof Ending)[] = [
  'status',
  'status_reason',
  'ended_at',
  'exit_code',
  'signal',
  'stderr_tail',
  'stop_requested_at',
  'end_status',
  'end_error',
  'end_t',
  'current_iteration',
  'current_phase',
  'progress_done',
  'progress_total',
];

/** The process a run was started as (the interpreter or command, its pid and the pid's start time). */
export interface RunProcessRecord {
  /** A local process; null for a batch job. */
  pid: number | null;
  startTime: number | null;
  /** A Slurm job id; absent for a local process. */
  jobId?: string | null;
  command: string;
}

/** The queue takes a queued run: running, on this GPU slot. False if another process took it first. */
export function claimQueuedRun(db: DB, id: string, t: number, gpuSlot: string | null): boolean {
  return (
    db.prepare("UPDATE runs SET status = 'running', started_at = ?, gpu_slot = ? WHERE id = ? AND status = 'queued'").run(t, gpuSlot, id)
      .changes === 1
  );
}

/**
 * Record the process a run was started as. `onlyIfUnset`: a retry of a write that failed
 * (the database was locked) does not overwrite a pid recorded since.
 */
export function recordProcess(db: DB, id: string, p: RunProcessRecord, o: { onlyIfUnset?: boolean } = {}): void {
  db.prepare(
    `UPDATE runs SET pid = ?, pid_start_time = ?, job_id = ?, python = ? WHERE id = ?${o.onlyIfUnset ? ' AND pid IS NULL AND job_id IS NULL' : ''}`,
  ).run(p.pid, p.startTime, p.jobId ?? null, p.command, id);
}

/**
 * A run whose process never started (the interpreter check refused it, or the spawn failed):
 * failed with the reason, no start time, and the command that was tried; logged as an error.
 * Only while it is still 'running' (a stop or another process may have ended it).
 */
export function markStartFailed(db: DB, id: string, reason: string, o: { t: number; command?: string; log?: string }): boolean {
  const r = db
    .prepare(
      "UPDATE runs SET status = 'failed', status_reason = ?, started_at = NULL, ended_at = ?, python = coalesce(?, python) WHERE id = ? AND status = 'running'",
    )
    .run(reason, o.t, o.command ?? null, id);
  addLog(db, id, 'supervisor', 'error', o.log ?? reason, o.t);
  return r.changes === 1;
}

/** Take a queued run off the queue: stopped, never started. False if it is not queued. */
export function cancelQueuedRun(db: DB, id: string, t: number): boolean {
  return (
    db
      .prepare(
        "UPDATE runs SET status = 'stopped', status_reason = 'cancelled before it started', ended_at = ? WHERE id = ? AND status = 'queued'",
      )
      .run(t, id).changes === 1
  );
}

/** The exit code / signal a run's process ended with, kept on the row until the run is finalised. */
export function recordExit(db: DB, id: string, code: number | null, signal: string | null): void {
  db.prepare("UPDATE runs SET exit_code = ?, signal = ? WHERE id = ? AND status = 'running'").run(code, signal, id);
}

/** The first stop request's time (a second request keeps the first). */
export function recordStopRequest(db: DB, id: string, t: number): void {
  db.prepare('UPDATE runs SET stop_requested_at = coalesce(stop_requested_at, ?) WHERE id = ?').run(t, id);
}

/** A running run's end. False if it was no longer running (finalised elsewhere). */
export function writeEnding(
  db: DB,
  id: string,
  e: {
    status: 'completed' | 'failed' | 'stopped';
    reason: string | null;
    endedAt: number;
    exitCode: number | null;
    signal: string | null;
    stderrTail: string | null;
  },
): boolean {
  return (
    db
      .prepare(
        "UPDATE runs SET status = ?, status_reason = ?, ended_at = ?, exit_code = ?, signal = ?, stderr_tail = ? WHERE id = ? AND status = 'running'",
      )
      .run(e.status, e.reason, e.endedAt, e.exitCode, e.signal, e.stderrTail, id).changes === 1
  );
}

/**
 * A stopped or failed run becomes running again for a resume; its ending is kept aside in
 * runs.resume_prev_json (restoreEnding puts it back). False if it is not stopped or failed.
 */
export function claimForResume(db: DB, id: string, t: number): boolean {
  const now = getRunRow(db, id);
  if (!now || (now.status !== 'stopped' && now.status !== 'failed')) return false;
  const ending = Object.fromEntries(ENDING_COLUMNS.map((c) => [c, now[c]])) as unknown as Ending;
  const r = db
    .prepare(
      `UPDATE runs SET status = 'running', status_reason = NULL, ended_at = NULL, exit_code = NULL, signal = NULL,
         stderr_tail = NULL, stop_requested_at = NULL, end_status = NULL, end_error = NULL, end_t = NULL,
         pid = NULL, pid_start_time = NULL, job_id = NULL, resumed_at = ?, resume_count = resume_count + 1, resume_prev_json = ?
       WHERE id = ? AND status IN ('stopped', 'failed')`,
    )
    .run(t, JSON.stringify(ending), id);
  return r.changes === 1;
}

/**
 * Put back the ending a resume claimed the run from (runs.resume_prev_json). Returns false when
 * there is none, or the run is no longer running.
 */
export function restoreEnding(db: DB, id: string): boolean {
  const row = getRunRow(db, id);
  if (!row || row.status !== 'running' || row.resume_prev_json === null) return false;
  const ending = JSON.parse(row.resume_prev_json) as Ending;
  const sets = ENDING_COLUMNS.map((c) => `${c} = @${c}`).join(', ');
  const r = db
    .prepare(
      `UPDATE runs SET ${sets}, pid = NULL, pid_start_time = NULL, job_id = NULL, resume_prev_json = NULL WHERE id = @id AND status = 'running'`,
    )
    .run({ ...ending, id });
  return r.changes === 1;
}
