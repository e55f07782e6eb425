/**
 * Runs that a script registered itself (`starlab.init` outside the lab: experiments/starlab/
 * lab_dir.py). The script writes a run directory under runs/ and an empty file named by the
 * run id under inbox/, which core/inbox.ts adopts. Such a run's
 * row has executor 'script': the lab follows it and can stop it (a signal to its pid alone:
 * the script's process group may be the user's shell job), but never starts, resumes or
 * retries it: there is no lab experiment to run.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Executor, FailedStart, RunHandle, Started } from './executor';
import { isSameProcess } from './process-info';
import type { ScriptRecord } from './run-record';
import { configHash, eventsPathOf } from './run-files';

export const SCRIPT_EXECUTOR = 'script';
export const SCRIPT_VARIANT = 'script';

/** Why the lab will not run a script's run again (resume, retry). */
export const SCRIPT_NOT_RUNNABLE = 'it was reported by a script, which the lab did not start: run the script again instead';

/** The run row's columns for a script's run: its config verbatim; dataset, model and seed where the config names them. */
export function scriptColumns(config: unknown, script: ScriptRecord) {
  const c = (config ?? {}) as Record<string, unknown>;
  const model =
    typeof c.model === 'string'
      ? c.model
      : typeof (c.model as { name?: unknown })?.name === 'string'
        ? (c.model as { name: string }).name
        : '-';
  return {
    variant: SCRIPT_VARIANT,
    dataset: typeof c.dataset === 'string' && c.dataset ? c.dataset : '-',
    preset: '-',
    seed: Number.isSafeInteger(c.seed) ? (c.seed as number) : 0,
    model: model.slice(0, 500),
    config_json: JSON.stringify(config),
    config_hash: configHash(config),
    executor: SCRIPT_EXECUTOR,
    name: script.name,
  };
}

/** A script's project is a group of runs, one per project name (wandb's project). */
export function projectGroup(project: string | null, createdAt: number) {
  if (!project) return null;
  const id = `project-${createHash('sha256').update(project).digest('hex').slice(0, 16)}`;
  return { id, name: project, createdAt, spec: null };
}

/**
 * Whether this pid is the script writing the run: the same process (pid and start time) and,
 * where /proc says, one that holds the run's events file open. run.json is only a claim (it may
 * come from someone else's bundle), and the lab signals the process it names when asked to stop
 * the run: a pid that merely exists is not enough.
 */
export function isScriptProcess(pid: number | null, startTime: number | null, runDir: string | undefined): boolean {
  if (pid == null || !isSameProcess(pid, startTime)) return false;
  if (process.platform !== 'linux' || runDir === undefined) return true;
  let events = eventsPathOf(runDir);
  try {
    events = realpathSync(events); // /proc shows the path with links resolved
  } catch {
    return false; // no events file: nothing holds it
  }
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false; // another user's process: not a script of ours
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === events) return true;
    } catch {
      // closed meanwhile
    }
  }
  return false;
}

/** Whether the script that registered a run is still running it, here (its run_start names the host). */
export function scriptProcessAlive(script: ScriptRecord, host: unknown, runDir: string): boolean {
  if (typeof host === 'string' && host !== hostname()) return false;
  return isScriptProcess(script.pid, script.startTime, runDir);
}

/** The executor of script runs: nothing to start; alive while its pid (with its start time) is; signals go to that pid. */
export class ScriptExecutor implements Executor {
  start(): Started | FailedStart {
    return { command: '', cmdline: '', error: new Error(`a script's run is not started by the lab: ${SCRIPT_NOT_RUNNABLE}`) };
  }

  alive({ pid, startTime, runDir }: RunHandle): boolean {
    return isScriptProcess(pid, startTime, runDir);
  }

  awaitingParent(): boolean {
    return false;
  }

  signal({ pid, startTime, runDir }: RunHandle, signal: 'SIGTERM' | 'SIGKILL'): boolean {
    if (pid == null || !isScriptProcess(pid, startTime, runDir)) return false;
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  cleanUp(): void {
    // the script's children are the script's
  }
}
