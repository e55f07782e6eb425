/**
 * `getCurve` / `starlab curves`: V-STaR's curves recounted from stored candidates (real
 * SQLite, the real CLI), against hand-computed values.
 */
import { execFile } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { createService } from '../../core/service';
import * as q from '../../db/queries';
import { cleanupTempDirs, FAKE_PYTHON, REPO, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', ...args],
      { cwd: REPO, env: { ...process.env, STARLAB_PYTHON: FAKE_PYTHON }, timeout: 30_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** A completed v-star run with 2 questions × 3 candidates at iteration 1 (and 1 × 3 at iteration 0). */
function seedRun(dataDir: string): string {
  const s = createService({ dataDir });
  const id = 'vstar-run';
  q.insertRun(s.db, {
    id,
    variant: 'v-star',
    dataset: 'addition',
    preset: 'tiny',
    seed: 0,
    model: 'm',
    config_json: '{}',
    config_hash: 'h',
    status: 'completed',
    created_at: 1,
    run_dir: `${dataDir}/runs/${id}`,
  });
  const ins = s.db.prepare(
    `INSERT INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold, correct, hint_used, kept, difficulty, scores_json)
     VALUES (?, ?, ?, ?, 'eval', 'candidate', ?, 'q', 't', ?, ?, ?, 0, NULL, 1, ?)`,
  );
  let seq = 0;
  const add = (it: number, qid: string, answer: string | null, gold: string, reward: number, orm: number) =>
    ins.run(id, seq++, 0, it, qid, answer, gold, answer === gold ? 1 : 0, JSON.stringify({ reward, orm, logp_norm: -reward, logp: -1 }));
  // q1: answers 7 (right, reward 3), 8 (wrong, reward 2), 7 (right, reward 1)
  add(1, 'q1', '7', '7', 3, 0.1);
  add(1, 'q1', '8', '7', 2, 0.9);
  add(1, 'q1', '7', '7', 1, 0.5);
  // q2: answers 5 (wrong), null (unparsed), 4 (right, reward tied with the wrong one)
  add(1, 'q2', '5', '4', 2, 0.2);
  add(1, 'q2', null, '4', 0, 0.3);
  add(1, 'q2', '4', '4', 2, 0.1);
  add(0, 'q1', '1', '7', 1, 0.1);
  add(0, 'q1', '2', '7', 2, 0.1);
  add(0, 'q1', '7', '7', 3, 0.1);
  s.close();
  return id;
}

describe('curves from stored candidates', () => {
  const dataDir = tempDir();
  const id = seedRun(dataDir);

  it('the service recounts pass@k, majority and best-of-k (hand-computed)', () => {
    const s = createService({ dataDir });
    try {
      // pass@k: q1 has 2 of 3 right → 2/3, 1, 1; q2 1 of 3 → 1/3, 2/3, 1
      const pass = s.getCurve(id, { kind: 'pass-at-k' });
      expect(pass).toMatchObject({ ok: true, iteration: 1, questions: 2, candidates: 3 });
      const pv = (pass as { points: { k: number; value: number }[] }).points;
      expect(pv.map((p) => p.k)).toEqual([1, 2, 3]);
      expect(pv[0]!.value).toBeCloseTo((2 / 3 + 1 / 3) / 2, 12);
      expect(pv[1]!.value).toBeCloseTo((1 + 2 / 3) / 2, 12);
      expect(pv[2]!.value).toBeCloseTo(1, 12);
      // best-of-k by the DPO reward: q1 → k=3: top (3) right = 1; q2 → top tie (2, 2): one right → 1/2
      const best = s.getCurve(id, { kind: 'best-of-k', scorer: 'dpo' }) as {
        ok: true;
        scorer: string;
        points: { k: number; value: number }[];
      };
      expect(best.scorer).toBe('dpo');
      expect(best.points[2]!.value).toBeCloseTo((1 + 0.5) / 2, 12);
      // by the ORM: q1 top is the wrong 8 (0.9); q2 top is the null answer (0.3, wrong) → 0 at k = 3
      expect((s.getCurve(id, { kind: 'best-of-k', scorer: 'orm' }) as { points: { value: number }[] }).points[2]!.value).toBe(0);
      // majority at k = 3: q1 7,8,7 → 7 right; q2 5,null,4 → tie 5 vs 4 → 1/2
      expect((s.getCurve(id, { kind: 'majority' }) as { points: { value: number }[] }).points[2]!.value).toBeCloseTo(0.75, 12);
      // another iteration; refusals name the problem
      expect(s.getCurve(id, { kind: 'pass-at-k', iteration: 0 })).toMatchObject({ ok: true, iteration: 0, questions: 1 });
      expect(s.getCurve(id, { kind: 'pass-at-k', iteration: 5 })).toEqual({
        ok: false,
        message: 'run vstar-run has no candidates at iteration 5 (it has them at 0, 1)',
      });
      expect(s.getCurve('nope', { kind: 'majority' })).toEqual({ ok: false, message: 'no run "nope"' });
    } finally {
      s.close();
    }
  });

  it('starlab curves --json prints [{k, value}] and refuses bad options', async () => {
    const r = await cli(['curves', id, '--kind', 'best-of-k', '--json', '--data-dir', dataDir]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const points = JSON.parse(r.stdout) as { k: number; value: number }[];
    expect(points.map((p) => p.k)).toEqual([1, 2, 3]);
    expect(points[2]!.value).toBeCloseTo(0.75, 12);
    const text = await cli(['curves', id.slice(0, 5), '--kind', 'majority', '--iteration', '1', '--data-dir', dataDir]);
    expect(text.stdout).toMatch(/^majority, iteration 1: 2 questions × 3 candidates\nk=1 {4}/);
    const bad = await cli(['curves', id, '--kind', 'best', '--scorer', 'x', '--data-dir', dataDir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/unknown kind "best"/);
    expect(bad.stderr).toMatch(/unknown scorer "x"/);
    const none = await cli(['curves', id, '--kind', 'majority', '--iteration', '9', '--data-dir', dataDir]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/no candidates at iteration 9/);
  }, 60_000);
});
