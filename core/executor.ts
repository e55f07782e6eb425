/**
 * Where a run's process lives. The supervisor decides what runs and when, ingests what it
 * writes and decides how it ended; an executor only starts the process, says whether it is
 * still there and signals it. The local executor (core/local-executor.ts) spawns a detached
 * process group on this machine; a cluster executor is a second implementation of this
 * interface, not a fork of the supervisor.
 */
import type { ChildProcess } from 'node:child_process';
import { delimiter } from 'node:path';
import type { ExperimentConfig } from '../shared/experiment-config';
import { executorSpecSchema, type ExecutorSpec, type SlurmOptions } from '../shared/executor-spec';

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
  /** The job's resources when the run goes to Slurm. */
  slurm?: SlurmOptions;
}

export interface CommandSpec {
  command: string;
  args: string[];
  /** Extra environment variables (the STARLAB_* ones are always set). */
  env?: Record<string, string>;
}

/** What every executor is built with. */
export interface ExecutorOptions {
  /** Repository root (for PYTHONPATH=<root>/experiments and the working directory). */
  root: string;
  /** The app's data dir: datasets imported into <dataDir>/datasets are found by the loaders. */
  dataDir: string;
  /** Override the command a run is started with (tests use a fake experiment). */
  commandFor?: (ctx: LaunchContext) => CommandSpec;
}

/** A started process: `child` where this process is its parent (its exit is then reported directly). */
export interface Started {
  command: string;
  cmdline: string;
  /** A local process's pid and start time; null for a batch job. */
  pid: number | null;
  startTime: number | null;
  /** A batch job's id (Slurm). */
  jobId?: string;
  child?: ChildProcess;
}

/** What identifies a run's process, as its row records it. */
export interface RunHandle {
  pid: number | null;
  startTime: number | null;
  jobId: string | null;
  /** The run's id: a job is the run's only while its name says so (job ids are reused). */
  runId?: string;
  /** The run's directory: a script's process is the run's only while it holds the run's events file open. */
  runDir?: string;
  /** The run's group: an array task (job id A_T) is the run's only while its array's name names the group. */
  groupId?: string | null;
}

/** The handle a run row records. */
export function handleOf(row: {
  id: string;
  pid: number | null;
  pid_start_time: number | null;
  job_id: string | null;
  run_dir?: string;
  group_id?: string | null;
}): RunHandle {
  return { pid: row.pid, startTime: row.pid_start_time, jobId: row.job_id, runId: row.id, runDir: row.run_dir, groupId: row.group_id };
}

/** Where a run's process lives: this machine, a Slurm cluster, or a script that registered itself (runs.executor). */
export type ExecutorKind = 'local' | 'slurm' | 'script';

/** A start that failed: the error now, or once the spawn reports it. */
export interface FailedStart {
  command: string;
  cmdline: string;
  error: Error | Promise<Error>;
}

export interface Executor {
  start(ctx: LaunchContext): Started | FailedStart;
  /** Whether the process the handle names is still the run's process (a job: still queued or running). */
  alive(h: RunHandle): boolean;
  /**
   * Whether it has exited but its parent (another starlab process, which knows the exit code)
   * has not reaped it yet: the supervisor then gives that parent a moment to finalise the run.
   */
  awaitingParent(h: RunHandle): boolean;
  /** Signal the run's process (and what it started). False if there was nothing to signal. */
  signal(h: RunHandle, signal: 'SIGTERM' | 'SIGKILL'): boolean;
  /** After the run's process exited: end whatever it left behind (e.g. data loader workers). */
  cleanUp(h: RunHandle): void;
}

export function startFailed(s: Started | FailedStart): s is FailedStart {
  return 'error' in s;
}

/** "pid 123" or "Slurm job 45", for log lines. */
export function describeStarted(s: { pid: number | null; jobId?: string | null }): string {
  return s.jobId != null ? `Slurm job ${s.jobId}` : `pid ${s.pid}`;
}

/**
 * Where and how a run row was submitted (runs.executor_json), checked again: a row may come
 * from someone else's bundle, and only options a launch would accept reach sbatch.
 */
export function executorSpecOfRow(row: { executor_json: string | null }): ExecutorSpec | undefined {
  if (!row.executor_json) return undefined;
  try {
    const spec = executorSpecSchema.safeParse(JSON.parse(row.executor_json));
    return spec.success ? spec.data : undefined;
  } catch {
    return undefined;
  }
}

/** The Slurm options of a run row (executorSpecOfRow's). */
export function slurmOptionsOf(row: { executor_json: string | null }): SlurmOptions | undefined {
  return executorSpecOfRow(row)?.slurm;
}

/**
 * The command a run is started with: `python -m starlab run --config …` unless a test replaces
 * it; with runtime.nproc > 1, the same module under torchrun (`python -m torch.distributed.run
 * --standalone`: one node, a free rendezvous port, so runs side by side do not collide), one
 * process per device (experiments/starlab/dist.py).
 */
export function runCommand(ctx: LaunchContext, commandFor?: (ctx: LaunchContext) => CommandSpec): CommandSpec {
  if (commandFor) return commandFor(ctx);
  const run = starlabRunArgs(ctx);
  const nproc = ctx.config.runtime.nproc ?? 1;
  if (nproc <= 1) return { command: ctx.python, args: run };
  return { command: ctx.python, args: ['-m', 'torch.distributed.run', '--standalone', `--nproc-per-node=${nproc}`, ...run] };
}

/** The experiment's own arguments: `-m starlab run --config …` (and `--resume`). */
export function starlabRunArgs(ctx: LaunchContext): string[] {
  return ['-m', 'starlab', 'run', '--config', ctx.configPath, ...(ctx.resume ? ['--resume'] : [])];
}

/** A run's environment, wherever it runs: this one, the command's extras, the run's STARLAB_* variables. */
export function runEnv(ctx: LaunchContext, cmd: CommandSpec, o: { dataDir: string; experimentsDir: string }): NodeJS.ProcessEnv {
  return {
    ...process.env,
    ...cmd.env,
    STARLAB_EVENTS: ctx.eventsPath,
    STARLAB_RUN_DIR: ctx.runDir,
    STARLAB_RUN_ID: ctx.runId,
    STARLAB_DATA_DIR: o.dataDir,
    PYTHONPATH: [o.experimentsDir, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
    PYTHONUNBUFFERED: '1',
  };
}
