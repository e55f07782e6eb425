/**
 * Runs that a script registered itself (`starlab.init` outside the lab: experiments/starlab/
 * lab_dir.py). The script writes a run directory under runs/ and an empty file named by the
 * run id under inbox/, which core/inbox.ts adopts. Such a run's
 * row has executor 'script': the lab follows it and can stop it (a signal to its pid alone:
 * the script's process group may be the user's shell job), but never starts, resumes or
 * retries it: there is no lab experiment to run.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readlinkSync, realpathSync, statSync } from 'node:fs';
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

/** A script's events file written to within this long counts as a live script (it beats every 5 s). */
export const SCRIPT_SILENCE_S = 30;

/**
 * Whether this pid is, verifiably, the script writing the run: on Linux, the same process (pid
 * and the start time run.json recorded) holding the run's events file open. run.json is only a
 * claim (it may come from someone else's bundle), and Stop signals the process it names: a pid
 * that merely exists is not enough, so without /proc or a start time nothing is verified.
 */
export function isScriptProcess(pid: number | null, startTime: number | null, runDir: string | undefined): boolean {
  if (process.platform !== 'linux' || pid == null || startTime == null || runDir === undefined) return false;
  if (!isSameProcess(pid, startTime)) return false;
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

/** Whether the run's events file was written to in the last SCRIPT_SILENCE_S seconds (a script elsewhere still beating). */
export function eventsFresh(runDir: string | undefined, nowMs = Date.now()): boolean {
  if (runDir === undefined) return false;
  try {
    return nowMs - statSync(eventsPathOf(runDir)).mtimeMs < SCRIPT_SILENCE_S * 1000;
  } catch {
    return false;
  }
}

/**
 * How the lab can tell whether a script's run is still going: by its process where that can be
 * verified (Linux, this host: `pid`), else by its heartbeat (another host sharing the disk, or
 * no /proc: `heartbeat`, never signalled).
 */
export function scriptWatch(script: ScriptRecord, host: unknown): 'pid' | 'heartbeat' {
  const here = typeof host !== 'string' || host === hostname();
  return here && process.platform === 'linux' && script.startTime !== null ? 'pid' : 'heartbeat';
}

/** The executor of script runs: nothing to start; alive while its verified pid is (else while it beats); signals go to a verified pid only. */
export class ScriptExecutor implements Executor {
  start(): Started | FailedStart {
    return { command: '', cmdline: '', error: new Error(`a script's run is not started by the lab: ${SCRIPT_NOT_RUNNABLE}`) };
  }

  alive({ pid, startTime, runDir }: RunHandle): boolean {
    // a run followed by its heartbeat has no pid in its row (scriptWatch)
    return pid == null ? eventsFresh(runDir) : isScriptProcess(pid, startTime, runDir);
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
