/**
 * The Slurm executor against a real single-node cluster (scripts/slurm/local-cluster.sh up;
 * .ci/run starts it): runs submitted with sbatch, followed through the shared run directory,
 * stopped with scancel, a job killed under the lab, a run found again by a later process (the
 * host "restarted"), an ablation, and bad options refused before anything is submitted. The
 * experiment is the fake one (tests/fixtures/fake-python), run by Slurm as the real one would be.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databasePath } from '../../core/paths';
import { createService } from '../../core/service';
import { openDatabase } from '../../db/open';
import { cleanupTempDirs, FAKE_PYTHON, REPO, tempDir } from '../fixtures/helpers';
import { MICRO_STAR } from '../fixtures/micro-star';

/** A file's text, or '' while it does not exist (Slurm creates a job's logs when it starts). */
const readOrEmpty = (path: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
};

/** The hanging fake experiment has its SIGTERM handler once it beats (so a stop is a clean one). */
const beating = (s: Shown): boolean => readOrEmpty(join(s.runDir, 'events.jsonl')).includes('"heartbeat"');

/** Jobs these tests submitted: any still there at the end (a failed test) are cancelled. */
const submitted = new Set<string>();
afterAll(() => {
  for (const job of submitted) spawnSync('scancel', [job]);
  cleanupTempDirs();
});

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}, timeout = 90_000): Promise<Out> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', ...args],
      { cwd: REPO, env: { ...process.env, STARLAB_PYTHON: FAKE_PYTHON, ...env }, timeout },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

interface Shown {
  id: string;
  status: string;
  statusReason: string | null;
  executor: string;
  jobId: string | null;
  runDir: string;
}

async function show(dir: string, id: string): Promise<Shown> {
  const r = await cli(['show', id, '--json', '--data-dir', dir]);
  expect(r.code, r.stderr).toBe(0);
  const s = JSON.parse(r.stdout) as Shown;
  if (s.jobId) submitted.add(s.jobId);
  return s;
}

async function until<T>(what: string, probe: () => Promise<T | null | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

const jobState = (job: string): string => {
  try {
    return execFileSync('squeue', ['--noheader', '--jobs', job, '--format=%T'], { encoding: 'utf8' }).trim();
  } catch {
    return ''; // no longer known
  }
};

const launch = ['launch', '--variant', 'star', '--dataset', 'addition', '--preset', 'tiny'];

/** A one-iteration micro STaR run with runtime.nproc 2 (the real experiment) sent to Slurm with `flags` and waited for: completed, world size 2. */
async function torchrunJob(dir: string, flags: string[]): Promise<Shown> {
  const micro = Object.entries({ ...MICRO_STAR, 'loop.iterations': '1', 'runtime.nproc': '2' }).flatMap(([k, v]) => ['--set', `${k}=${v}`]);
  const r = await cli(
    [...launch, ...micro, '--executor', 'slurm', ...flags, '--cpus', '2', '--time', '10', '--wait', '--json', '--data-dir', dir],
    {
      STARLAB_PYTHON: join(REPO, 'experiments', '.venv', 'bin', 'python'),
    },
  );
  expect(r.code, r.stderr).toBe(0);
  const s = await show(dir, (JSON.parse(r.stdout) as { id: string }).id);
  expect(s).toMatchObject({ status: 'completed', executor: 'slurm' });
  const start = JSON.parse(readFileSync(join(s.runDir, 'events.jsonl'), 'utf8').split('\n')[0]!) as { env: Record<string, unknown> };
  expect(start.env).toMatchObject({ slurm_job_id: s.jobId, world_size: 2 });
  return s;
}

describe('Slurm executor (a real single-node cluster)', () => {
  beforeAll(() => {
    let nodes = '';
    try {
      nodes = execFileSync('sinfo', ['--noheader', '--format=%T'], { encoding: 'utf8', timeout: 10_000 });
    } catch (e) {
      throw new Error(`no Slurm cluster answers (${(e as Error).message}); start one with: bash scripts/slurm/local-cluster.sh up`);
    }
    expect(nodes, 'the cluster has no idle node: bash scripts/slurm/local-cluster.sh up').toMatch(/idle|mixed|allocated/);
  });

  it('a run submitted with sbatch completes, with its job id recorded', async () => {
    const dir = tempDir();
    const r = await cli([...launch, '--executor', 'slurm', '--time', '5', '--wait', '--json', '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout) as { id: string }).id;
    const s = await show(dir, id);
    expect(s).toMatchObject({ status: 'completed', executor: 'slurm' });
    expect(s.jobId).toMatch(/^\d+$/);
    // the job wrote the run's logs where a local run writes them
    expect(readFileSync(join(s.runDir, 'stdout.log'), 'utf8')).toMatch(/fake experiment complete running/);
    const text = await cli(['show', id, '--data-dir', dir]);
    expect(text.stdout).toMatch(new RegExp(`slurm job  ${s.jobId}`));
  }, 90_000);

  it('a later process finds the job again and stops it with scancel', async () => {
    const dir = tempDir();
    const r = await cli([...launch, '--executor', 'slurm', '--json', '--data-dir', dir], { STARLAB_FAKE_MODE: 'hang' });
    expect(r.code, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout) as { id: string }).id;
    // the launching process has exited (as a restarted host would): a new one reads the job's state
    const running = await until('the job to run', async () => {
      const s = await show(dir, id);
      return s.status === 'running' && s.jobId && jobState(s.jobId) === 'RUNNING' && beating(s) ? s : null;
    });
    const stop = await cli(['stop', id, '--data-dir', dir]);
    expect(stop.code, stop.stderr).toBe(0);
    const stopped = await until('the run to stop', async () => {
      const s = await show(dir, id);
      return s.status !== 'running' ? s : null;
    });
    expect(stopped.status).toBe('stopped'); // SIGTERM reached the experiment, which wrote run_end stopped
    expect(jobState(running.jobId!)).not.toBe('RUNNING');
  }, 90_000);

  it('a reindex puts a Slurm run back as a Slurm run and watches its job again', async () => {
    const dir = tempDir();
    const r = await cli([...launch, '--executor', 'slurm', '--partition', 'debug', '--json', '--data-dir', dir], {
      STARLAB_FAKE_MODE: 'hang',
    });
    expect(r.code, r.stderr).toBe(0);
    const id = (JSON.parse(r.stdout) as { id: string }).id;
    const before = await until('the job to run', async () => {
      const s = await show(dir, id);
      return s.status === 'running' && s.jobId && jobState(s.jobId) === 'RUNNING' && beating(s) ? s : null;
    });
    // the database is lost; the run directory (run.json, events.jsonl) is all there is
    for (const f of ['starlab.db', 'starlab.db-wal', 'starlab.db-shm']) rmSync(join(dir, f), { force: true });
    const re = await cli(['reindex', '--json', '--data-dir', dir]);
    expect(re.code, re.stderr).toBe(0);
    expect(JSON.parse(re.stdout)).toMatchObject({ added: [id], running: [id] });
    const back = await show(dir, id);
    expect(back).toMatchObject({ status: 'running', executor: 'slurm', jobId: before.jobId });
    expect(JSON.parse(readFileSync(join(back.runDir, 'run.json'), 'utf8')).executor).toEqual({
      kind: 'slurm',
      slurm: { partition: 'debug' },
    });
    const stop = await cli(['stop', id, '--data-dir', dir]);
    expect(stop.code, stop.stderr).toBe(0);
    const stopped = await until('the run to stop', async () => {
      const s = await show(dir, id);
      return s.status !== 'running' ? s : null;
    });
    expect(stopped.status).toBe('stopped'); // scancel reached the job the reindex found again
  }, 90_000);

  it('a run with runtime.nproc 2 runs torchrun inside its job (the real experiment)', async () => {
    await torchrunJob(tempDir(), []);
  }, 120_000);

  it('a run across nodes: srun starts torchrun on each node, its ranks meeting by rendezvous (one node here)', async () => {
    const dir = tempDir();
    const s = await torchrunJob(dir, ['--nodes', '1']);
    const db = openDatabase(databasePath(dir));
    try {
      const started = db.prepare("SELECT message FROM logs WHERE run_id = ? AND message LIKE 'started:%'").pluck().get(s.id) as string;
      for (const part of [
        '--nodes=1',
        '--ntasks-per-node=1',
        'srun --kill-on-bad-exit=1',
        '--rdzv-backend=c10d',
        '--nnodes="$SLURM_NNODES"',
      ])
        expect(started).toContain(part);
      expect(started).not.toContain('--standalone');
    } finally {
      db.close();
    }
  }, 120_000);

  it('a job cancelled or killed under the lab ends its run as it ended', async () => {
    const dir = tempDir();
    const running = async (): Promise<Shown & { pid: number }> => {
      const r = await cli([...launch, '--executor', 'slurm', '--json', '--data-dir', dir], { STARLAB_FAKE_MODE: 'hang' });
      const id = (JSON.parse(r.stdout) as { id: string }).id;
      return until('the job to run', async () => {
        const x = await show(dir, id);
        const pid = /running as pid (\d+)/.exec(readOrEmpty(join(x.runDir, 'stdout.log')))?.[1];
        return x.jobId && jobState(x.jobId) === 'RUNNING' && pid && beating(x) ? { ...x, pid: Number(pid) } : null;
      });
    };
    const ended = (id: string) =>
      until('the run to end', async () => {
        const x = await show(dir, id);
        return x.status !== 'running' ? x : null;
      });
    // scancel from outside: Slurm sends SIGTERM first, so the experiment stops cleanly
    const a = await running();
    execFileSync('scancel', [a.jobId!]);
    expect((await ended(a.id)).status).toBe('stopped');
    // the process killed outright (out of memory, a node fault): no run_end, the job is gone
    const b = await running();
    process.kill(b.pid, 'SIGKILL');
    const gone = await ended(b.id);
    expect(gone.status).toBe('failed');
    expect(gone.statusReason).toBeTruthy();
  }, 120_000);

  it('an ablation is one job array (a task per run), whatever the local concurrency limit', async () => {
    const dir = tempDir();
    const r = await cli(
      [
        'ablate',
        '--variants',
        'star,star-norat',
        '--datasets',
        'addition',
        '--seeds',
        '0,1',
        '--preset',
        'tiny',
        '--executor',
        'slurm',
        '--wait',
        '--json',
        '--data-dir',
        dir,
      ],
      {},
      170_000,
    );
    expect(r.code, r.stderr).toBe(0);
    const { runs } = JSON.parse(r.stdout) as { runs: string[] };
    expect(runs).toHaveLength(4);
    const shown = await Promise.all(runs.map((id) => show(dir, id)));
    expect(shown.map((s) => s.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    // one array: job ids A_0 … A_3 with one A; each task wrote its own run's logs and named its task
    const ids = shown.map((s) => s.jobId!);
    const array = ids[0]!.split('_')[0];
    expect(ids.map((j) => j.split('_')[0])).toEqual([array, array, array, array]);
    expect(ids.map((j) => Number(j.split('_')[1])).sort()).toEqual([0, 1, 2, 3]);
    // Slurm's own log of each task, named by sbatch's %A_%a (not a literal "%A_%a"); the script kept as a record
    const logs = readdirSync(join(dir, 'slurm')).sort();
    expect(logs.filter((f) => f.endsWith('.log'))).toEqual(ids.map((j) => `${j}.log`).sort());
    expect(logs.filter((f) => f.endsWith('.sh'))).toHaveLength(1);
    for (const s of shown) {
      expect(readFileSync(join(s.runDir, 'stdout.log'), 'utf8')).toMatch(/fake experiment complete running/);
      expect(JSON.parse(readFileSync(join(s.runDir, 'events.jsonl'), 'utf8').split('\n')[0]!).env.slurm_job_id).toBe(s.jobId);
    }
  }, 180_000);

  it("stopping one task of an array stops that run alone, and a reindex finds the others' tasks again", async () => {
    const dir = tempDir();
    // the app's queue submits the ablation (sbatch --export=ALL hands the jobs this environment)
    process.env.STARLAB_FAKE_MODE = 'hang';
    const service = createService({ dataDir: dir, pythonPath: FAKE_PYTHON, pollMs: 200 });
    let runs: string[];
    try {
      const r = service.createAblation({
        name: 'array stop',
        variants: ['star'],
        datasets: ['addition'],
        seeds: [0, 1],
        preset: 'tiny',
        executor: { kind: 'slurm', slurm: {} },
      });
      if (!r.ok) throw new Error(JSON.stringify(r));
      runs = r.runs;
      await until('both submitted', async () => runs.every((id) => service.getRun(id)?.jobId), 30_000);
    } finally {
      service.close();
      delete process.env.STARLAB_FAKE_MODE;
    }
    const both = await until(
      'both tasks to run',
      async () => {
        const s = await Promise.all(runs.map((id) => show(dir, id)));
        return s.every((x) => x.status === 'running' && x.jobId && jobState(x.jobId) === 'RUNNING' && beating(x)) ? s : null;
      },
      90_000,
    );
    expect(both[0]!.jobId!.split('_')[0]).toBe(both[1]!.jobId!.split('_')[0]);
    expect((await cli(['stop', runs[0]!, '--data-dir', dir])).code).toBe(0);
    const stopped = await until('the first run to stop', async () => {
      const s = await show(dir, runs[0]!);
      return s.status !== 'running' ? s : null;
    });
    expect(stopped.status).toBe('stopped');
    expect(jobState(both[1]!.jobId!)).toBe('RUNNING');
    // the database is lost: the other task is found again by its A_T id and its array's name
    for (const f of ['starlab.db', 'starlab.db-wal', 'starlab.db-shm']) rmSync(join(dir, f), { force: true });
    const re = await cli(['reindex', '--json', '--data-dir', dir]);
    expect(JSON.parse(re.stdout).running).toEqual([runs[1]]);
    expect((await cli(['stop', runs[1]!, '--data-dir', dir])).code).toBe(0);
    expect(
      (
        await until('the second run to stop', async () => {
          const s = await show(dir, runs[1]!);
          return s.status !== 'running' ? s : null;
        })
      ).status,
    ).toBe('stopped');
  }, 180_000);

  it('bad options are refused before anything is submitted; a job sbatch refuses fails its run with the reason', async () => {
    const dir = tempDir();
    const bad = await cli([...launch, '--executor', 'slurm', '--time', 'soon', '--cpus', 'x', '--json', '--data-dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/cpus: --cpus must be a whole number/);
    const notSlurm = await cli([...launch, '--partition', 'gpu', '--data-dir', dir]);
    expect(notSlurm.code).toBe(2);
    expect(notSlurm.stderr).toMatch(/partition: --partition needs --executor slurm/);
    const badTime = await cli([...launch, '--executor', 'slurm', '--time', 'soon', '--data-dir', dir]);
    expect(badTime.stderr).toMatch(/time: a Slurm time limit/);
    expect(JSON.parse((await cli(['list', '--json', '--data-dir', dir])).stdout)).toEqual([]);

    const refused = await cli([...launch, '--executor', 'slurm', '--partition', 'nosuch', '--json', '--data-dir', dir]);
    const id = (JSON.parse(refused.stdout) as { id: string }).id;
    const s = await show(dir, id);
    expect(s.status).toBe('failed');
    expect(s.statusReason).toMatch(/sbatch refused the job: .*partition/i);
  }, 90_000);
});

describe('sbatch arguments', () => {
  it('quote every word so the shell gives it back unchanged', async () => {
    const { shellQuote } = await import('../../core/slurm-executor');
    for (const w of ['plain', "it's", '$(touch /tmp/x)', 'a b\nc', '~', '*', '', "'", '--flag=va lue'])
      expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(w)}`], { encoding: 'utf8' })).toBe(w);
  });

  it('escape % in log paths, never requeue, and pass only the resources asked for', async () => {
    const { sbatchArgs } = await import('../../core/slurm-executor');
    const ctx = { runId: 'r1', runDir: '/data/100%/runs/r1', configPath: '', eventsPath: '', python: 'python3', config: {} as never };
    const args = sbatchArgs(ctx, { partition: 'gpu', gpus: 2, time: '1-00:00:00' }, '/opt/starlab/experiments');
    expect(args).toContain('--output=/data/100%%/runs/r1/stdout.log');
    expect(args).toContain('--no-requeue');
    expect(args).toContain('--job-name=starlab-r1');
    expect(args.filter((a) => /^--(partition|gpus|time|account|qos|mem|cpus-per-task)=/.test(a))).toEqual([
      '--partition=gpu',
      '--time=1-00:00:00',
      '--gpus=2',
    ]);
    // across nodes: one task (a torchrun agent) per node, the GPUs per node
    const multi = sbatchArgs(ctx, { nodes: 4, gpus: 8 }, '/opt/starlab/experiments');
    expect(multi.filter((a) => /^--(nodes|ntasks-per-node|gpus|gpus-per-node)=/.test(a))).toEqual([
      '--nodes=4',
      '--ntasks-per-node=1',
      '--gpus-per-node=8',
    ]);
  });

  it('start torchrun on one node inside the job, or on every node with srun, its ranks meeting at the first', async () => {
    const { jobLine } = await import('../../core/slurm-executor');
    const ctx = {
      runId: 'r1',
      runDir: '/d/r1',
      configPath: "/d/it's/config.json",
      eventsPath: '',
      python: '/v/bin/python',
      resume: true,
      config: { runtime: { nproc: 8 } } as never,
    };
    const cmd = { command: '/v/bin/python', args: ['-m', 'torch.distributed.run', '--standalone', '--nproc-per-node=8', '-m', 'starlab'] };
    expect(jobLine(ctx, cmd, {}, false)).toBe('exec /v/bin/python -m torch.distributed.run --standalone --nproc-per-node=8 -m starlab');
    const line = jobLine(ctx, cmd, { nodes: 2 }, false);
    expect(line).toBe(
      'head=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1); exec srun --kill-on-bad-exit=1 /v/bin/python -m ' +
        'torch.distributed.run --nproc-per-node=8 --rdzv-backend=c10d --nnodes="$SLURM_NNODES" --rdzv-id="$SLURM_JOB_ID" ' +
        `--rdzv-endpoint="$head:$((10000 + SLURM_JOB_ID % 20000))" -m starlab run --config '/d/it'\\''s/config.json' --resume`,
    );
    // the shell expands the job's variables and keeps the quoted words whole
    const echoed = execFileSync(
      'sh',
      [
        '-c',
        line
          .replace('scontrol show hostnames "$SLURM_JOB_NODELIST"', 'echo node7')
          .replace('exec srun --kill-on-bad-exit=1', 'printf "%s|"'),
      ],
      { encoding: 'utf8', env: { ...process.env, SLURM_NNODES: '2', SLURM_JOB_ID: '123' } },
    );
    expect(echoed).toContain('|--nnodes=2|--rdzv-id=123|--rdzv-endpoint=node7:10123|');
    expect(echoed).toContain("|--config|/d/it's/config.json|--resume|");
    // srun asks for the job's CPUs per task again
    expect(jobLine(ctx, cmd, { nodes: 2, cpus: 16 }, false)).toContain('exec srun --kill-on-bad-exit=1 --cpus-per-task=16 /v/bin/python');
    // a test's stand-in command runs under srun as it is
    expect(jobLine(ctx, { command: 'fake', args: ['a b'] }, { nodes: 2 }, true)).toBe("exec srun --kill-on-bad-exit=1 fake 'a b'");
  });
});
