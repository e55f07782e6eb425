/**
 * The Slurm executor: each run one batch job (`sbatch --wrap`), or an ablation's runs with the
 * same resources one job array (a task per run, job ids A_0, A_1 …), its state from `squeue`,
 * stopped with `scancel`. The job runs the same command the local executor would, from this
 * installation's experiments directory, writing events to the run directory on the shared file
 * system, which the supervisor follows as it follows a local run. Accounting (`sacct`) is never
 * needed: a job squeue no longer lists has ended, and the run's events say how.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { writeFileSafely } from './safe-write';
import { join } from 'node:path';
import type { SlurmOptions } from '../shared/executor-spec';
import {
  runCommand,
  runEnv,
  starlabRunArgs,
  type CommandSpec,
  type Executor,
  type ExecutorOptions,
  type FailedStart,
  type LaunchContext,
  type RunHandle,
  type Started,
} from './executor';
import { experimentsDir } from './paths';

/** Job states in which the job may still run (squeue's long names). */
const ACTIVE = new Set([
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'COMPLETING',
  'SUSPENDED',
  'STOPPED',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESV_DEL_HOLD',
  'SPECIAL_EXIT',
  'RESIZING',
  'SIGNALING',
  'STAGE_OUT',
]);
/**
 * One squeue answer serves every run's poll for this long; a failed one is not asked again for
 * longer. An older answer is renewed in the background while the polls go on with it (squeue
 * on a busy controller takes seconds, which must not stall the app): only the first question,
 * and the first after a submission or a signal, waits for squeue.
 */
const STATES_TTL_MS = 1000;
const FAILED_TTL_MS = 10_000;

/** sbatch expands %j, %x … in file names: a literal % in the data directory's path is doubled. */
const slurmPath = (p: string): string => p.replace(/%/g, '%%');

type JobState = { state: string; name: string };

// --array: one line per array task (A_T), pending ones too, instead of one line for a pending range
const SQUEUE_FORMAT = ['--noheader', '--all', '--array', '--format=%i %T %j'];

/** The most tasks one array is given (Slurm's default MaxArraySize is 1001). */
export const MAX_ARRAY_TASKS = 1000;

/** The job name of a group's array: squeue says whose a task is by it. */
export const arrayJobName = (groupId: string): string => `starlab-array-${groupId}`;

/** squeue's output: job id → state and name; a job the controller no longer knows is an answer (not listed). */
function parseSqueue(status: number | null, stdout: string, stderr: string): Map<string, JobState> | null {
  if (status !== 0) return /invalid job id/i.test(stderr) ? new Map() : null;
  const map = new Map<string, JobState>();
  for (const line of stdout.split('\n')) {
    const [id, state, name] = line.trim().split(/\s+/);
    if (id && state) map.set(id, { state, name: name ?? '' });
  }
  return map;
}

/** A word for a POSIX shell, quoted unless it is plainly safe. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** sbatch's options for a run's job (resources from the launch, names and logs from the run). */
export function sbatchArgs(ctx: LaunchContext, o: SlurmOptions, cwd: string): string[] {
  return [
    `--job-name=starlab-${ctx.runId}`,
    `--output=${slurmPath(join(ctx.runDir, 'stdout.log'))}`,
    `--error=${slurmPath(join(ctx.runDir, 'stderr.log'))}`,
    ...resourceArgs(o, cwd),
  ];
}

/** What every job of the lab is given: the working directory, the environment, no requeue, and the resources asked for. */
function resourceArgs(o: SlurmOptions, cwd: string): string[] {
  const args = [
    '--parsable',
    `--chdir=${cwd}`,
    '--open-mode=append',
    '--export=ALL',
    // after a node failure Slurm would rerun the command from scratch in the same run
    // directory while the run looks alive; the user resumes it from its checkpoint instead
    '--no-requeue',
  ];
  if (o.partition) args.push(`--partition=${o.partition}`);
  if (o.account) args.push(`--account=${o.account}`);
  if (o.qos) args.push(`--qos=${o.qos}`);
  if (o.time) args.push(`--time=${o.time}`);
  if (o.cpus) args.push(`--cpus-per-task=${o.cpus}`);
  if (o.nodes) args.push(`--nodes=${o.nodes}`, '--ntasks-per-node=1'); // one torchrun agent per node (jobLine)
  if (o.gpus) args.push(o.nodes ? `--gpus-per-node=${o.gpus}` : `--gpus=${o.gpus}`);
  if (o.mem) args.push(`--mem=${o.mem}`);
  return args;
}

/**
 * The shell line a job runs. Without `nodes`: the command, torchrun inside the job on its one
 * node. With `nodes`: srun starts one torchrun agent on each node of the job; the agents meet at
 * the job's first node (c10d rendezvous on a port from 10000 to 29999 taken from the job id:
 * below the ephemeral ports, and jobs sharing a node do not collide) and start runtime.nproc
 * ranks each. A test's stand-in command runs under srun as it is.
 */
export function jobLine(ctx: LaunchContext, cmd: CommandSpec, o: SlurmOptions, standIn: boolean): string {
  const quoted = (xs: readonly string[]) => xs.map(shellQuote).join(' ');
  if (!o.nodes) return `exec ${quoted([cmd.command, ...cmd.args])}`;
  // srun does not take the job's --cpus-per-task from sbatch (Slurm ≥ 22.05): ask again, or its task gets one CPU
  const srun = `srun --kill-on-bad-exit=1${o.cpus ? ` --cpus-per-task=${o.cpus}` : ''}`;
  if (standIn) return `exec ${srun} ${quoted([cmd.command, ...cmd.args])}`;
  const torchrun = [ctx.python, '-m', 'torch.distributed.run', `--nproc-per-node=${ctx.config.runtime.nproc ?? 1}`, '--rdzv-backend=c10d'];
  return [
    'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
    `exec ${srun} ${quoted(torchrun)} --nnodes="$SLURM_NNODES" --rdzv-id="$SLURM_JOB_ID" ` +
      `--rdzv-endpoint="$head:$((10000 + SLURM_JOB_ID % 20000))" ${quoted(starlabRunArgs(ctx))}`,
  ].join('; ');
}

export class SlurmExecutor implements Executor {
  private states: { at: number; map: Map<string, JobState> | null } | null = null;
  /** A background squeue is under way (its answer replaces `states`). */
  private renewing = false;
  /** Bumped by whatever makes the snapshot stale at once (a submission, a signal): an older renewal's answer is dropped. */
  private generation = 0;

  constructor(private readonly opts: ExecutorOptions) {}

  start(ctx: LaunchContext): Started | FailedStart {
    const cmd = runCommand(ctx, this.opts.commandFor);
    const cwd = experimentsDir(this.opts.root);
    // the job's environment is this one's (sbatch --export=ALL) plus the run's variables
    const env = runEnv(ctx, cmd, { dataDir: this.opts.dataDir, experimentsDir: cwd });
    const o = ctx.slurm ?? {};
    const args = [...sbatchArgs(ctx, o, cwd), `--wrap=${jobLine(ctx, cmd, o, this.opts.commandFor !== undefined)}`];
    const r = this.submit(args, env);
    return 'error' in r ? r : { command: cmd.command, cmdline: r.cmdline, pid: null, startTime: null, jobId: r.jobId };
  }

  /**
   * The runs of one group, with the same resources, as one job array: task i runs ctxs[i] (a
   * `case` on SLURM_ARRAY_TASK_ID sets that run's variables and appends its output to that
   * run's stdout.log and stderr.log); Slurm's own messages about a task go to
   * <data dir>/slurm/<array>_<task>.log. Returns each run's job id (A_i), in order.
   */
  startArray(ctxs: readonly LaunchContext[], groupId: string): { command: string; cmdline: string; jobIds: string[] } | FailedStart {
    if (!ctxs.length || ctxs.length > MAX_ARRAY_TASKS) throw new Error(`an array has 1 to ${MAX_ARRAY_TASKS} tasks, not ${ctxs.length}`);
    const cwd = experimentsDir(this.opts.root);
    const logs = join(this.opts.dataDir, 'slurm');
    mkdirSync(logs, { recursive: true });
    const cmds = ctxs.map((ctx) => runCommand(ctx, this.opts.commandFor));
    const branches = ctxs.map((ctx, i) => {
      const cmd = cmds[i]!;
      const vars = { ...cmd.env, STARLAB_EVENTS: ctx.eventsPath, STARLAB_RUN_DIR: ctx.runDir, STARLAB_RUN_ID: ctx.runId };
      const exports = Object.entries(vars).map(([k, v]) => `${k}=${shellQuote(v)}`);
      const line = jobLine(ctx, cmd, ctx.slurm ?? {}, this.opts.commandFor !== undefined);
      return `${i}) export ${exports.join(' ')}; { ${line}; } >>${shellQuote(join(ctx.runDir, 'stdout.log'))} 2>>${shellQuote(join(ctx.runDir, 'stderr.log'))} ;;`;
    });
    const script = [
      '#!/bin/sh',
      `# STaR Lab: the runs of group ${groupId}, task i running run i`,
      'case "$SLURM_ARRAY_TASK_ID" in',
      ...branches,
      '*) echo "no run for array task $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;',
      'esac',
      '',
    ];
    // a file, not --wrap: one argument holds at most 128 KiB on Linux, about 250 tasks' lines
    // (sbatch copies the script at submission; the file stays as a record of what was asked)
    const file = join(logs, `array-${groupId}-${Date.now()}.sh`);
    try {
      writeFileSafely(file, script.join('\n'), { mode: 0o600 });
    } catch (e) {
      return { command: 'sbatch', cmdline: `sbatch ${shellQuote(file)}`, error: e as Error };
    }
    // the shared variables (data dir, PYTHONPATH) through sbatch's environment, as for one run
    const env = runEnv(ctxs[0]!, cmds[0]!, { dataDir: this.opts.dataDir, experimentsDir: cwd });
    const args = [
      `--job-name=${arrayJobName(groupId)}`,
      `--array=0-${ctxs.length - 1}`,
      // %A and %a are sbatch's (the array's id, the task's index): only the folder's own % are doubled
      `--output=${slurmPath(logs)}/%A_%a.log`,
      ...resourceArgs(ctxs[0]!.slurm ?? {}, cwd),
      file,
    ];
    const r = this.submit(args, env);
    return 'error' in r ? r : { command: cmds[0]!.command, cmdline: r.cmdline, jobIds: ctxs.map((_, i) => `${r.jobId}_${i}`) };
  }

  private submit(args: string[], env: NodeJS.ProcessEnv): { jobId: string; cmdline: string } | FailedStart {
    const cmdline = ['sbatch', ...args].map(shellQuote).join(' ');
    const r = spawnSync('sbatch', args, { env, encoding: 'utf8', timeout: 60_000 });
    if (r.error) return { command: 'sbatch', cmdline, error: new Error(`sbatch: ${r.error.message}`) };
    if (r.status !== 0)
      return { command: 'sbatch', cmdline, error: new Error(`sbatch refused the job: ${(r.stderr || '').trim() || `exit ${r.status}`}`) };
    const jobId = r.stdout.trim().split(';')[0]!; // --parsable: "ID" or "ID;cluster"
    if (!/^\d+$/.test(jobId)) return { command: 'sbatch', cmdline, error: new Error(`sbatch answered "${r.stdout.trim()}", not a job id`) };
    this.forget(); // the next poll asks squeue again
    return { jobId, cmdline };
  }

  /** squeue's answer for these arguments, waited for: job id → state and name; null when it did not answer. */
  private squeue(args: string[]): Map<string, JobState> | null {
    const r = spawnSync('squeue', [...SQUEUE_FORMAT, ...args], { encoding: 'utf8', timeout: 10_000 });
    return parseSqueue(r.status, r.stdout ?? '', r.stderr ?? '');
  }

  private forget(): void {
    this.states = null;
    this.generation++;
  }

  /** Every job of this user: one squeue for all runs, renewed in the background once it is a second old (a failed one after ten). */
  private jobStates(): Map<string, JobState> | null {
    if (this.states === null) {
      const map = this.squeue(['--me']);
      this.states = { at: Date.now(), map };
      return map;
    }
    const ttl = this.states.map === null ? FAILED_TTL_MS : STATES_TTL_MS;
    if (Date.now() - this.states.at >= ttl && !this.renewing) {
      this.renewing = true;
      const gen = this.generation;
      execFile('squeue', [...SQUEUE_FORMAT, '--me'], { encoding: 'utf8', timeout: 10_000 }, (err, stdout, stderr) => {
        this.renewing = false;
        if (gen !== this.generation) return; // a submission or signal since: that snapshot is asked for afresh
        const status = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        this.states = { at: Date.now(), map: parseSqueue(status, stdout ?? '', stderr ?? '') };
      });
    }
    return this.states.map;
  }

  alive({ jobId, runId, groupId }: RunHandle): boolean {
    if (jobId == null) return false;
    const states = this.jobStates();
    // squeue unreachable: keep the run (finalising it would be a guess); a later poll asks again
    if (states === null) return true;
    let job = states.get(jobId);
    // not in the snapshot: it may be newer than it (submitted by another process), so ask for it alone
    if (job === undefined) {
      const one = this.squeue(['--jobs', jobId]);
      if (one === null) return true;
      job = one.get(jobId);
    }
    // a job id Slurm reused for another job is not this run's (an array task's name is its group's)
    const expected = jobId.includes('_') ? (groupId ? arrayJobName(groupId) : null) : runId !== undefined ? `starlab-${runId}` : null;
    if (job !== undefined && expected !== null && job.name !== expected) return false;
    return job !== undefined && ACTIVE.has(job.state);
  }

  awaitingParent(): boolean {
    return false;
  }

  signal({ jobId }: RunHandle, signal: 'SIGTERM' | 'SIGKILL'): boolean {
    if (jobId == null) return false;
    const state = this.jobStates()?.get(jobId)?.state;
    // a job that is not running yet has nothing to signal: it is cancelled outright. A running
    // one gets the signal in its batch script and children: SIGTERM stops the run at its next
    // step (it writes run_end), SIGKILL ends it at once
    const args =
      state === 'PENDING' || state === undefined ? [jobId] : [`--signal=${signal === 'SIGTERM' ? 'TERM' : 'KILL'}`, '--full', jobId];
    const r = spawnSync('scancel', args, { encoding: 'utf8', timeout: 20_000 });
    this.forget();
    return r.status === 0;
  }

  cleanUp(): void {
    // Slurm ends whatever the job left behind
  }
}
