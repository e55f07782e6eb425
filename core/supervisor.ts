/**
 * Spawns, watches, stops and reconciles experiment processes (the local executor).
 *
 * - launch: run dir + config.json, spawn detached (own process group) with stdio to files,
 *   record pid and pid start time, status 'running'.
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
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, constants as fsConstants, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { delimiter, join } from 'node:path';
import { canonicalJson } from '../shared/canonical-json';
import type { ExperimentConfig } from '../shared/experiment-config';
import { getCursor } from '../db/ingest';
import { addLog, getRunRow, insertRun, nowS, queuedRuns, runningRuns, type RunRow } from '../db/queries';
import type { DB } from '../db/open';
import { EVENTS_INCIDENT_PREFIX, ingestEventsFile, ingestTextLog, tornTailBytes } from './tailer';
import { cachedPythonCheck, checkPython, type PythonCheck } from './python-check';
import { isSameProcess, pidStartTime, readProcStat, signalGroup } from './process-info';
import { experimentsDir, runsDir } from './paths';
import { asFsProblem } from './fs-errors';
import { writeRunRecord, type RunRecord } from './run-record';

export interface LaunchContext {
  runId: string;
  runDir: string;
  configPath: string;
  eventsPath: string;
  python: string;
  config: ExperimentConfig;
  /** Continue after the run directory's last checkpoint (python -m starlab run --resume). */
  resume?: boolean;
  /** CUDA_VISIBLE_DEVICES for the run (a queue's GPU slot). */
  gpuSlot?: string | null;
}

/** The checkpoint format experiments/starlab/checkpoint.py writes (safetensors and JSON only). */
export const CHECKPOINT_FORMAT = 2;

/**
 * A run directory's checkpoint (experiments/starlab/checkpoint.py): its iteration and format
 * (state.json's "format"; absent before format 2, which held pickles), or null when none.
 */
export function checkpointInfo(runDir: string): { iteration: number; format: number } | null {
  // checkpoint.old holds the previous one only if a crash fell between the two renames of a save
  for (const dir of ['checkpoint', 'checkpoint.old']) {
    try {
      const state = JSON.parse(readFileSync(join(runDir, dir, 'state.json'), 'utf8')) as { iteration?: unknown; format?: unknown };
      if (typeof state.iteration === 'number') return { iteration: state.iteration, format: typeof state.format === 'number' ? state.format : 1 };
    } catch {
      // not there (or unreadable): try the next
    }
  }
  return null;
}

/** The iteration of a run directory's checkpoint, or null. */
export function checkpointIteration(runDir: string): number | null {
  return checkpointInfo(runDir)?.iteration ?? null;
}

/** How a run had ended before a resume claimed it: put back when the resume fails before loading its checkpoint. */
interface Ending {
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
  'status', 'status_reason', 'ended_at', 'exit_code', 'signal', 'stderr_tail', 'stop_requested_at',
  'end_status', 'end_error', 'end_t', 'current_iteration', 'current_phase', 'progress_done', 'progress_total',
];

export interface CommandSpec {
  command: string;
  args: string[];
  /** Extra environment variables (the STARLAB_* ones are always set). */
  env?: Record<string, string>;
}

export interface SupervisorOptions {
  db: DB;
  dataDir: string;
  /** Repository root (for PYTHONPATH=<root>/experiments). */
  root: string;
  python: () => string;
  stopGraceMs: () => number;
  /** Override the command a run is started with (tests use a fake experiment). */
  commandFor?: (ctx: LaunchContext) => CommandSpec;
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

export const STDERR_TAIL_BYTES = 4096;
export const DEFAULT_INGEST_BUDGET_MS = 50;
export const DEFAULT_INGEST_BATCH_LINES = 200;
export const DEFAULT_INGEST_BATCH_BYTES = 1024 * 1024;
/** A child that exits with more unread events than this is finalised by the ticks once they are in, not inline. */
const INLINE_FINALISE_BYTES = 256 * 1024;
/** Text-log bytes per run and tick (stdout/stderr into logs). */
const TICK_TEXT_LOG_BYTES = 256 * 1024;
/** A zombie (exited, parent not yet reaped it) is given this long for its parent to finalise it with the exit code. */
const ZOMBIE_GRACE_MS = 1500;

export function eventsPathOf(runDir: string): string {
  return join(runDir, 'events.jsonl');
}

/** Sortable run id: UTC yyyymmdd-hhmmss-xxxx. */
export function newRunId(date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const stamp =
    `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}-` +
    `${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}`;
  return `${stamp}-${randomBytes(2).toString('hex')}`;
}

/** sha256 of the config's canonical JSON (shared/canonical-json.ts: the same text, hence the
 * same hash, as experiments/starlab/config.py config_hash). */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

/** The last `bytes` of a file as text (a partial first character dropped), or null. */
export function readTail(file: string, bytes = STDERR_TAIL_BYTES): string | null {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return null;
    const start = Math.max(0, size - bytes);
    const buf = Buffer.alloc(size - start);
    const n = readSync(fd, buf, 0, buf.length, start);
    let b = buf.subarray(0, n);
    if (start > 0) {
      let i = 0;
      while (i < b.length && i < 4 && (b[i]! & 0xc0) === 0x80) i++; // skip UTF-8 continuation bytes
      b = b.subarray(i);
    }
    return b.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** better-sqlite3's error for a database locked by another connection (SQLITE_BUSY and its extended codes). */
export function isBusyError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * Why a database error is worth waiting out (another process holds a lock; the disk is full
 * or failing for now), or null when it is not. better-sqlite3 reports the SQLite result code.
 */
export function transientDbError(e: unknown): string | null {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string') return null;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'the database is locked by another process';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return 'the disk holding the database is full';
  if (code.startsWith('SQLITE_IOERR')) return `the database cannot be written (${code})`;
  return null;
}

/**
 * A launch refused because another process held the database locked past the busy timeout
 * while the run's row was written: nothing was started and the run directory was removed.
 */
export class DatabaseLockedError extends Error {
  readonly field = 'database';
  constructor(readonly sqliteError: Error) {
    super(
      `the database is locked by another process (${sqliteError.message}: a write waited past the busy timeout); ` +
        'nothing was started: try again when the other process has finished',
    );
    this.name = 'DatabaseLockedError';
  }
}

interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

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
  private readonly pendingPids = new Map<string, { pid: number; startTime: number | null; command: string; message: string }>();
  private lastRunning = new Set<string>();
  /** Highest runs.rowid seen, to notice runs created by other processes. */
  private lastRowid = 0;
  private closed = false;
  readonly pollMs: number;
  private readonly budgetMs: number;
  private readonly batch: { maxLines: number; maxBytes: number };

  constructor(private readonly opts: SupervisorOptions) {
    this.db = opts.db;
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
      if (this.children.has(r.id) || r.pid == null || !isSameProcess(r.pid, r.pid_start_time)) continue;
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
        if ((opts.bounded ? this.pollRow(row, 1, false, this.batch) : this.pollRow(row, Infinity, false)).changed) changed.push(row.id);
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
      const claim = this.db
        .prepare("UPDATE runs SET status = 'running', started_at = ?, gpu_slot = ? WHERE id = ? AND status = 'queued'")
        .run(t, slot, next.id);
      if (claim.changes !== 1) continue; // another process took it
      if (verdict && !verdict.ok) {
        const reason = `not started: ${verdict.message}`;
        this.db.transaction(() => {
          this.db.prepare("UPDATE runs SET status = 'failed', status_reason = ?, ended_at = ? WHERE id = ?").run(reason, t, next.id);
          addLog(this.db, next.id, 'supervisor', 'error', reason, t);
        })();
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
      const sp = this.spawnRun(ctx);
      if ('error' in sp) {
        const fail = (error: Error) => {
          if (this.closed) return;
          const reason = `could not start ${sp.command}: ${error.message}`;
          this.db.transaction(() => {
            this.db
              .prepare("UPDATE runs SET status = 'failed', status_reason = ?, ended_at = ? WHERE id = ? AND status = 'running'")
              .run(reason, nowS(), next.id);
            addLog(this.db, next.id, 'supervisor', 'error', `${reason} (command: ${sp.cmdline})`);
          })();
          this.notify([next.id]);
        };
        if (sp.error instanceof Error) fail(sp.error);
        else void sp.error.then(fail).catch((e: unknown) => this.report(next.id, e));
        started.push(next.id);
        continue;
      }
      this.db.transaction(() => {
        this.db.prepare('UPDATE runs SET pid = ?, pid_start_time = ?, python = ? WHERE id = ?').run(sp.pid, sp.startTime, sp.command, next.id);
        addLog(this.db, next.id, 'supervisor', 'info',
          `started from the queue: ${sp.cmdline} (pid ${sp.pid}${slot !== null ? `, CUDA_VISIBLE_DEVICES=${slot}` : ''})`, t);
      })();
      this.watchChild(next.id, sp.child, sp.pid);
      started.push(next.id);
    }
    if (started.length) this.notify(started);
    return started;
  }

  /** Add a run to the queue (run directory and config written, nothing started yet). */
  enqueue(config: ExperimentConfig, extra: { groupId?: string | null; retryOf?: string | null } = {}): { id: string } {
    let id = newRunId();
    const base = runsDir(this.opts.dataDir);
    while (existsSync(join(base, id)) || getRunRow(this.db, id)) id = newRunId();
    const runDir = join(base, id);
    mkdirSync(join(runDir, 'artifacts'), { recursive: true });
    writeFileSync(join(runDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
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
    const r = this.db
      .prepare("UPDATE runs SET status = 'stopped', status_reason = 'cancelled before it started', ended_at = ? WHERE id = ? AND status = 'queued'")
      .run(t, id);
    if (r.changes !== 1) return { ok: false, message: `run ${id} is not queued` };
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
          const r = first ? this.pollRow(row, 1, true, this.batch) : this.ingestBatch(row);
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
          this.db.prepare('UPDATE runs SET pid = ?, pid_start_time = ?, python = ? WHERE id = ? AND pid IS NULL').run(p.pid, p.startTime, p.command, id);
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
   * anything changed. deferZombies: give an exited-but-unreaped process's parent (another
   * starlab process, which knows the exit code) a moment to finalise it first.
   */
  private pollRow(
    row: RunRow,
    maxBatches: number,
    deferZombies: boolean,
    limits: { maxLines?: number; maxBytes?: number } = {},
  ): { changed: boolean; more: boolean } {
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
    if (isSameProcess(row.pid, row.pid_start_time)) {
      this.zombieSince.delete(row.id);
      return result(changed);
    }
    const ps = readProcStat(row.pid);
    if (deferZombies && ps && ps.state === 'Z' && ps.ppid !== 1 && (row.pid_start_time == null || ps.startTime === row.pid_start_time)) {
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
    return this.pollRow(row, Infinity, false).changed;
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
    let id = newRunId();
    const base = runsDir(this.opts.dataDir);
    while (existsSync(join(base, id)) || getRunRow(this.db, id)) id = newRunId();
    const runDir = join(base, id);
    const configPath = join(runDir, 'config.json');
    const ctx: LaunchContext = { runId: id, runDir, configPath, eventsPath: eventsPathOf(runDir), python: this.opts.python(), config };
    const t = nowS();
    try {
      mkdirSync(join(runDir, 'artifacts'), { recursive: true });
      writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n');
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
          python: ctx.python,
        });
      }).immediate();
    } catch (e) {
      // Nothing was started: leave no directory without a row behind.
      try {
        rmSync(runDir, { recursive: true, force: true });
      } catch {
        // (runs/ unusable, e.g. a file: there is no directory to remove, and the error below says why)
      }
      if (isBusyError(e)) throw new DatabaseLockedError(e as Error);
      // a full disk, a read-only or unwritable data dir: one sentence naming where (runs/ or the database)
      const onDisk = typeof (e as NodeJS.ErrnoException | null)?.path === 'string'; // else the row insert (SQLite)
      throw asFsProblem(e, { action: 'start the run', path: onDisk || !this.db.name ? base : this.db.name, again: 'launch again' });
    }
    const started = this.spawnRun(ctx);
    if ('error' in started) {
      const error = started.error instanceof Error ? started.error : await started.error;
      const reason = `could not start ${started.command}: ${error.message}`;
      const tf = nowS();
      this.db.transaction(() => {
        this.db
          .prepare("UPDATE runs SET status = 'failed', status_reason = ?, started_at = NULL, ended_at = ?, python = ? WHERE id = ? AND status = 'running'")
          .run(reason, tf, started.command, id);
        addLog(this.db, id, 'supervisor', 'error', `${reason} (command: ${started.cmdline})`, tf);
      })();
      this.notify([id]);
      return { id };
    }
    const message = `started: ${started.cmdline} (pid ${started.pid}, run dir ${runDir})`;
    try {
      this.db.transaction(() => {
        this.db.prepare('UPDATE runs SET pid = ?, pid_start_time = ?, python = ? WHERE id = ?').run(started.pid, started.startTime, started.command, id);
        addLog(this.db, id, 'supervisor', 'info', message, t);
      })();
    } catch (e) {
      // Locked again between the row and the pid (or the disk is full): the process runs and is
      // watched here; the pid is recorded by a later tick (other processes wait for it meanwhile).
      this.report(id, e);
      this.pendingPids.set(id, { pid: started.pid, startTime: started.startTime, command: started.command, message });
    }
    this.watchChild(id, started.child, started.pid);
    return { id };
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
    if (!existsSync(configPath)) writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n');
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
      const now = getRunRow(this.db, id);
      if (!now || (now.status !== 'stopped' && now.status !== 'failed')) return false;
      const ending = Object.fromEntries(ENDING_COLUMNS.map((c) => [c, now[c]])) as unknown as Ending;
      const r = this.db
        .prepare(
          `UPDATE runs SET status = 'running', status_reason = NULL, ended_at = NULL, exit_code = NULL, signal = NULL,
             stderr_tail = NULL, stop_requested_at = NULL, end_status = NULL, end_error = NULL, end_t = NULL,
             pid = NULL, pid_start_time = NULL, resumed_at = ?, resume_count = resume_count + 1, resume_prev_json = ?
           WHERE id = ? AND status IN ('stopped', 'failed')`,
        )
        .run(nowS(), JSON.stringify(ending), id);
      return r.changes === 1;
    }).immediate();
    if (!claimed) return { ok: false, message: `run ${id} is no longer stopped or failed (resumed elsewhere?)` };
    // A line torn by the old process's death is ended here, so the new process's first event
    // does not land on the same line (the emitter does this too; a writer that does not is safe).
    const torn = tornTailBytes(this.db, id, ctx.eventsPath);
    if (torn > 0) {
      appendFileSync(ctx.eventsPath, '\n');
      addLog(this.db, id, 'supervisor', 'warning', `events.jsonl ended with an incomplete line of ${torn} bytes (the previous process died while writing it): terminated it before resuming; it is counted as malformed`);
    }
    const started = this.spawnRun(ctx);
    const t = nowS();
    if ('error' in started) {
      const error = started.error instanceof Error ? started.error : await started.error;
      this.db.transaction(() => {
        this.restoreEnding(id);
        addLog(this.db, id, 'supervisor', 'error', `could not resume: ${error.message} (command: ${started.cmdline}); the run is as it was`, t);
      })();
      this.notify([id]);
      return { ok: false, message: `could not start ${started.command}: ${error.message}` };
    }
    this.db.transaction(() => {
      this.db.prepare('UPDATE runs SET pid = ?, pid_start_time = ?, python = ? WHERE id = ?').run(started.pid, started.startTime, started.command, id);
      addLog(this.db, id, 'supervisor', 'info', `resumed after iteration ${iteration}: ${started.cmdline} (pid ${started.pid})`, t);
    })();
    this.watchChild(id, started.child, started.pid);
    return { ok: true, message: `resumed run ${id} after iteration ${iteration} (pid ${started.pid})` };
  }

  /** Spawn the experiment process of a run (detached: its own process group; stdio appended to files). */
  private spawnRun(
    ctx: LaunchContext,
  ):
    | { command: string; cmdline: string; child: ChildProcess; pid: number; startTime: number | null }
    | { command: string; cmdline: string; error: Error | Promise<Error> } {
    const cmd = this.opts.commandFor
      ? this.opts.commandFor(ctx)
      : {
          command: ctx.python,
          args: ['-m', 'starlab', 'run', '--config', ctx.configPath, ...(ctx.resume ? ['--resume'] : [])],
        };
    const pyPath = [experimentsDir(this.opts.root), process.env.PYTHONPATH].filter(Boolean).join(delimiter);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...cmd.env,
      STARLAB_EVENTS: ctx.eventsPath,
      STARLAB_RUN_DIR: ctx.runDir,
      STARLAB_RUN_ID: ctx.runId,
      // the app's data dir: datasets imported into <dataDir>/datasets are found by the loaders
      STARLAB_DATA_DIR: this.opts.dataDir,
      ...(ctx.gpuSlot != null ? { CUDA_VISIBLE_DEVICES: ctx.gpuSlot } : {}),
      PYTHONPATH: pyPath,
      PYTHONUNBUFFERED: '1',
    };
    const cmdline = [cmd.command, ...cmd.args].map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ');
    let out: number | null = null;
    let err: number | null = null;
    let child: ChildProcess | null = null;
    let syncError: Error | null = null;
    try {
      // (inside the try: a run directory that vanished is a failed start, not an exception)
      out = openSync(join(ctx.runDir, 'stdout.log'), APPEND_NO_LINKS);
      err = openSync(join(ctx.runDir, 'stderr.log'), APPEND_NO_LINKS);
      // Never the run directory as the working directory: `python -m` puts the working
      // directory first on sys.path, so a run directory from someone else's bundle holding a
      // starlab/ or torch.py would be imported (and run). The experiments directory is this
      // installation's own code; the run directory reaches the child as STARLAB_RUN_DIR.
      child = spawn(cmd.command, cmd.args, { cwd: experimentsDir(this.opts.root), detached: true, stdio: ['ignore', out, err], env, windowsHide: true });
    } catch (e) {
      syncError = e as Error;
    } finally {
      if (out !== null) closeSync(out);
      if (err !== null) closeSync(err);
    }
    if (!child || child.pid === undefined)
      return { command: cmd.command, cmdline, error: syncError ?? (child ? spawnError(child) : new Error('spawn failed')) };
    return { command: cmd.command, cmdline, child, pid: child.pid, startTime: pidStartTime(child.pid) };
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
        this.db.prepare("UPDATE runs SET exit_code = ?, signal = ? WHERE id = ? AND status = 'running'").run(code, signal, id);
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
      // Leftover members of the run's process group (e.g. data loader workers).
      if (process.platform !== 'win32') {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // the group is empty: nothing left behind
        }
      }
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
    this.db.prepare('UPDATE runs SET stop_requested_at = coalesce(stop_requested_at, ?) WHERE id = ?').run(t, id);
    const child = this.children.get(id);
    const pid = row.pid;
    if (pid == null || (!child && !isSameProcess(pid, row.pid_start_time))) {
      this.finalise(id);
      this.notify([id]);
      return { ok: true, message: `run ${id} had already exited` };
    }
    const grace = this.opts.stopGraceMs();
    addLog(this.db, id, 'supervisor', 'info', `stop requested: SIGTERM to process group ${pid}; SIGKILL in ${grace / 1000} s if still running`, t);
    signalGroup(pid, 'SIGTERM');
    if (!this.killTimers.has(id)) {
      const startTime = row.pid_start_time;
      const timer = setTimeout(() => {
        this.killTimers.delete(id);
        if (this.closed) return;
        const still = child ? child.exitCode === null && child.signalCode === null : isSameProcess(pid, startTime);
        if (!still) return;
        try {
          addLog(this.db, id, 'supervisor', 'warning', `still running ${grace / 1000} s after SIGTERM: SIGKILL to process group ${pid}`);
        } catch {
          // the database may be busy; the kill matters more
        }
        signalGroup(pid, 'SIGKILL');
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
        const exitDesc = exit ? (exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`) : 'the process disappeared';
        const why = [row.end_error, exitDesc, ...this.eventsAccount(row)].filter(Boolean).join('; ');
        const tail = readTail(join(row.run_dir, 'stderr.log'), 1024)?.trim().split('\n').slice(-3).join(' | ');
        if (!this.restoreEnding(id)) return;
        addLog(db, id, 'supervisor', 'error', `resume failed before the checkpoint was loaded (${why})${tail ? `; stderr: ${tail}` : ''}; nothing was dropped: the run is as it was before the resume`, t);
        done = true;
        return;
      }
      const notes = this.eventsAccount(row);
      let status: 'completed' | 'failed' | 'stopped';
      let reason: string | null;
      const exitDesc = exit
        ? exit.signal
          ? `killed by ${exit.signal}`
          : `exited with code ${exit.code}`
        : null;
      if (row.end_status === 'completed' || row.end_status === 'failed' || row.end_status === 'stopped') {
        status = row.end_status;
        reason =
          status === 'completed'
            ? null
            : row.end_error ?? (status === 'stopped' ? (row.stop_requested_at ? 'stopped by user' : 'stopped') : exitDesc ?? 'the experiment reported failure');
        if (status === 'completed' && exit && (exit.code !== 0 || exit.signal))
          addLog(db, id, 'supervisor', 'warning', `run_end reported completed but the process ${exitDesc}`, t);
      } else if (row.stop_requested_at) {
        status = 'stopped';
        reason = `stopped by user${exitDesc ? ` (${exitDesc})` : ''}`;
      } else {
        status = 'failed';
        reason = exitDesc
          ? exit!.code === 0
            ? 'exited with code 0 without a run_end event'
            : exitDesc
          : 'process disappeared without a run_end event';
      }
      if (notes.length) reason = reason ? `${reason}; ${notes.join('; ')}` : notes.join('; ');
      const tail = status === 'completed' ? null : readTail(join(row.run_dir, 'stderr.log'));
      const r = db
        .prepare(
          `UPDATE runs SET status = ?, status_reason = ?, ended_at = ?, exit_code = ?, signal = ?, stderr_tail = ?
           WHERE id = ? AND status = 'running'`,
        )
        .run(status, reason, row.end_t ?? t, exit?.code ?? null, exit?.signal ?? null, tail, id);
      if (r.changes === 0) return;
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
   * Put back the ending a resume claimed the run from (runs.resume_prev_json). Returns false when
   * there is none, or the run is no longer running.
   */
  private restoreEnding(id: string): boolean {
    const row = getRunRow(this.db, id);
    if (!row || row.status !== 'running' || row.resume_prev_json === null) return false;
    const ending = JSON.parse(row.resume_prev_json) as Ending;
    const sets = ENDING_COLUMNS.map((c) => `${c} = @${c}`).join(', ');
    const r = this.db
      .prepare(`UPDATE runs SET ${sets}, pid = NULL, pid_start_time = NULL, resume_prev_json = NULL WHERE id = @id AND status = 'running'`)
      .run({ ...ending, id });
    return r.changes === 1;
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

  isChild(id: string): boolean {
    return this.children.has(id);
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

/** The run's log files are appended to, never through a symbolic link planted in their place. */
const APPEND_NO_LINKS = fsConstants.O_WRONLY | fsConstants.O_APPEND | fsConstants.O_CREAT | (fsConstants.O_NOFOLLOW ?? 0);

/** Below this much free space the run's disk counts as full in the status reason. */
const DISK_FULL_BYTES = 1024 * 1024;

/** Bytes available to this user on the file system holding dir (null when unknown). */
function freeBytes(dir: string): number | null {
  try {
    const st = statfsSync(dir);
    return st.bavail * st.bsize;
  } catch {
    return null;
  }
}

/** The run row's columns that come from its config (launch, enqueue and reindex write the same). */
export function configColumns(config: ExperimentConfig) {
  return {
    variant: config.variant,
    dataset: config.dataset,
    preset: config.preset,
    seed: config.seed,
    model: config.model.name,
    config_json: JSON.stringify(config),
    config_hash: configHash(config),
  };
}

function spawnError(child: ChildProcess): Promise<Error> {
  return new Promise((resolve) => {
    child.once('error', resolve);
    setTimeout(() => resolve(new Error('the process did not start')), 2000).unref();
  });
}
