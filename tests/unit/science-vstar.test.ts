/** The V-STaR comparison of `npm run bench:science` (scripts/science/vstar.ts): what each finding reads. */
import { describe, expect, it } from 'vitest';
import type { ShownRun } from '../../scripts/science/finding';
import { comparison, ks } from '../../scripts/science/vstar';

/** A v-star run whose final iteration logs the given curves for k = 1..n (an earlier iteration logs other values). */
function run(n: number, curves: Record<string, (k: number) => number>): ShownRun {
  const metrics: ShownRun['metrics'] = {};
  for (const [prefix, f] of Object.entries(curves))
    for (let k = 1; k <= n; k++)
      metrics[`${prefix}@${k}`] = [
        { iteration: 1, value: 0.99 },
        { iteration: 3, value: f(k) },
      ];
  return {
    id: 'r1',
    variant: 'v-star',
    dataset: 'pair-sum',
    seed: 0,
    status: 'completed',
    statusReason: null,
    durationS: 1,
    config: { verifier: { candidates: n } },
    metrics,
  };
}

const measure = (id: string, r: ShownRun) => comparison.findings.find((f) => f.id === id)!.measure({ 'v-star': r });

describe('the vstar comparison', () => {
  it('runs v-star on pair-sum and reads k = 4..N', () => {
    expect(comparison).toMatchObject({ variants: ['v-star'], dataset: 'pair-sum', preset: 'tiny', sweep: [] });
    expect(ks(run(8, {}))).toEqual([4, 5, 6, 7, 8]);
    expect(() => ks(run(3, {}))).toThrow(/fewer than k = 4/);
  });

  it('takes the smallest final-iteration margin over k ≥ 4, in points', () => {
    const r = run(8, {
      'vstar/best_of_k/dpo': (k) => 0.3 + 0.02 * k,
      'vstar/majority': (k) => 0.3 + 0.01 * k + (k === 8 ? 0.12 : 0), // overtakes the verifier at k = 8
      'vstar/pass': (k) => 0.3 + 0.05 * k,
      'vstar/best_of_k/likelihood': () => 0.35, // above the verifier at k = 1, 2, below from k = 3
    });
    expect(measure('vstar-bok-vs-majority', r)).toBeCloseTo(-4); // k = 8: 0.46 − 0.50
    expect(measure('vstar-bok-vs-pass1', r)).toBeCloseTo(3); // k = 4: 0.38 − 0.35
    expect(measure('vstar-bok-vs-likelihood', r)).toBeCloseTo(3); // k = 4: 0.38 − 0.35 (k < 4 not read)
  });

  it('names the run and metric a run did not log', () => {
    const r = run(8, { 'vstar/best_of_k/dpo': () => 0.5, 'vstar/pass': () => 0.3 });
    expect(() => measure('vstar-bok-vs-likelihood', r)).toThrow(/logged no "vstar\/best_of_k\/likelihood@4"/);
  });
});
