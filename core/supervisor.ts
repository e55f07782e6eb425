/**
 * Decides what runs and when, follows what each run writes, and decides how it ended. Where
 * the process lives is the executor's business (core/executor.ts; this machine by default,
 * core/local-executor.ts); the run row's transitions are named writes in db/run-writes.ts and
 * the final status is the pure decideFinalStatus (core/final-status.ts).
 *
 * - launch: run dir + config.json, the row (status 'running'), then the executor starts the
 *   process; its pid and pid start time are recorded.
 * - schedule: queued runs start (oldest first) while the concurrency limit and GPU slots allow.
 * - watch: every pollMs, ingest the events of every 'running' run in the database (also runs
 *   started by other processes), copy stdout/stderr lines into logs, and finalise runs whose
 *   process is gone. A child spawned here reports its exit code/signal directly. The process
 *   that watches also answers the UI, so a tick ingests in bounded batches, one run after the
 *   other (round-robin, resuming where the last tick stopped), yields to the event loop between
 *   batches and stops after a time budget; a backlog is continued on the next tick.
 * - finalise: ingest the rest, then the run_end event's status if any; else 'stopped' if a
 *   stop was requested; else 'failed' with the reason and the tail of stderr.log.
 * - stop: stop_requested_at, SIGTERM to the process group, SIGKILL after the grace period.
 */
import type { ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, rmSync, statSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { join } from 'node:path';
import type { ExperimentConfig } from '../shared/experiment-config';
import { getCursor } from '../db/ingest';
import { addLog, getRunRow, insertRun, nowS, queuedRuns, runningRuns, type RunRow } from '../db/queries';
import {
  cancelQueuedRun, claimForResume, claimQueuedRun, markStartFailed, recordExit, recordProcess, recordStopRequest, restoreEnding, writeEnding,
  type RunProcessRecord,
} from '../db/run-writes';
import type { DB } from '../db/open';
import { EVENTS_INCIDENT_PREFIX, ingestEventsFile, ingestTextLog, tornTailBytes } from './tailer';
import { cachedPythonCheck, checkPython, type PythonCheck } from './python-check';
import { experimentsDir, runsDir } from './paths';
import { asFsProblem } from './fs-errors';
import { writeRunRecord, type RunRecord } from './run-record';
import { DatabaseLockedError, isBusyError, transientDbError } from './db-errors';
import { startFailed, type CommandSpec, type Executor, type LaunchContext, type Started } from './executor';
import { LocalExecutor } from './local-executor';
import { decideFinalStatus, describeExit, type ExitInfo } from './final-status';
import {
  CHECKPOINT_FORMAT, DISK_FULL_BYTES, checkpointInfo, configColumns, createRunDir, eventsPathOf, freeBytes, readTail, writeConfigFile,
} from './run-files';

export type { CommandSpec, LaunchContext } from './executor';

export interface SupervisorOptions {
  db: DB;
  dataDir: string;
  /** Repository root (for PYTHONPATH=<root>/experiments). */
  root: string;
  python: () => string;
  stopGraceMs: () => number;
  /** Override the command a run is started with (tests use a fake experiment); ignored with `executor`. */
  commandFor?: (ctx: LaunchContext) => CommandSpec;
  /** Where runs' processes live (default: this machine, core/local-executor.ts). */
  executor?: Executor;
  /** The queue: at most this many runs running at once (0: no limit) … */
  maxConcurrent?: () => number;
  /** … and, when set, one GPU slot (a CUDA_VISIBLE_DEVICES value) per running queued run. */
  gpuSlots?: () => string[];
  pollMs?: number;
  /**
   * Ingest work per poll tick (ms, default 50): the tick yields to the event loop between
   * batches and, once the budget is spent, leaves the rest for the next tick (which follows
   * after the same time again rather than after pollMs, so a backlog gets about half the loop).
   */
  ingestBudgetMs?: number;
  /** Lines / bytes of events.jsonl per batch (one transaction) in a poll tick (default 500 / 1 MiB). */
  ingestBatchLines?: number;
  ingestBatchBytes?: number;
  /**
   * Check the interpreter (version, torch/transformers/peft) before a launch, resume or
   * queue start, refusing with a message that names it (core/python-check.ts). Default:
   * on unless commandFor replaces the interpreter command.
   */
  pythonCheck?: boolean;
  /** Why no queued run may start now (null: they may), e.g. a damaged database. */
  canStart?: () => string | null;
  /** Called with the ids of runs whose rows, metrics or logs changed. */
  onChange: (ids: string[]) => void;
}

export const DEFAULT_INGEST_BUDGET_MS = 50;
export const DEFAULT_INGEST_BATCH_LINES = 200;
export const DEFAULT_INGEST_BATCH_BYTES = 1024 * 1024;
/** A child that exits with more unread events than this is finalised by the ticks once they are in, not inline. */
const INLINE_FINALISE_BYTES = 256 * 1024;
/** Text-log bytes per run and tick (stdout/stderr into logs). */
const TICK_TEXT_LOG_BYTES = 256 * 1024;
/** A zombie (exited, parent not yet reaped it) is given this long for its parent to finalise it with the exit code. */
const ZOMBIE_GRACE_MS = 1500;

/** A launch refused by the interpreter preflight (nothing was created or started). */
export class PythonPreflightError extends Error {
  readonly field = 'python';
  constructor(readonly check: Extract<PythonCheck, { ok: false }>) {
    super(check.message);
    this.name = 'PythonPreflightError';
  }
}

export class Supervisor {
  private readonly db: DB;
  private readonly children = new Map<string, ChildProcess>();
  private readonly killTimers = new Map<string, NodeJS.Timeout>();
  private readonly zombieSince = new Map<string, number>();
  private readonly reported = new Set<string>();
  /** Exit codes/signals of children whose finalise failed (database busy or full): used on retry. */
  private readonly exits = new Map<string, ExitInfo>();
  /** Free bytes on a run's disk when its child exited with an error, if it was (nearly) full. */
  private readonly diskFullAtExit = new Map<string, number>();
  private preflightRunning = false;
  private timer: NodeJS.Timeout | null = null;
  private ticking = false;
  /** The run a budgeted tick stopped at: the next tick starts with it (round-robin). */
  private nextRun: string | null = null;
  /** Launched runs whose pid could not be recorded yet (database locked): retried every tick. */
  private readonly pendingPids = new Map<string, RunProcessRecord & { message: string }>();
  private lastRunning = new Set<string>();
  /** Highest runs.rowid seen, to notice runs created by other processes. */
  private lastRowid = 0;
  private closed = false;
  readonly pollMs: number;
  private readonly budgetMs: number;
  private readonly batch: { maxLines: number; maxBytes: number };
  private readonly executor: Executor;

  constructor(private readonly opts: SupervisorOptions) {
    this.db = opts.db;
    this.executor = opts.executor ?? new LocalExecutor({ root: opts.root, dataDir: opts.dataDir, commandFor: opts.commandFor });
    this.pollMs = opts.pollMs ?? 250;
    this.budgetMs = opts.ingestBudgetMs ?? DEFAULT_INGEST_BUDGET_MS;
    this.batch = { maxLines: opts.ingestBatchLines ?? DEFAULT_INGEST_BATCH_LINES, maxBytes: opts.ingestBatchBytes ?? DEFAULT_INGEST_BATCH_BYTES };
  }

  get watching(): boolean {
    return this.timer !== null;
  }

  private get checksPython(): boolean {
    return this.opts.pythonCheck ?? !this.opts.commandFor;
  }

  /** The interpreter preflight for this python (null when checks are off). */
  async preflight(python = this.opts.python()): Promise<PythonCheck | null> {
    if (!this.checksPython) return null;
    return checkPython(python, { requirements: join(experimentsDir(this.opts.root), 'requirements.txt') });
  }

  /** Reconcile, then poll every pollMs until close(). */
  start(): void {
    if (this.timer || this.closed) return;
    // One batch per run here: a big backlog left by a crash is taken by the budgeted ticks,
    // so a restarted app answers at once (a dead run is finalised once its events are in).
    this.reconcile({ bounded: true });
    for (const r of runningRuns(this.db)) {
      if (this.children.has(r.id) || r.pid == null || !this.executor.alive(r.pid, r.pid_start_time)) continue;
      try {
        addLog(this.db, r.id, 'supervisor', 'info', `watching pid ${r.pid} (still alive with the same start time): re-attached`);
      } catch (e) {
        this.report(r.id, e);
      }
    }
    this.lastRunning = new Set(runningRuns(this.db).map((r) => r.id));
    this.lastRowid = this.maxRowid();
    this.armTimer(this.pollMs);
  }

  private armTimer(ms: number): void {
    if (this.closed) return;
    this.timer = setTimeout(() => this.tick(), ms);
  }

  /**
   * Ingest everything pending for every 'running' run (bounded: one batch each, the rest is
   * left to the ticks); re-attach those whose process is alive with the same start time,
   * finalise the others once their events are in. Returns the changed run ids.
   */
  reconcile(opts: { bounded?: boolean } = {}): string[] {
    const changed: string[] = [];
    for (const row of runningRuns(this.db)) {
      try {
        const poll = opts.bounded ? { maxBatches: 1, limits: this.batch } : { maxBatches: Infinity };
        if (this.pollRow(row, poll).changed) changed.push(row.id);
      } catch (e) {
        this.report(row.id, e);
      }
    }
    if (changed.length) this.notify(changed);
    return changed;
  }

  /** One poll tick (async: it yields between batches); the next is armed when it is done. */
  private tick(): void {
    if (this.closed || this.ticking) return;
    this.ticking = true;
    let backlog = false;
    this.tickInner()
      .then((b) => (backlog = b))
      .catch((e: unknown) => this.report('(poll)', e))
      .finally(() => {
        this.ticking = false;
        if (this.timer) this.armTimer(backlog ? Math.min(this.pollMs, this.budgetMs) : this.pollMs);
      });
  }

  /**
   * Start queued runs (oldest first) while the concurrency limit and the GPU slots allow.
   * Each start is claimed with a conditional UPDATE, so two processes on one database never
   * start the same run. Returns the ids started.
   */
  schedule(): string[] {
    const started: string[] = [];
    if (this.closed) return started;
    if (this.opts.canStart?.()) return started; // e.g. the database is damaged: leave the queue as it is
    for (;;) {
      const limit = this.opts.maxConcurrent?.() ?? 0;
      const running = runningRuns(this.db);
      if (limit > 0 && running.length >= limit) break;
      const next = queuedRuns(this.db)[0];
      if (!next) break;
      const slots = this.opts.gpuSlots?.() ?? [];
      let slot: string | null = null;
      if (slots.length) {
        const used = new Set(running.map((r) => r.gpu_slot).filter((s): s is string => s !== null));
        slot = slots.find((s) => !used.has(s)) ?? null;
        if (slot === null) break;
      }
      let verdict: PythonCheck | undefined | null = null;
      if (this.checksPython) {
        const python = this.opts.python();
        verdict = cachedPythonCheck(python);
        if (verdict === undefined) {
          // Importing torch takes seconds: check in the background, schedule again when known.
          if (!this.preflightRunning) {
            this.preflightRunning = true;
            void this.preflight(python)
              .catch((e: unknown) => this.report('(python check)', e))
              .finally(() => {
                this.preflightRunning = false;
                try {
                  if (this.watching && !this.closed) this.schedule();
                } catch (e) {
                  this.report('(queue)', e);
                }
              });
          }
          break;
        }
      }
      const t = nowS();
      if (!claimQueuedRun(this.db, next.id, t, slot)) continue; // another process took it
      if (verdict && !verdict.ok) {
        const reason = `not started: ${verdict.message}`;
        this.db.transaction(() => markStartFailed(this.db, next.id, reason, { t }))();
        started.push(next.id);
        continue;
      }
      const config = JSON.parse(next.config_json) as ExperimentConfig;
      const ctx: LaunchContext = {
        runId: next.id,
        runDir: next.run_dir,
        configPath: join(next.run_dir, 'config.json'),
        eventsPath: eventsPathOf(next.run_dir),
        python: this.opts.python(),
        config,
        gpuSlot: slot,
      };
      const sp = this.executor.start(ctx);
      if (startFailed(sp)) {
        const fail = (error: Error) => {
          if (this.closed) return;
          this.db.transaction(() => this.recordStartFailure(next.id, sp, error))();
          this.notify([next.id]);
        };
        if (sp.error instanceof Error) fail(sp.error);
        else void sp.error.then(fail).catch((e: unknown) => this.report(next.id, e));
        started.push(next.id);
        continue;
      }
      this.db.transaction(() => {
        recordProcess(this.db, next.id, sp);
        addLog(this.db, next.id, 'supervisor', 'info',
          `started from the queue: ${sp.cmdline} (pid ${sp.pid}${slot !== null ? `, CUDA_VISIBLE_DEVICES=${slot}` : ''})`, t);
      })();
      this.watch(next.id, sp);
      started.push(next.id);
    }
    if (started.length) this.notify(started);
    return started;
  }

  /** Add a run to the queue (run directory and config written, nothing started yet). */
  enqueue(config: ExperimentConfig, extra: { groupId?: string | null; retryOf?: string | null } = {}): { id: string } {
    const { id, runDir } = createRunDir(runsDir(this.opts.dataDir), config, (x) => !!getRunRow(this.db, x));
    const t = nowS();
    writeRunRecord(runDir, { id, createdAt: t, group: this.groupRecord(extra.groupId ?? null), retryOf: extra.retryOf ?? null });
    this.db.transaction(() => {
      insertRun(this.db, {
        id,
        group_id: extra.groupId ?? null,
        retry_of: extra.retryOf ?? null,
        ...configColumns(config),
        status: 'queued',
        created_at: t,
        run_dir: runDir,
      });
      addLog(this.db, id, 'supervisor', 'info', extra.retryOf ? `queued (a retry of ${extra.retryOf})` : 'queued', t);
    })();
    this.notify([id]);
    return { id };
  }

  /** A group as runs/<id>/run.json keeps it (so a reindex can put the run back in its group). */
  private groupRecord(groupId: string | null): RunRecord['group'] {
    if (groupId === null) return null;
    const g = this.db.prepare('SELECT id, name, created_at, spec_json FROM experiment_groups WHERE id = ?').get(groupId) as
      | { id: string; name: string; created_at: number; spec_json: string | null }
      | undefined;
    return g ? { id: g.id, name: g.name, createdAt: g.created_at, spec: g.spec_json } : null;
  }

  /** Take a queued run off the queue (it ends 'stopped' without having started). */
  cancel(id: string): { ok: boolean; message: string } {
    const t = nowS();
    if (!cancelQueuedRun(this.db, id, t)) return { ok: false, message: `run ${id} is not queued` };
    addLog(this.db, id, 'supervisor', 'info', 'cancelled before it started', t);
    this.notify([id]);
    return { ok: true, message: `cancelled run ${id}` };
  }

  /** Queue a new run with the same config (and group) as a failed or stopped one. */
  retry(id: string): { ok: boolean; message: string; id?: string } {
    const row = getRunRow(this.db, id);
    if (!row) return { ok: false, message: `no run "${id}"` };
    if (row.status !== 'failed' && row.status !== 'stopped') return { ok: false, message: `run ${id} is ${row.status}: only failed or stopped runs are retried` };
    const { id: newId } = this.enqueue(JSON.parse(row.config_json) as ExperimentConfig, { groupId: row.group_id, retryOf: id });
    if (this.watching) this.schedule();
    return { ok: true, message: `queued ${newId} (a retry of ${id})`, id: newId };
  }

  /** Returns whether events were left for the next tick (the budget ran out). */
  private async tickInner(): Promise<boolean> {
    const changed = new Set<string>();
    this.recordPendingPids();
    const rows = runningRuns(this.db);
    for (const row of rows) if (!this.lastRunning.has(row.id)) changed.add(row.id); // launched by another process
    const backlog = await this.ingestRound(rows, changed);
    if (this.closed) return false;
    const now = new Set(runningRuns(this.db).map((r) => r.id));
    for (const id of this.lastRunning) if (!now.has(id)) changed.add(id); // ended (here or elsewhere)
    for (const id of this.schedule()) changed.add(id); // slots freed: start queued runs
    // Runs created by other processes (a CLI launch), even ones that already ended.
    const fresh = this.db.prepare('SELECT rowid AS r, id FROM runs WHERE rowid > ? ORDER BY rowid').all(this.lastRowid) as { r: number; id: string }[];
    for (const f of fresh) {
      changed.add(f.id);
      this.lastRowid = Math.max(this.lastRowid, f.r);
    }
    this.lastRunning = new Set(runningRuns(this.db).map((r) => r.id));
    if (changed.size) this.notify([...changed]);
    return backlog;
  }

  /**
   * Round-robin over the running runs, one bounded batch each per pass, yielding to the event
   * loop after every batch, until no run has complete lines left or the time budget is spent.
   * The first pass also copies the text logs and checks each run's process (finalising it once
   * its events are all in). Returns true if the budget ran out with work left; the next tick
   * starts with the run this one could not serve.
   */
  private async ingestRound(rows: RunRow[], changed: Set<string>): Promise<boolean> {
    const deadline = performance.now() + this.budgetMs;
    const start = rows.findIndex((r) => r.id === this.nextRun);
    let active = start > 0 ? [...rows.slice(start), ...rows.slice(0, start)] : rows;
    this.nextRun = null;
    let first = true;
    while (active.length) {
      const more: RunRow[] = [];
      for (const stale of active) {
        if (performance.now() >= deadline) {
          this.nextRun = stale.id;
          return true;
        }
        const row = getRunRow(this.db, stale.id); // the snapshot may be stale after a yield
        if (!row || row.status !== 'running') continue;
        try {
          const r = first ? this.pollRow(row, { maxBatches: 1, limits: this.batch, deferZombies: true }) : this.ingestBatch(row);
          if (r.changed) changed.add(row.id);
          if (r.more) more.push(row);
        } catch (e) {
          this.report(row.id, e);
          // Locked by another process: each further run would wait out the busy timeout too.
          if (isBusyError(e)) return false;
        }
        await yieldToLoop();
        if (this.closed) return false;
      }
      active = more;
      first = false;
    }
    return false;
  }

  /** One bounded batch of a run's events (a later pass of a tick). */
  private ingestBatch(row: RunRow): { changed: boolean; more: boolean } {
    const st = ingestEventsFile(this.db, row.id, eventsPathOf(row.run_dir), { ...this.batch, maxBatches: 1 });
    return { changed: st.applied + st.malformed + st.ignored + st.duplicates > 0 || st.truncated, more: st.more };
  }

  /** Record pids of launched runs whose pid update failed (database locked at that moment). */
  private recordPendingPids(): void {
    for (const [id, p] of this.pendingPids) {
      try {
        this.db.transaction(() => {
          recordProcess(this.db, id, p, { onlyIfUnset: true });
          addLog(this.db, id, 'supervisor', 'info', p.message);
        }).immediate();
        this.pendingPids.delete(id);
      } catch (e) {
        this.report(id, e);
        return; // still locked: try again next tick
      }
    }
  }

  private notify(ids: string[]): void {
    try {
      this.opts.onChange(ids);
    } catch (e) {
      this.report('(listener)', e);
    }
  }

  private maxRowid(): number {
    return (this.db.prepare('SELECT coalesce(max(rowid), 0) AS m FROM runs').get() as { m: number }).m;
  }

  private report(id: string, e: unknown): void {
    const msg = `starlab supervisor: ${id}: ${(e as Error)?.message ?? String(e)}`;
    if (this.reported.has(msg)) return;
    this.reported.add(msg);
    console.error(msg);
  }

  /**
   * Ingest one running run's files; finalise it if its process is gone. Returns whether
   * anything changed. maxBatches: event batches to ingest (Infinity: all; then the text logs
   * are copied whole too). deferZombies: give an exited-but-unreaped process's parent (another
   * starlab process, which knows the exit code) a moment to finalise it first.
   */
  private pollRow(
    row: RunRow,
    o: { maxBatches: number; limits?: { maxLines?: number; maxBytes?: number }; deferZombies?: boolean },
  ): { changed: boolean; more: boolean } {
    const { maxBatches, limits = {}, deferZombies = false } = o;
    let changed = false;
    const st = ingestEventsFile(this.db, row.id, eventsPathOf(row.run_dir), { ...limits, maxBatches });
    if (st.applied || st.malformed || st.ignored || st.truncated || st.duplicates) changed = true;
    const textOpts = maxBatches === Infinity ? {} : { maxBytes: TICK_TEXT_LOG_BYTES };
    if (ingestTextLog(this.db, row.id, join(row.run_dir, 'stdout.log'), 'stdout', textOpts) > 0) changed = true;
    if (ingestTextLog(this.db, row.id, join(row.run_dir, 'stderr.log'), 'stderr', textOpts) > 0) changed = true;
    const result = (c: boolean) => ({ changed: c, more: st.more });
    if (this.children.has(row.id)) return result(changed); // its exit event finalises it
    // Finalised only once its events are in (finalise drains the rest in one transaction; a
    // big backlog is taken batch by batch first so the drain does not block the event loop).
    if (st.more) return result(changed);
    if (row.pid == null) {
      // Spawned (or resumed) by another process that has not recorded the pid yet; give it a moment.
      if (this.pendingPids.has(row.id) || nowS() - Math.max(row.created_at, row.resumed_at ?? 0, row.started_at ?? 0) < 30) return result(changed);
      return result(this.finalise(row.id) || changed);
    }
    if (this.executor.alive(row.pid, row.pid_start_time)) {
      this.zombieSince.delete(row.id);
      return result(changed);
    }
    if (deferZombies && this.executor.awaitingParent(row.pid, row.pid_start_time)) {
      // Exited, and its parent (another process of ours) is about to report the exit code.
      const since = this.zombieSince.get(row.id) ?? Date.now();
      this.zombieSince.set(row.id, since);
      if (Date.now() - since < ZOMBIE_GRACE_MS) return result(changed);
    }
    this.zombieSince.delete(row.id);
    return result(this.finalise(row.id) || changed);
  }

  /** Poll one run now (ingest; finalise if its process is gone). */
  pollRun(id: string): boolean {
    const row = getRunRow(this.db, id);
    if (!row || row.status !== 'running') return false;
    return this.pollRow(row, { maxBatches: Infinity }).changed;
  }

  /**
   * Start a run now. The row is written (status 'running', no pid yet) before the process is
   * spawned, so a process is never started for a run the database does not know. Throws
   * PythonPreflightError if the interpreter check fails, and DatabaseLockedError if another
   * process holds the database locked past the busy timeout; in both cases nothing was
   * started and no run directory is left behind.
   */
  async launch(config: ExperimentConfig, extra: { groupId?: string | null } = {}): Promise<{ id: string }> {
    const verdict = await this.preflight();
    if (verdict && !verdict.ok) throw new PythonPreflightError(verdict);
    const base = runsDir(this.opts.dataDir);
    let dir: { id: string; runDir: string; configPath: string } | null = null;
    const t = nowS();
    try {
      dir = createRunDir(base, config, (x) => !!getRunRow(this.db, x));
      const { id, runDir } = dir;
      writeRunRecord(runDir, { id, createdAt: t, group: this.groupRecord(extra.groupId ?? null), retryOf: null });
      this.db.transaction(() => {
        insertRun(this.db, {
          id,
          group_id: extra.groupId ?? null,
          ...configColumns(config),
          created_at: t,
          run_dir: runDir,
          status: 'running',
          started_at: t,
          python: this.opts.python(),
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
      throw asFsProblem(e, { action: 'start the run', path: onDisk || !this.db.name ? base : this.db.name, again: 'launch again' });
    }
    const { id, runDir, configPath } = dir;
    const ctx: LaunchContext = { runId: id, runDir, configPath, eventsPath: eventsPathOf(runDir), python: this.opts.python(), config };
    const started = this.executor.start(ctx);
    if (startFailed(started)) {
      const error = started.error instanceof Error ? started.error : await started.error;
      this.db.transaction(() => this.recordStartFailure(id, started, error))();
      this.notify([id]);
      return { id };
    }
    const message = `started: ${started.cmdline} (pid ${started.pid}, run dir ${runDir})`;
    try {
      this.db.transaction(() => {
        recordProcess(this.db, id, started);
        addLog(this.db, id, 'supervisor', 'info', message, t);
      })();
    } catch (e) {
      // Locked again between the row and the pid (or the disk is full): the process runs and is
      // watched here; the pid is recorded by a later tick (other processes wait for it meanwhile).
      this.report(id, e);
      this.pendingPids.set(id, { pid: started.pid, startTime: started.startTime, command: started.command, message });
    }
    this.watch(id, started);
    return { id };
  }

  /** A run whose process could not be started: failed, with what was tried (inside a transaction). */
  private recordStartFailure(id: string, s: { command: string; cmdline: string }, error: Error): void {
    const reason = `could not start ${s.command}: ${error.message}`;
    markStartFailed(this.db, id, reason, { t: nowS(), command: s.command, log: `${reason} (command: ${s.cmdline})` });
  }

  /**
   * Continue a stopped or failed run after its last checkpointed iteration: the same run
   * directory, config and events file (seq continues, so nothing is ingested twice).
   */
  async resume(id: string): Promise<{ ok: boolean; message: string }> {
    const row = getRunRow(this.db, id);
    if (!row) return { ok: false, message: `no run "${id}"` };
    if (row.status === 'running' || row.status === 'queued') return { ok: false, message: `run ${id} is ${row.status}` };
    if (row.status === 'completed') return { ok: false, message: `run ${id} completed: there is nothing to resume` };
    const ck = checkpointInfo(row.run_dir);
    if (ck === null)
      return { ok: false, message: `run ${id} has no iteration checkpoint to resume from (it ended before its first iteration did)` };
    if (ck.format < CHECKPOINT_FORMAT)
      return {
        ok: false,
        message:
          `run ${id}'s checkpoint was written by an older STaR Lab in PyTorch's pickle format, which can run code when it is loaded; ` +
          'STaR Lab no longer loads pickles from run directories (a run directory may come from someone else\'s bundle). ' +
          'Retry the run (a new run with the same config), or resume it with the STaR Lab version that wrote it',
      };
    const iteration = ck.iteration;
    const verdict = await this.preflight();
    if (verdict && !verdict.ok) return { ok: false, message: verdict.message };
    const config = JSON.parse(row.config_json) as ExperimentConfig;
    const configPath = join(row.run_dir, 'config.json');
    if (!existsSync(configPath)) writeConfigFile(configPath, config);
    const ctx: LaunchContext = {
      runId: id,
      runDir: row.run_dir,
      configPath,
      eventsPath: eventsPathOf(row.run_dir),
      python: this.opts.python(),
      config,
      resume: true,
    };
    // Claim the run in one transaction (another process may try the same): everything the old
    // process wrote is ingested first. Nothing is deleted here: what the old process stored
    // after the checkpoint (a partial iteration, redone now) is dropped when the new process
    // reports it has loaded the checkpoint (its `resumed` event, db/ingest.ts). Until then the
    // run's ending is kept aside, and a resume that fails first puts it back (finalise).
    const claimed = this.db.transaction(() => {
      ingestEventsFile(this.db, id, ctx.eventsPath, { maxBatches: Infinity });
      return claimForResume(this.db, id, nowS());
    }).immediate();
    if (!claimed) return { ok: false, message: `run ${id} is no longer stopped or failed (resumed elsewhere?)` };
    // A line torn by the old process's death is ended here, so the new process's first event
    // does not land on the same line (the emitter does this too; a writer that does not is safe).
    const torn = tornTailBytes(this.db, id, ctx.eventsPath);
    if (torn > 0) {
      appendFileSync(ctx.eventsPath, '\n');
      addLog(this.db, id, 'supervisor', 'warning', `events.jsonl ended with an incomplete line of ${torn} bytes (the previous process died while writing it): terminated it before resuming; it is counted as malformed`);
    }
    const started = this.executor.start(ctx);
    const t = nowS();
    if (startFailed(started)) {
      const error = started.error instanceof Error ? started.error : await started.error;
      this.db.transaction(() => {
        restoreEnding(this.db, id);
        addLog(this.db, id, 'supervisor', 'error', `could not resume: ${error.message} (command: ${started.cmdline}); the run is as it was`, t);
      })();
      this.notify([id]);
      return { ok: false, message: `could not start ${started.command}: ${error.message}` };
    }
    this.db.transaction(() => {
      recordProcess(this.db, id, started);
      addLog(this.db, id, 'supervisor', 'info', `resumed after iteration ${iteration}: ${started.cmdline} (pid ${started.pid})`, t);
    })();
    this.watch(id, started);
    return { ok: true, message: `resumed run ${id} after iteration ${iteration} (pid ${started.pid})` };
  }

  /**
   * Follow a started run: where this process is its parent, its exit is reported here (and the
   * run finalised with the exit code); otherwise the ticks notice it is gone.
   */
  private watch(id: string, s: Started): void {
    if (s.child) this.watchChild(id, s.child, s.pid);
    else {
      this.lastRunning.add(id);
      this.notify([id]);
    }
  }

  /** Finalise the run when its child exits, and clean up what the process group left behind. */
  private watchChild(id: string, child: ChildProcess, pid: number): void {
    this.children.set(id, child);
    this.lastRunning.add(id);
    child.on('error', (e) => this.report(id, e));
    child.once('exit', (code, signal) => {
      this.children.delete(id);
      this.clearKillTimer(id);
      if (this.closed) return;
      // Kept until finalise succeeds: with the database locked or the disk full it fails now,
      // and the next poll finalises with the real exit code instead of "process disappeared".
      this.exits.set(id, { code, signal });
      // On the row too, so a finalise by a later process (after this one closed with a backlog
      // unread) still knows how the experiment ended.
      try {
        recordExit(this.db, id, code, signal);
      } catch {
        // locked or full: this process still has it in memory
      }
      // Look at the disk now: finalising may only succeed once space was freed again.
      if (code !== 0) {
        const dir = this.runDirOf(id);
        const free = dir ? freeBytes(dir) : null;
        if (free !== null && free < DISK_FULL_BYTES) this.diskFullAtExit.set(id, free);
      }
      try {
        // A big backlog is left to the budgeted ticks (they finalise once it is in, with this
        // exit code): draining it here in one go would block the event loop for seconds.
        if (!this.watching || this.unreadBytes(id) <= INLINE_FINALISE_BYTES) this.finalise(id, { code, signal });
      } catch (e) {
        this.report(id, e);
      }
      this.executor.cleanUp(pid);
      this.notify([id]);
    });
    if (!this.watching) child.unref();
    this.notify([id]);
  }

  private runDirOf(id: string): string | null {
    try {
      return getRunRow(this.db, id)?.run_dir ?? null;
    } catch {
      return null;
    }
  }

  /** Bytes of a run's events file after the ingest cursor (0 if unknown). */
  private unreadBytes(id: string): number {
    const row = getRunRow(this.db, id);
    if (!row) return 0;
    try {
      return Math.max(0, statSync(eventsPathOf(row.run_dir)).size - getCursor(this.db, id).offset);
    } catch {
      return 0;
    }
  }

  /** Request a stop: SIGTERM to the process group now, SIGKILL after the grace period. */
  stop(id: string): { ok: boolean; message: string } {
    const row = getRunRow(this.db, id);
    if (!row) return { ok: false, message: `no run "${id}"` };
    if (row.status !== 'running') return { ok: false, message: `run ${id} is not running (${row.status})` };
    const t = nowS();
    recordStopRequest(this.db, id, t);
    const child = this.children.get(id);
    const pid = row.pid;
    if (pid == null || (!child && !this.executor.alive(pid, row.pid_start_time))) {
      this.finalise(id);
      this.notify([id]);
      return { ok: true, message: `run ${id} had already exited` };
    }
    const grace = this.opts.stopGraceMs();
    addLog(this.db, id, 'supervisor', 'info', `stop requested: SIGTERM to process group ${pid}; SIGKILL in ${grace / 1000} s if still running`, t);
    this.executor.signal(pid, 'SIGTERM');
    if (!this.killTimers.has(id)) {
      const startTime = row.pid_start_time;
      const timer = setTimeout(() => {
        this.killTimers.delete(id);
        if (this.closed) return;
        const still = child ? child.exitCode === null && child.signalCode === null : this.executor.alive(pid, startTime);
        if (!still) return;
        try {
          addLog(this.db, id, 'supervisor', 'warning', `still running ${grace / 1000} s after SIGTERM: SIGKILL to process group ${pid}`);
        } catch {
          // the database may be busy; the kill matters more
        }
        this.executor.signal(pid, 'SIGKILL');
        this.notify([id]);
      }, grace);
      this.killTimers.set(id, timer);
    }
    this.notify([id]);
    return { ok: true, message: `sent SIGTERM to run ${id} (pid ${pid}); SIGKILL follows in ${grace / 1000} s if it does not exit` };
  }

  private clearKillTimer(id: string): void {
    const t = this.killTimers.get(id);
    if (t) clearTimeout(t);
    this.killTimers.delete(id);
  }

  /**
   * Decide a run's final status once its process is gone. Ingests everything left first.
   * Returns false if the run was not 'running' (already finalised, possibly elsewhere).
   */
  finalise(id: string, exitArg?: ExitInfo): boolean {
    const db = this.db;
    let exit = exitArg ?? this.exits.get(id);
    let done = false;
    db.transaction(() => {
      let row = getRunRow(db, id);
      if (!row || row.status !== 'running') return;
      // recorded at the child's exit by the process that spawned it (which may have closed since)
      if (!exit && (row.exit_code !== null || row.signal !== null)) exit = { code: row.exit_code, signal: row.signal as NodeJS.Signals | null };
      ingestEventsFile(db, id, eventsPathOf(row.run_dir), { maxBatches: Infinity });
      for (const s of ['stdout', 'stderr'] as const) {
        for (let i = 0; i < 1000 && ingestTextLog(db, id, join(row.run_dir, `${s}.log`), s, { flush: true }) > 0; i++);
      }
      row = getRunRow(db, id)!;
      const t = nowS();
      if (row.resume_prev_json !== null) {
        // A resume that ended before its process loaded the checkpoint (no `resumed` event):
        // nothing was dropped, and the run gets its ending back.
        const why = [row.end_error, describeExit(exit) ?? 'the process disappeared', ...this.eventsAccount(row)].filter(Boolean).join('; ');
        const tail = readTail(join(row.run_dir, 'stderr.log'), 1024)?.trim().split('\n').slice(-3).join(' | ');
        if (!restoreEnding(db, id)) return;
        addLog(db, id, 'supervisor', 'error', `resume failed before the checkpoint was loaded (${why})${tail ? `; stderr: ${tail}` : ''}; nothing was dropped: the run is as it was before the resume`, t);
        done = true;
        return;
      }
      const { status, reason, warning } = decideFinalStatus({
        endStatus: row.end_status,
        endError: row.end_error,
        stopRequested: row.stop_requested_at !== null,
        exit,
        notes: this.eventsAccount(row),
      });
      if (warning) addLog(db, id, 'supervisor', 'warning', warning, t);
      const tail = status === 'completed' ? null : readTail(join(row.run_dir, 'stderr.log'));
      const ended = writeEnding(db, id, { status, reason, endedAt: row.end_t ?? t, exitCode: exit?.code ?? null, signal: exit?.signal ?? null, stderrTail: tail });
      if (!ended) return;
      addLog(db, id, 'supervisor', status === 'failed' ? 'error' : 'info', `run ${status}${reason ? `: ${reason}` : ''}`, t);
      done = true;
    }).immediate();
    if (done || getRunRow(db, id)?.status !== 'running') {
      this.lastRunning.delete(id);
      this.zombieSince.delete(id);
      this.exits.delete(id);
      this.diskFullAtExit.delete(id);
      this.pendingPids.delete(id);
    }
    return done;
  }

  /**
   * What happened to the run's events file, for the final status reason: no event at all, a
   * torn last line left by a killed writer, the file truncated/replaced/deleted under the run
   * (the tailer's warnings since this process started).
   */
  private eventsAccount(row: RunRow): string[] {
    const notes: string[] = [];
    const file = eventsPathOf(row.run_dir);
    const events = (this.db.prepare('SELECT count(*) AS n FROM run_events WHERE run_id = ?').get(row.id) as { n: number }).n;
    const since = Math.max(row.started_at ?? 0, row.resumed_at ?? 0);
    const incidents = this.db
      .prepare(`SELECT message FROM logs WHERE run_id = ? AND source = 'supervisor' AND level = 'warning' AND t >= ? AND message LIKE ? ORDER BY id`)
      .all(row.id, since - 1, `${EVENTS_INCIDENT_PREFIX}%`) as { message: string }[];
    for (const i of incidents) notes.push(i.message.split(':')[0]!);
    if (events === 0 && !incidents.length) notes.push(existsSync(file) ? 'no complete event line was written' : 'no event was written (there is no events.jsonl)');
    const torn = tornTailBytes(this.db, row.id, file);
    if (torn > 0) notes.push(`events.jsonl ends with an incomplete line of ${torn} bytes (the writer died mid-line; not ingested)`);
    // A full disk also swallows the experiment's own stderr, so say it here.
    const free = this.diskFullAtExit.get(row.id);
    if (free !== undefined) notes.push(`the disk holding the run directory was full when the experiment exited (${free} bytes free)`);
    return notes;
  }

  /**
   * Resolve when the run is no longer running (polling it here if nobody else does). A database
   * locked by another process, or a full disk, does not end the wait: the follower keeps
   * following (onWait hears why, once per cause) and finalises the run with the exit code its
   * child reported once the database can be written again.
   */
  waitForEnd(id: string, opts: { timeoutMs?: number; onWait?: (why: string) => void } = {}): Promise<RunRow | undefined> {
    const deadline = opts.timeoutMs === undefined ? Infinity : Date.now() + opts.timeoutMs;
    let told: string | null = null;
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.closed) return resolve(undefined);
        try {
          let row = getRunRow(this.db, id);
          if (row && row.status === 'running' && !this.watching) {
            this.pollRun(id);
            row = getRunRow(this.db, id);
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
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const t of this.killTimers.values()) clearTimeout(t);
    this.killTimers.clear();
    for (const c of this.children.values()) {
      c.removeAllListeners('exit');
      c.unref();
    }
    this.children.clear();
  }
}
