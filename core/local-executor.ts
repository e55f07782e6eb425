/**
 * The local executor: each run a detached process group on this machine, stdout/stderr
 * appended to the run directory's log files, the working directory this installation's
 * experiments directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import {
  runCommand,
  runEnv,
  type Executor,
  type ExecutorOptions,
  type FailedStart,
  type LaunchContext,
  type RunHandle,
  type Started,
} from './executor';
import { experimentsDir } from './paths';
import { isSameProcess, pidStartTime, readProcStat, signalGroup } from './process-info';
import { APPEND_NO_LINKS } from './run-files';

export class LocalExecutor implements Executor {
  constructor(private readonly opts: ExecutorOptions) {}

  start(ctx: LaunchContext): Started | FailedStart {
    const cmd = runCommand(ctx, this.opts.commandFor);
    const env: NodeJS.ProcessEnv = {
      ...runEnv(ctx, cmd, { dataDir: this.opts.dataDir, experimentsDir: experimentsDir(this.opts.root) }),
      ...(ctx.gpuSlot != null ? { CUDA_VISIBLE_DEVICES: ctx.gpuSlot } : {}),
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
      child = spawn(cmd.command, cmd.args, {
        cwd: experimentsDir(this.opts.root),
        detached: true,
        stdio: ['ignore', out, err],
        env,
        windowsHide: true,
      });
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

  alive({ pid, startTime }: RunHandle): boolean {
    return isSameProcess(pid, startTime);
  }

  awaitingParent({ pid, startTime }: RunHandle): boolean {
    if (pid == null) return false;
    const ps = readProcStat(pid);
    // a zombie whose parent is not init: another process of ours that is about to report the exit code
    return !!ps && ps.state === 'Z' && ps.ppid !== 1 && (startTime == null || ps.startTime === startTime);
  }

  signal({ pid }: RunHandle, signal: 'SIGTERM' | 'SIGKILL'): boolean {
    return pid != null && signalGroup(pid, signal);
  }

  cleanUp({ pid }: RunHandle): void {
    if (process.platform === 'win32' || pid == null) return;
    try {
      process.kill(-pid, 'SIGKILL'); // leftover members of the run's process group
    } catch {
      // the group is empty: nothing left behind
    }
  }
}

function spawnError(child: ChildProcess): Promise<Error> {
  return new Promise((resolve) => {
    child.once('error', resolve);
    setTimeout(() => resolve(new Error('the process did not start')), 2000).unref();
  });
}
