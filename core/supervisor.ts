/**
 * Decides what runs and when, follows what each run writes, and decides how it ended. Where
 * the process lives is the executor's business (core/executor.ts; this machine by default,
 * core/local-executor.ts); the run row's transitions are named writes in db/run-writes.ts and
 * the final status is the pure decideFinalStatus (core/final-status.ts).
 *
 * This class owns the poll loop and the public API; each step is its own module, sharing one
 * SupervisorContext (core/supervisor-context.ts):
 * - launch (core/run-launch.ts): run dir + config.json, the row (status 'running'), then the
 *   executor starts the process; its pid and pid start time are recorded.
 * - queue (core/run-queue.ts): queued runs start (oldest first) while the concurrency limit and
 *   GPU slots allow.
 * - watch (core/run-watch.ts): every pollMs, ingest the events of every 'running' run in the
 *   database (also runs started by other processes), copy stdout/stderr lines into logs, and
 *   finalise runs whose process is gone; in bounded batches within a time budget per tick. A
 *   child spawned here reports its exit code/signal directly.
 * - reattach (core/run-reattach.ts): on start, runs left running by an earlier process.
 * - inbox (core/inbox.ts): every poll, runs that scripts registered themselves (starlab.init).
 * - finalise (core/run-finalise.ts): ingest the rest, then the run_end event's status if any;
 *   else 'stopped' if a stop was requested; else 'failed' with the reason and the tail of stderr.log.
 * - stop (core/run-stop.ts): stop_requested_at, SIGTERM to the process group, SIGKILL after the grace period.
 * - resume (core/run-resume.ts): continue a stopped or failed run after its last checkpoint.
 */
import type { ExecutorSpec } from '../shared/executor-spec';
import type { ExperimentConfig } from '../shared/experiment-config';
import { getRunRow, runningRuns, type RunRow } from '../db/queries';
import { transientDbError } from './db-errors';
import type { ExitInfo } from './final-status';
import type { PythonCheck } from './python-check';
import type { RunHandle } from './executor';
import { adoptAnnouncedRuns } from './inbox';
import { finaliseRun } from './run-finalise';
import { launchRun } from './run-launch';
import { RunQueue } from './run-queue';
import { reattach, reconcileRuns } from './run-reattach';
import { resumeRun } from './run-resume';
import { clearKillTimers, stopRun } from './run-stop';
import { ingestRound, pollRunNow, recordPendingPids } from './run-watch';
import { SupervisorContext, type SupervisorOptions } from './supervisor-context';

export type { CommandSpec, LaunchContext } from './executor';
export { PythonPreflightError } from './run-launch';
export {
  DEFAULT_INGEST_BATCH_BYTES,
  DEFAULT_INGEST_BATCH_LINES,
  DEFAULT_INGEST_BUDGET_MS,
  type SupervisorOptions,
} from './supervisor-context';

export class Supervisor {
  private readonly ctx: SupervisorContext;
  private readonly queue: RunQueue;
  private ticking = false;
  /** The run a budgeted tick stopped at: the next tick starts with it (round-robin). */
  private nextRun: string | null = null;
  /** Highest runs.rowid seen, to notice runs created by other processes. */
  private lastRowid = 0;
  readonly pollMs: number;

  constructor(opts: SupervisorOptions) {
    this.ctx = new SupervisorContext(opts);
    this.queue = new RunQueue(this.ctx);
    this.pollMs = this.ctx.pollMs;
  }

  get watching(): boolean {
    return this.ctx.watching;
  }

  /** The interpreter preflight for this python (null when checks are off). */
  preflight(python?: string): Promise<PythonCheck | null> {
    return this.ctx.preflight(python);
  }

  /** Reconcile, then poll every pollMs until close(). */
  start(): void {
    const { ctx } = this;
    if (ctx.timer || ctx.closed) return;
    reattach(ctx);
    ctx.lastRunning = new Set(runningRuns(ctx.db).map((r) => r.id));
    this.lastRowid = this.maxRowid();
    this.armTimer(this.pollMs);
  }

  private armTimer(ms: number): void {
    if (this.ctx.closed) return;
    this.ctx.timer = setTimeout(() => this.tick(), ms);
  }

  /**
   * Ingest everything pending for every 'running' run (bounded: one batch each, the rest is
   * left to the ticks); re-attach those whose process is alive with the same start time,
   * finalise the others once their events are in. Returns the changed run ids.
   */
  reconcile(opts: { bounded?: boolean } = {}): string[] {
    return reconcileRuns(this.ctx, opts);
  }

  /** One poll tick (async: it yields between batches); the next is armed when it is done. */
  private tick(): void {
    if (this.ctx.closed || this.ticking) return;
    this.ticking = true;
    let backlog = false;
    this.tickInner()
      .then((b) => (backlog = b))
      .catch((e: unknown) => this.ctx.report('(poll)', e))
      .finally(() => {
        this.ticking = false;
        if (this.ctx.timer) this.armTimer(backlog ? Math.min(this.pollMs, this.ctx.budgetMs) : this.pollMs);
      });
  }

  /** Returns whether events were left for the next tick (the budget ran out). */
  private async tickInner(): Promise<boolean> {
    const { ctx } = this;
    const changed = new Set<string>();
    recordPendingPids(ctx);
    // runs scripts registered themselves (starlab.init): they show up like runs launched elsewhere
    const adopted = await adoptAnnouncedRuns(ctx.db, ctx.opts.dataDir);
    for (const s of adopted.skipped) ctx.report(s.id, new Error(`a script's run was not adopted: ${s.reason}`));
    const rows = runningRuns(ctx.db);
    for (const row of rows) if (!ctx.lastRunning.has(row.id)) changed.add(row.id); // launched by another process
    this.nextRun = await ingestRound(ctx, rows, changed, this.nextRun);
    if (ctx.closed) return false;
    const now = new Set(runningRuns(ctx.db).map((r) => r.id));
    for (const id of ctx.lastRunning) if (!now.has(id)) changed.add(id); // ended (here or elsewhere)
    for (const id of this.schedule()) changed.add(id); // slots freed: start queued runs
    // Runs created by other processes (a CLI launch), even ones that already ended.
    const fresh = ctx.db.prepare('SELECT rowid AS r, id FROM runs WHERE rowid > ? ORDER BY rowid').all(this.lastRowid) as {
      r: number;
      id: string;
    }[];
    for (const f of fresh) {
      changed.add(f.id);
      this.lastRowid = Math.max(this.lastRowid, f.r);
    }
    ctx.lastRunning = new Set(runningRuns(ctx.db).map((r) => r.id));
    if (changed.size) ctx.notify([...changed]);
    return this.nextRun !== null;
  }

  private maxRowid(): number {
    return (this.ctx.db.prepare('SELECT coalesce(max(rowid), 0) AS m FROM runs').get() as { m: number }).m;
  }

  /**
   * Start queued runs (oldest first) while the concurrency limit and the GPU slots allow.
   * Returns the ids started.
   */
  schedule(): string[] {
    return this.queue.schedule();
  }

  /** Add a run to the queue (run directory and config written, nothing started yet). */
  enqueue(
    config: ExperimentConfig,
    extra: { groupId?: string | null; retryOf?: string | null; executor?: ExecutorSpec } = {},
  ): { id: string } {
    return this.queue.enqueue(config, extra);
  }

  /** Take a queued run off the queue (it ends 'stopped' without having started). */
  cancel(id: string): { ok: boolean; message: string } {
    return this.queue.cancel(id);
  }

  /** Queue a new run with the same config (and group) as a failed or stopped one. */
  retry(id: string): { ok: boolean; message: string; id?: string } {
    return this.queue.retry(id);
  }

  /** Poll one run now (ingest; finalise if its process is gone). */
  pollRun(id: string): boolean {
    return pollRunNow(this.ctx, id);
  }

  /** Start a run now (core/run-launch.ts): throws PythonPreflightError or DatabaseLockedError, having started nothing. */
  launch(config: ExperimentConfig, extra: { groupId?: string | null; executor?: ExecutorSpec } = {}): Promise<{ id: string }> {
    return launchRun(this.ctx, config, extra);
  }

  /** Continue a stopped or failed run after its last checkpointed iteration. */
  resume(id: string): Promise<{ ok: boolean; message: string }> {
    return resumeRun(this.ctx, id);
  }

  /** Request a stop: SIGTERM to the process group now, SIGKILL after the grace period. */
  stop(id: string): { ok: boolean; message: string } {
    return stopRun(this.ctx, id);
  }

  /**
   * Decide a run's final status once its process is gone. Ingests everything left first.
   * Returns false if the run was not 'running' (already finalised, possibly elsewhere).
   */
  finalise(id: string, exit?: ExitInfo): boolean {
    return finaliseRun(this.ctx, id, exit);
  }

  /**
   * Resolve when the run is no longer running (polling it here if nobody else does). A database
   * locked by another process, or a full disk, does not end the wait: the follower keeps
   * following (onWait hears why, once per cause) and finalises the run with the exit code its
   * child reported once the database can be written again.
   */
  waitForEnd(id: string, opts: { timeoutMs?: number; onWait?: (why: string) => void } = {}): Promise<RunRow | undefined> {
    const { ctx } = this;
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
    let told: string | null = null;
    return new Promise((resolve, reject) => {
      const check = () => {
        if (ctx.closed) return resolve(undefined);
        try {
          let row = getRunRow(ctx.db, id);
          if (row && row.status === 'running' && !ctx.watching) {
            pollRunNow(ctx, id);
            row = getRunRow(ctx.db, id);
          }
          told = null;
          if (!row || row.status !== 'running' || Date.now() >= deadline) return resolve(row);
          setTimeout(check, this.pollMs);
        } catch (e) {
          const why = transientDbError(e);
          if (why === null) return reject(e);
          if (why !== told) opts.onWait?.(why);
          told = why;
          if (Date.now() >= deadline) return resolve(undefined);
          setTimeout(check, Math.max(this.pollMs, 500));
        }
      };
      check();
    });
  }

  /** Stop watching. Running experiments keep running; a later service re-attaches to them. */
  /** Whether a Slurm job is still the run's (queued or running): a reindex re-attaches such a run. */
  jobAlive(h: RunHandle): boolean {
    return this.ctx.executors.slurm.alive(h);
  }

  close(): void {
    const { ctx } = this;
    if (ctx.closed) return;
    ctx.closed = true;
    if (ctx.timer) clearTimeout(ctx.timer);
    ctx.timer = null;
    clearKillTimers(ctx);
    for (const c of ctx.children.values()) {
      c.removeAllListeners('exit');
      c.unref();
    }
    ctx.children.clear();
  }
}
