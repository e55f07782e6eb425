/**
 * Starting a run now: run dir + config.json, the row (status 'running'), then the executor
 * starts the process; its pid and pid start time are recorded. Also what the queue's starts
 * share with it: the group as run.json keeps it, and how a failed start is recorded.
 */
import { rmSync } from 'node:fs';
import type { ExperimentConfig } from '../shared/experiment-config';
import { addLog, getRunRow, insertRun, nowS } from '../db/queries';
import { markStartFailed, recordProcess } from '../db/run-writes';
import { DatabaseLockedError, isBusyError } from './db-errors';
import { describeStarted, startFailed, type LaunchContext } from './executor';
import type { ExecutorSpec } from '../shared/executor-spec';
import { asFsProblem } from './fs-errors';
import { runsDir } from './paths';
import type { PythonCheck } from './python-check';
import { configColumns, createRunDir, eventsPathOf } from './run-files';
import { writeRunRecord, type RunRecord } from './run-record';
import { watch } from './run-watch';
import type { SupervisorContext } from './supervisor-context';

/** A launch refused by the interpreter preflight (nothing was created or started). */
export class PythonPreflightError extends Error {
  readonly field = 'python';
  constructor(readonly check: Extract<PythonCheck, { ok: false }>) {
    super(check.message);
    this.name = 'PythonPreflightError';
  }
}

/**
 * Start a run now. The row is written (status 'running', no pid yet) before the process is
 * spawned, so a process is never started for a run the database does not know. Throws
 * PythonPreflightError if the interpreter check fails, and DatabaseLockedError if another
 * process holds the database locked past the busy timeout; in both cases nothing was
 * started and no run directory is left behind.
 */
export async function launchRun(
  ctx: SupervisorContext,
  config: ExperimentConfig,
  extra: { groupId?: string | null; executor?: ExecutorSpec } = {},
): Promise<{ id: string }> {
  const { db, opts } = ctx;
  const verdict = await ctx.preflight();
  if (verdict && !verdict.ok) throw new PythonPreflightError(verdict);
  const base = runsDir(opts.dataDir);
  let dir: { id: string; runDir: string; configPath: string } | null = null;
  const t = nowS();
  try {
    dir = createRunDir(base, config, (x) => !!getRunRow(db, x));
    const { id, runDir } = dir;
    writeRunRecord(runDir, {
      id,
      createdAt: t,
      group: groupRecord(ctx, extra.groupId ?? null),
      retryOf: null,
      ...recordedExecutor(extra.executor),
    });
    db.transaction(() => {
      insertRun(db, {
        id,
        group_id: extra.groupId ?? null,
        ...configColumns(config),
        created_at: t,
        run_dir: runDir,
        status: 'running',
        started_at: t,
        python: opts.python(),
        ...executorColumns(extra.executor),
      });
    }).immediate();
  } catch (e) {
    // Nothing was started: leave no directory without a row behind.
    try {
      if (dir) rmSync(dir.runDir, { recursive: true, force: true });
    } catch {
      // (runs/ unusable, e.g. a file: there is no directory to remove, and the error below says why)
    }
    if (isBusyError(e)) throw new DatabaseLockedError(e as Error);
    // a full disk, a read-only or unwritable data dir: one sentence naming where (runs/ or the database)
    const onDisk = typeof (e as NodeJS.ErrnoException | null)?.path === 'string'; // else the row insert (SQLite)
    throw asFsProblem(e, { action: 'start the run', path: onDisk || !db.name ? base : db.name, again: 'launch again' });
  }
  const { id, runDir, configPath } = dir;
  const launchCtx: LaunchContext = {
    runId: id,
    runDir,
    configPath,
    eventsPath: eventsPathOf(runDir),
    python: opts.python(),
    config,
    ...(extra.executor?.slurm ? { slurm: extra.executor.slurm } : {}),
  };
  const started = ctx.executorOf({ executor: extra.executor?.kind ?? 'local' }).start(launchCtx);
  if (startFailed(started)) {
    const error = started.error instanceof Error ? started.error : await started.error;
    db.transaction(() => recordStartFailure(ctx, id, started, error))();
    ctx.notify([id]);
    return { id };
  }
  const message = `started: ${started.cmdline} (${describeStarted(started)}, run dir ${runDir})`;
  try {
    db.transaction(() => {
      recordProcess(db, id, started);
      addLog(db, id, 'supervisor', 'info', message, t);
    })();
  } catch (e) {
    // Locked again between the row and the pid (or the disk is full): the process runs and is
    // watched here; the pid is recorded by a later tick (other processes wait for it meanwhile).
    ctx.report(id, e);
    ctx.pendingPids.set(id, {
      pid: started.pid,
      startTime: started.startTime,
      jobId: started.jobId ?? null,
      command: started.command,
      message,
    });
  }
  watch(ctx, id, started);
  return { id };
}

/** A run whose process could not be started: failed, with what was tried (inside a transaction). */
export function recordStartFailure(ctx: SupervisorContext, id: string, s: { command: string; cmdline: string }, error: Error): void {
  const reason = `could not start ${s.command}: ${error.message}`;
  markStartFailed(ctx.db, id, reason, { t: nowS(), command: s.command, log: `${reason} (command: ${s.cmdline})` });
}

/** A group as runs/<id>/run.json keeps it (so a reindex can put the run back in its group). */
export function groupRecord(ctx: SupervisorContext, groupId: string | null): RunRecord['group'] {
  if (groupId === null) return null;
  const g = ctx.db.prepare('SELECT id, name, created_at, spec_json FROM experiment_groups WHERE id = ?').get(groupId) as
    { id: string; name: string; created_at: number; spec_json: string | null } | undefined;
  return g ? { id: g.id, name: g.name, createdAt: g.created_at, spec: g.spec_json } : null;
}

/** The row columns that say where a run goes (nothing for this machine, the default). */
export function executorColumns(spec: ExecutorSpec | undefined): { executor?: string; executor_json?: string } {
  return spec && spec.kind !== 'local' ? { executor: spec.kind, executor_json: JSON.stringify(spec) } : {};
}

/** The executor as run.json keeps it: only where it is not this machine. */
export function recordedExecutor(spec: ExecutorSpec | undefined): { executor?: ExecutorSpec } {
  return spec && spec.kind !== 'local' ? { executor: spec } : {};
}
