/**
 * The deployable verifier through the lab's own CLI (issue 16 §4): a real tiny V-STaR run, its
 * verifier exported with `starlab verifier export`, the run's stored test candidates reranked
 * with `starlab rerank` from a plain JSONL file — giving back the Best-of-k curve the lab
 * recounts from the run (`starlab curves`).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, REPO, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const VENV_PYTHON = join(REPO, 'experiments', '.venv', 'bin', 'python');

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Out> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', ...args],
      { cwd: REPO, env: { ...process.env, STARLAB_PYTHON: VENV_PYTHON }, timeout: 240_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const SMALL = [
  'task.train_per_digit=8',
  'task.eval_per_digit=4',
  'warmup.examples=40',
  'warmup.steps=30',
  'loop.iterations=1',
  'loop.base_steps=5',
  'loop.samples_per_question=2',
  'verifier.steps=5',
  'verifier.orm_steps=0',
  'verifier.candidates=4',
  'runtime.threads=1',
];

describe('starlab verifier export / rerank', () => {
  it("reranking a run's own candidates with its exported verifier gives the run's Best-of-k", async () => {
    expect(existsSync(VENV_PYTHON), `${VENV_PYTHON} is missing: bash scripts/setup.sh --test makes the experiments environment`).toBe(true);
    const dir = tempDir();
    const sets = SMALL.flatMap((s) => ['--set', s]);
    const launched = await cli([
      'launch',
      '--variant',
      'v-star',
      '--dataset',
      'addition',
      '--preset',
      'tiny',
      ...sets,
      '--wait',
      '--json',
      '--data-dir',
      dir,
    ]);
    expect(launched.code, launched.stderr).toBe(0);
    const run = JSON.parse(launched.stdout) as { id: string; status: string; runDir: string };
    expect(run.status).toBe('completed');

    const out = join(dir, 'deployed');
    const exported = await cli(['verifier', 'export', run.id, '--out', out, '--json', '--data-dir', dir]);
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout)).toMatchObject({ ok: true, iteration: 1 });
    const manifest = JSON.parse(readFileSync(join(out, 'verifier.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest).toMatchObject({ format: 'starlab-verifier', task: 'addition', score: 'reward', finetune: 'full' });

    // a second export to the same folder is refused and leaves it as it was
    const again = await cli(['verifier', 'export', run.id, '--out', out, '--data-dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already exists/);

    // the run's stored candidates, as any generator's output would be written
    const byQuestion = new Map<string, { question: string; candidates: string[]; gold: string }>();
    for (const line of readFileSync(join(run.runDir, 'events.jsonl'), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const e = JSON.parse(line) as { type: string; iteration?: number; items?: Record<string, unknown>[] };
      if (e.type !== 'samples' || e.iteration !== 1) continue;
      for (const it of e.items ?? []) {
        if (it.kind !== 'candidate') continue;
        const id = it.question_id as string;
        if (!byQuestion.has(id)) byQuestion.set(id, { question: it.question as string, candidates: [], gold: it.gold as string });
        byQuestion.get(id)!.candidates.push(it.text as string);
      }
    }
    expect(byQuestion.size).toBeGreaterThan(0);
    const file = join(dir, 'cands', 'candidates.jsonl');
    mkdirSync(join(dir, 'cands'));
    writeFileSync(file, [...byQuestion.values()].map((r) => JSON.stringify(r)).join('\n') + '\n');

    const reranked = await cli(['rerank', '--verifier', out, '--candidates', file, '--device', 'cpu', '--json', '--data-dir', dir]);
    expect(reranked.code, reranked.stderr).toBe(0);
    const result = JSON.parse(reranked.stdout) as { questions: number; curves: { best_of_k: Record<string, number> } };
    expect(result.questions).toBe(byQuestion.size);

    const curves = await cli(['curves', run.id, '--kind', 'best-of-k', '--scorer', 'dpo', '--json', '--data-dir', dir]);
    expect(curves.code, curves.stderr).toBe(0);
    const logged = JSON.parse(curves.stdout) as { k: number; value: number }[];
    expect(logged.map((p) => p.k)).toEqual([1, 2, 3, 4]);
    for (const p of logged) expect(result.curves.best_of_k[String(p.k)]).toBeCloseTo(p.value, 9);

    // the human-readable form: one line per question, then the curves
    const text = await cli(['rerank', '--verifier', out, '--candidates', file, '--device', 'cpu', '--data-dir', dir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^k\tpass@k\tmajority@k\tbest-of-k$/m);

    // a malformed candidates file is refused naming its line
    writeFileSync(file, '{"question": "1+2:", "candidates": "3"}\n');
    const bad = await cli(['rerank', '--verifier', out, '--candidates', file, '--data-dir', dir]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/line 1: 'candidates' must be a non-empty list of strings/);
  }, 300_000);
});
