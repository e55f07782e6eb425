/**
 * What the parts of the supervisor share (core/supervisor.ts and the modules its header names):
 * its options, the executor, and what this process knows about runs beyond their rows — the
 * children it spawned, kill timers, exit codes not yet written, pids not yet recorded.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { DB } from '../db/open';
import type { RunProcessRecord } from '../db/run-writes';
import type { CommandSpec, Executor, LaunchContext } from './executor';
import type { ExitInfo } from './final-status';
import { LocalExecutor } from './local-executor';
import { ScriptExecutor } from './script-runs';
import { SlurmExecutor } from './slurm-executor';
import { experimentsDir } from './paths';
import { checkPython, type PythonCheck } from './python-check';

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
  /** Lines / bytes of events.jsonl per batch (one transaction) in a poll tick (default DEFAULT_INGEST_BATCH_LINES / _BYTES: 200 / 1 MiB). */
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

/** A launched run whose pid could not be recorded yet, with the log line that goes with it. */
export type PendingPid = RunProcessRecord & { message: string };

export class SupervisorContext {
  readonly db: DB;
  /** This machine's executor (or the one the options give). */
  readonly executor: Executor;
  /** Every executor, by the runs.executor value that names it. */
  readonly executors: { local: Executor; slurm: SlurmExecutor; script: Executor };
  readonly pollMs: number;
  readonly budgetMs: number;
  readonly batch: { maxLines: number; maxBytes: number };
  /** Runs whose process this one spawned: their exit is reported here, not polled. */
  readonly children = new Map<string, ChildProcess>();
  readonly killTimers = new Map<string, NodeJS.Timeout>();
  readonly zombieSince = new Map<string, number>();
  /** Exit codes/signals of children whose finalise failed (database busy or full): used on retry. */
  readonly exits = new Map<string, ExitInfo>();
  /** Free bytes on a run's disk when its child exited with an error, if it was (nearly) full. */
  readonly diskFullAtExit = new Map<string, number>();
  /** Launched runs whose pid could not be recorded yet (database locked): retried every tick. */
  readonly pendingPids = new Map<string, PendingPid>();
  /** The runs running as of the last tick: one missing now has ended (here or elsewhere). */
  lastRunning = new Set<string>();
  /** The poll timer, set from start() until close(). */
  timer: NodeJS.Timeout | null = null;
  closed = false;
  private readonly reported = new Set<string>();

  constructor(readonly opts: SupervisorOptions) {
    this.db = opts.db;
    this.executor = opts.executor ?? new LocalExecutor({ root: opts.root, dataDir: opts.dataDir, commandFor: opts.commandFor });
    this.executors = {
      local: this.executor,
      slurm: new SlurmExecutor({ root: opts.root, dataDir: opts.dataDir, commandFor: opts.commandFor }),
      script: new ScriptExecutor(),
    };
    this.pollMs = opts.pollMs ?? 250;
    this.budgetMs = opts.ingestBudgetMs ?? DEFAULT_INGEST_BUDGET_MS;
    this.batch = {
      maxLines: opts.ingestBatchLines ?? DEFAULT_INGEST_BATCH_LINES,
      maxBytes: opts.ingestBatchBytes ?? DEFAULT_INGEST_BATCH_BYTES,
    };
  }

  /** The executor a run's row names (an unknown name, from a newer version: this machine's). */
  executorOf(row: { executor: string }): Executor {
    return row.executor === 'slurm' || row.executor === 'script' ? this.executors[row.executor] : this.executor;
  }

  get watching(): boolean {
    return this.timer !== null;
  }

  get checksPython(): boolean {
    return this.opts.pythonCheck ?? !this.opts.commandFor;
  }

  /** The interpreter preflight for this python (null when checks are off). */
  async preflight(python = this.opts.python()): Promise<PythonCheck | null> {
    if (!this.checksPython) return null;
    return checkPython(python, { requirements: join(experimentsDir(this.opts.root), 'requirements.txt') });
  }

  notify(ids: string[]): void {
    try {
      this.opts.onChange(ids);
    } catch (e) {
      this.report('(listener)', e);
    }
  }

  /** Print an error once (a tick that keeps failing the same way does not flood stderr). */
  report(id: string, e: unknown): void {
    const msg = `starlab supervisor: ${id}: ${(e as Error)?.message ?? String(e)}`;
    if (this.reported.has(msg)) return;
    this.reported.add(msg);
    console.error(msg);
  }
}
