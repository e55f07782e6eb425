/**
 * The service against the real Python package (experiments/.venv): resume after a stop, and
 * dataset import. These run real (micro) training, so they take seconds, not milliseconds.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../core/service';
import { cleanupTempDirs, REPO, tempDir, waitFor } from '../fixtures/helpers';
import { MICRO_STAR } from '../fixtures/micro-star';

const SHARED_DATASETS = join(REPO, '..', 'shared', 'datasets');
const open: Service[] = [];
afterEach(() => {
  for (const s of open.splice(0)) {
    for (const r of s.listRuns()) if (r.status === 'running') s.stopRun(r.id);
    s.close();
  }
});
afterAll(cleanupTempDirs);

function service(): Service {
  const s = createService({ dataDir: tempDir(), pollMs: 100, stopGraceMs: 20_000 });
  open.push(s);
  return s;
}

describe('with the real experiment package', () => {
  it('resumes a stopped run after its last checkpoint, with no duplicated metric', async () => {
    const s = service();
    const r = await s.launchRun({
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 1,
      overrides: { ...MICRO_STAR, 'loop.iterations': '4', 'loop.base_steps': '400', 'loop.step_growth': '1' },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    expect(s.getRun(r.id)?.checkpointIteration).toBeNull();
    await waitFor(() => (s.getRun(r.id)?.checkpointIteration ?? 0) >= 1, 120_000, 'the first checkpoint');
    expect(s.stopRun(r.id).ok).toBe(true);
    const stopped = (await s.waitForRun(r.id, { timeoutMs: 60_000 }))!;
    expect(stopped.status).toBe('stopped');
    const at = stopped.checkpointIteration!;
    expect(at).toBeGreaterThanOrEqual(1);
    expect(at).toBeLessThan(4);

    const res = await s.resumeRun(r.id);
    expect(res).toMatchObject({ ok: true });
    expect(s.getRun(r.id)?.status).toBe('running');
    const done = (await s.waitForRun(r.id, { timeoutMs: 180_000 }))!;
    expect(done.status).toBe('completed');
    expect(done.statusReason).toBeNull();
    expect(done.metrics['eval/accuracy']!.map((p) => p.iteration)).toEqual([0, 1, 2, 3, 4]);
    const kept = done.metrics['train/kept']!.map((p) => p.iteration);
    expect(kept).toEqual([1, 2, 3, 4]);
    // the iteration the stop interrupted was redone: none of its rows appear twice
    const losses = done.metrics['train/loss']!.map((p) => `${p.iteration}:${p.step}`);
    expect(new Set(losses).size).toBe(losses.length);
    const dupSamples = s.db
      .prepare(
        `SELECT count(*) AS n FROM (SELECT iteration, question_id, kind, count(*) AS c FROM samples WHERE run_id = ?
                GROUP BY iteration, question_id, kind HAVING c > 1)`,
      )
      .get(r.id) as { n: number };
    expect(dupSamples.n).toBe(0);
    const phases = done.phases.map((p) => `${p.iteration}:${p.phase}`);
    expect(new Set(phases).size).toBe(phases.length);
    expect(done.phases.filter((p) => p.phase === 'train').map((p) => p.iteration)).toEqual([1, 2, 3, 4]);
    expect(done.checkpointIteration).toBe(4);
    expect(s.getLogs(r.id, {}).some((l) => /resumed after iteration/.test(l.message))).toBe(true);
    // a completed run is not resumed again
    expect((await s.resumeRun(r.id)).ok).toBe(false);
  }, 300_000);

  it('runs a STaR run under torchrun with runtime.nproc 2 and stops every rank through the supervisor', async () => {
    const s = service();
    const r = await s.launchRun({
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 1,
      // iterations to spare: when a micro run keeps no rationale its fine-tunes are instant, and under
      // load two iterations could end between the poll that sees iteration 1's train phase and the stop
      overrides: { ...MICRO_STAR, 'runtime.nproc': '2', 'loop.iterations': '8', 'loop.base_steps': '2000', 'loop.step_growth': '1' },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    const run = s.getRun(r.id)!;
    const pid = run.pid!;
    await waitFor(() => s.getRun(r.id)?.phases.some((p) => p.phase === 'train' && p.iteration === 1), 120_000, "iteration 1's fine-tune");
    // torchrun's agent and its two ranks (each rank in a session of its own)
    const processes = () => {
      try {
        return execFileSync('pgrep', ['-f', join(run.runDir, 'config.json')], { encoding: 'utf8' })
          .trim()
          .split('\n')
          .map(Number);
      } catch {
        return []; // pgrep exits 1 when nothing matches
      }
    };
    expect(processes()).toHaveLength(3);
    expect(processes()).toContain(pid);
    expect(s.stopRun(r.id).ok).toBe(true);
    const stopped = (await s.waitForRun(r.id, { timeoutMs: 60_000 }))!;
    expect(stopped.status).toBe('stopped');
    expect(stopped.statusReason).toBe('stopped by user');
    expect(s.getLogs(r.id, {}).some((l) => /stopped cleanly/.test(l.message))).toBe(true);
    await waitFor(() => processes().length === 0, 10_000, 'every rank to exit');
  }, 180_000);

  it('never imports code planted in a run directory: the child does not run in it', async () => {
    const marker = join(tempDir(), 'planted-code-ran');
    const payload = `open(${JSON.stringify(marker)}, "w").write("ran")\nraise SystemExit(3)\n`;
    const python = join(REPO, 'experiments', '.venv', 'bin', 'python');
    const s = createService({
      dataDir: tempDir(),
      pollMs: 100,
      stopGraceMs: 20_000,
      // as a bundle could leave them: a package named like ours, and a module named like torch
      commandFor: (ctx) => {
        mkdirSync(join(ctx.runDir, 'starlab'), { recursive: true });
        for (const f of ['starlab/__init__.py', 'starlab/__main__.py', 'torch.py']) writeFileSync(join(ctx.runDir, f), payload);
        return { command: python, args: ['-m', 'starlab', 'run', '--config', ctx.configPath] };
      },
    });
    open.push(s);
    const r = await s.launchRun({
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      overrides: { ...MICRO_STAR, 'warmup.steps': '100000' },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    // the real package started (its run_start names the real torch) and is warming up
    await waitFor(() => s.getRun(r.id)?.currentPhase === 'warmup' || s.getRun(r.id)?.status !== 'running', 60_000, 'the warm-up to start');
    const d = s.getRun(r.id)!;
    expect(d.status).toBe('running');
    expect(String(d.env?.torch)).toMatch(/^\d+\.\d+/);
    s.stopRun(r.id);
    await s.waitForRun(r.id, { timeoutMs: 60_000 });
    expect(existsSync(marker)).toBe(false);
  }, 120_000);

  it('refuses to resume a run that has no checkpoint', async () => {
    const s = service();
    const r = await s.launchRun({
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      overrides: { ...MICRO_STAR, 'warmup.steps': '100000' },
    });
    if (!r.ok) throw new Error(JSON.stringify(r.errors));
    await waitFor(() => s.getRun(r.id)?.currentPhase === 'warmup', 60_000, 'the warm-up to start');
    s.stopRun(r.id);
    await s.waitForRun(r.id, { timeoutMs: 60_000 });
    const res = await s.resumeRun(r.id);
    expect(res.ok).toBe(false);
    expect(res.message).toMatch(/no iteration checkpoint/);
  }, 120_000);

  it('warns before launch when a dataset has no local copy, and lists where datasets are found', async () => {
    const s = service();
    // a task.path without the files fails the run: refused before launch
    const missing = await s.validateLaunch({ variant: 'star', dataset: 'gsm8k', preset: 'tiny', overrides: { 'task.path': tempDir() } });
    expect(missing.ok ? [] : missing.errors.map((e) => e.field)).toEqual(['task.path']);
    const partial = tempDir();
    writeFileSync(join(partial, 'train.jsonl'), '');
    const half = await s.launchRun({ variant: 'star', dataset: 'gsm8k', preset: 'tiny', overrides: { 'task.path': partial } });
    expect(half.ok ? '' : half.errors[0]!.message).toMatch(/only some of the gsm8k files/);
    // nowhere at all: a warning (the run would try the hub)
    const dataDirOnly = await s.validateLaunch({ variant: 'star', dataset: 'commonsenseqa', preset: 'tiny' });
    if (!process.env['STARLAB_DATASETS_DIR']) expect(dataDirOnly.ok && dataDirOnly.warnings?.map((w) => w.field)).toEqual(['dataset']);
    const found = await s.validateLaunch({
      variant: 'star',
      dataset: 'gsm8k',
      preset: 'tiny',
      overrides: { 'task.path': SHARED_DATASETS },
    });
    expect(found.ok && found.warnings).toBeUndefined();
    expect(await s.validateLaunch({ variant: 'star', dataset: 'addition', preset: 'tiny' })).not.toHaveProperty('warnings');
    const listed = await s.listDatasets();
    expect(listed.map((d) => d.id)).toEqual(['gsm8k', 'commonsenseqa']);
    expect(listed[0]!.searched).toContain(join(s.dataDir, 'datasets', 'gsm8k'));
  });

  it('imports dataset files, and names the file and line of a malformed one', async () => {
    const s = service();
    const ok = await s.importDataset({
      dataset: 'gsm8k',
      train: join(SHARED_DATASETS, 'gsm8k', 'train.jsonl'),
      eval: join(SHARED_DATASETS, 'gsm8k', 'test.jsonl'),
    });
    expect(ok).toMatchObject({ ok: true, dir: join(s.dataDir, 'datasets', 'gsm8k') });
    if (ok.ok) expect(ok.rows).toEqual({ train: 7473, eval: 1319 });
    expect((await s.listDatasets()).find((d) => d.id === 'gsm8k')?.dir).toBe(join(s.dataDir, 'datasets', 'gsm8k'));
    const bad = join(tempDir(), 'bad.jsonl');
    writeFileSync(bad, '{"question": "q", "answer": "4 #### 4"}\n{"question": "no answer"}\n');
    const r = await s.importDataset({ dataset: 'gsm8k', train: bad, eval: join(SHARED_DATASETS, 'gsm8k', 'test.jsonl') });
    expect(r.ok).toBe(false);
    expect(r.message).toContain('bad.jsonl:2');
  }, 120_000);
});
