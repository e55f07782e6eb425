/**
 * The Slurm executor: each run one batch job (`sbatch --wrap`), its state from `squeue`, stopped
 * with `scancel`. The job runs the same command the local executor would, from this
 * installation's experiments directory, writing events to the run directory on the shared file
 * system, which the supervisor follows as it follows a local run. Accounting (`sacct`) is never
 * needed: a job squeue no longer lists has ended, and the run's events say how.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import type { SlurmOptions } from '../shared/executor-spec';
import type { CommandSpec, Executor, FailedStart, LaunchContext, RunHandle, Started } from './executor';
import { experimentsDir } from './paths';

export interface SlurmExecutorOptions {
  root: string;
  dataDir: string;
  commandFor?: (ctx: LaunchContext) => CommandSpec;
}

/** Job states in which the job may still run (squeue's long names). */
const ACTIVE = new Set(['PENDING', 'CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'REQUEUED', 'RESIZING', 'SIGNALING', 'STAGE_OUT']);
/** One squeue answer serves every run's poll for this long. */
const STATES_TTL_MS = 1000;

/** A word for a POSIX shell, quoted unless it is plainly safe. */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** sbatch's options for a run's job (resources from the launch, names and logs from the run). */
export function sbatchArgs(ctx: LaunchContext, o: SlurmOptions, cwd: string): string[] {
  const args = [
    '--parsable',
    `--job-name=starlab-${ctx.runId}`,
    `--chdir=${cwd}`,
    `--output=${join(ctx.runDir, 'stdout.log')}`,
    `--error=${join(ctx.runDir, 'stderr.log')}`,
    '--open-mode=append',
    '--export=ALL',
  ];
  if (o.partition) args.push(`--partition=${o.partition}`);
  if (o.account) args.push(`--account=${o.account}`);
  if (o.qos) args.push(`--qos=${o.qos}`);
  if (o.time) args.push(`--time=${o.time}`);
  if (o.cpus) args.push(`--cpus-per-task=${o.cpus}`);
  if (o.gpus) args.push(`--gpus=${o.gpus}`);
  if (o.mem) args.push(`--mem=${o.mem}`);
  return args;
}

export class SlurmExecutor implements Executor {
  private states: { at: number; map: Map<string, string> } | null = null;

  constructor(private readonly opts: SlurmExecutorOptions) {}

  start(ctx: LaunchContext): Started | FailedStart {
    const cmd = this.opts.commandFor
      ? this.opts.commandFor(ctx)
      : { command: ctx.python, args: ['-m', 'starlab', 'run', '--config', ctx.configPath, ...(ctx.resume ? ['--resume'] : [])] };
    const cwd = experimentsDir(this.opts.root);
    // the job's environment is this one's (sbatch --export=ALL) plus the run's variables
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...cmd.env,
      STARLAB_EVENTS: ctx.eventsPath,
      STARLAB_RUN_DIR: ctx.runDir,
      STARLAB_RUN_ID: ctx.runId,
      STARLAB_DATA_DIR: this.opts.dataDir,
      PYTHONPATH: [cwd, process.env.PYTHONPATH].filter(Boolean).join(delimiter),
      PYTHONUNBUFFERED: '1',
    };
    const wrap = [cmd.command, ...cmd.args].map(shellQuote).join(' ');
    const args = [...sbatchArgs(ctx, ctx.slurm ?? {}, cwd), `--wrap=exec ${wrap}`];
    const cmdline = ['sbatch', ...args].map(shellQuote).join(' ');
    const r = spawnSync('sbatch', args, { env, encoding: 'utf8', timeout: 60_000 });
    if (r.error) return { command: 'sbatch', cmdline, error: new Error(`sbatch: ${r.error.message}`) };
    if (r.status !== 0)
      return { command: 'sbatch', cmdline, error: new Error(`sbatch refused the job: ${(r.stderr || '').trim() || `exit ${r.status}`}`) };
    const jobId = r.stdout.trim().split(';')[0]!; // --parsable: "ID" or "ID;cluster"
    if (!/^\d+$/.test(jobId)) return { command: 'sbatch', cmdline, error: new Error(`sbatch answered "${r.stdout.trim()}", not a job id`) };
    this.states = null; // the next poll asks squeue again
    return { command: cmd.command, cmdline, pid: null, startTime: null, jobId };
  }

  /** The state of each of this user's jobs squeue lists (cached for a second across all runs). */
  private jobStates(): Map<string, string> | null {
    if (this.states && Date.now() - this.states.at < STATES_TTL_MS) return this.states.map;
    try {
      const out = execFileSync('squeue', ['--noheader', '--me', '--format=%i %T'], { encoding: 'utf8', timeout: 20_000 });
      const map = new Map<string, string>();
      for (const line of out.split('\n')) {
        const [id, state] = line.trim().split(/\s+/);
        if (id && state) map.set(id, state);
      }
      this.states = { at: Date.now(), map };
      return map;
    } catch {
      return null; // the controller did not answer: unknown, not ended
    }
  }

  alive({ jobId }: RunHandle): boolean {
    if (jobId == null) return false;
    const states = this.jobStates();
    // squeue unreachable: keep the run (finalising it would be a guess); the next poll asks again
    if (states === null) return true;
    const state = states.get(jobId);
    return state !== undefined && ACTIVE.has(state);
  }

  awaitingParent(): boolean {
    return false;
  }

  signal({ jobId }: RunHandle, signal: 'SIGTERM' | 'SIGKILL'): boolean {
    if (jobId == null) return false;
    const state = this.jobStates()?.get(jobId);
    // SIGTERM to the batch script and its children: the run stops at its next step and writes
    // run_end; a job still pending has nothing to signal, so it is cancelled outright
    const args = signal === 'SIGTERM' && state !== 'PENDING' ? ['--signal=TERM', '--full', jobId] : [jobId];
    const r = spawnSync('scancel', args, { encoding: 'utf8', timeout: 20_000 });
    this.states = null;
    return r.status === 0;
  }

  cleanUp(): void {
    // Slurm ends whatever the job left behind
  }
}
