/**
 * Where a run's process lives. The supervisor decides what runs and when, ingests what it
 * writes and decides how it ended; an executor only starts the process, says whether it is
 * still there and signals it. The local executor (core/local-executor.ts) spawns a detached
 * process group on this machine; a cluster executor is a second implementation of this
 * interface, not a fork of the supervisor.
 */
import type { ChildProcess } from 'node:child_process';
import type { ExperimentConfig } from '../shared/experiment-config';

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

export interface CommandSpec {
  command: string;
  args: string[];
  /** Extra environment variables (the STARLAB_* ones are always set). */
  env?: Record<string, string>;
}

/** A started process: `child` where this process is its parent (its exit is then reported directly). */
export interface Started {
  command: string;
  cmdline: string;
  pid: number;
  startTime: number | null;
  child?: ChildProcess;
}

/** A start that failed: the error now, or once the spawn reports it. */
export interface FailedStart {
  command: string;
  cmdline: string;
  error: Error | Promise<Error>;
}

export interface Executor {
  start(ctx: LaunchContext): Started | FailedStart;
  /** Whether the process recorded as (pid, start time) is still the run's process. */
  alive(pid: number | null, startTime: number | null): boolean;
  /**
   * Whether it has exited but its parent (another starlab process, which knows the exit code)
   * has not reaped it yet: the supervisor then gives that parent a moment to finalise the run.
   */
  awaitingParent(pid: number, startTime: number | null): boolean;
  /** Signal the run's process (and what it started). False if there was nothing to signal. */
  signal(pid: number, signal: 'SIGTERM' | 'SIGKILL'): boolean;
  /** After the run's process exited: end whatever it left behind (e.g. data loader workers). */
  cleanUp(pid: number): void;
}

export function startFailed(s: Started | FailedStart): s is FailedStart {
  return 'error' in s;
}
