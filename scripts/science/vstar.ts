/**
 * V-STaR (Hosseini et al. 2024, §4 / Fig. 3): Best-of-k by the DPO verifier rises with k, above
 * majority voting and above Pass@1, and above ranking the candidates by the generator's own
 * likelihood (the control: the sampler's confidence, no verifier).
 *
 * On this project's own `pair-sum` task (experiments/starlab/tasks/pair_sum.py): find the one
 * pair of a list of 5–7 distinct digits that sums to a target, written `a+b=s`. Checking a
 * proposed pair is one look-up and one small addition; finding it is a search over 10–21 pairs,
 * so a tiny verifier can learn to check what the tiny generator cannot yet find reliably.
 * (On `addition` the finding cannot show at tiny scale: difficulty is bimodal, so few questions
 * have both right and wrong candidates, and checking a scratchpad sum is the same computation as
 * writing it.)
 *
 * Every effect is read at the final iteration, over k = 4 … N (N = verifier.candidates, 8 in the
 * tiny preset): the smallest margin over those k, so a finding holds for a seed only when it
 * holds at every k ≥ 4. Metrics: vstar/best_of_k/dpo@k, vstar/majority@k, vstar/pass@1,
 * vstar/best_of_k/likelihood@k (variants/vstar.py `_curve_metrics`), all fractions; effects in
 * percentage points.
 */
import { overKFigure, configValue, final, pick, type Comparison, type SeedRuns, type ShownRun } from './finding';

/** The smallest k the findings read (the claim is for k ≥ 4). */
export const K_MIN = 4;

/** k = K_MIN … N, N the run's verifier.candidates. */
export function ks(run: ShownRun): number[] {
  const n = Number(configValue(run.config, 'verifier.candidates'));
  if (!Number.isInteger(n) || n < K_MIN) throw new Error(`run ${run.id}: verifier.candidates is ${String(n)}, fewer than k = ${K_MIN}`);
  return Array.from({ length: n - K_MIN + 1 }, (_, i) => K_MIN + i);
}

/** min over k ≥ K_MIN of (dpo@k − baseline(k)), in percentage points, at the final iteration. */
function minMargin(runs: SeedRuns, baseline: (run: ShownRun, k: number) => number): number {
  const run = pick(runs, 'v-star');
  return Math.min(...ks(run).map((k) => 100 * (final(run, `vstar/best_of_k/dpo@${k}`) - baseline(run, k))));
}

export const comparison: Comparison = {
  id: 'vstar',
  source: 'V-STaR (Hosseini et al. 2024) §4, Fig. 3: Best-of-k by the DPO verifier vs majority voting and Pass@1',
  variants: ['v-star'],
  dataset: 'pair-sum',
  preset: 'tiny',
  set: ['runtime.threads=2'],
  sweep: [],
  figures: (seeds) => [
    {
      name: 'pair-sum-best-of-k',
      figure: overKFigure(
        seeds,
        'v-star',
        [
          { prefix: 'vstar/pass', label: 'Pass@k (oracle)' },
          { prefix: 'vstar/best_of_k/dpo', label: 'Best-of-k, DPO verifier' },
          { prefix: 'vstar/majority', label: 'Majority vote' },
          { prefix: 'vstar/best_of_k/likelihood', label: 'Best-of-k, generator likelihood' },
          { prefix: 'vstar/best_of_k/orm', label: 'Best-of-k, ORM' },
        ],
        { title: 'pair-sum: test-time selection over k (final iteration)', kMax: 64 },
      ),
    },
  ],
  findings: [
    {
      id: 'vstar-bok-vs-majority',
      finding: 'Best-of-k by the DPO verifier beats majority voting over the same k candidates (k ≥ 4)',
      effect: 'min over k = 4…N of best_of_k/dpo@k − majority@k, final iteration, pts',
      measure: (runs) => minMargin(runs, (run, k) => final(run, `vstar/majority@${k}`)),
    },
    {
      id: 'vstar-bok-vs-pass1',
      finding: 'Best-of-k by the DPO verifier rises above Pass@1 (one sample) for k ≥ 4',
      effect: 'min over k = 4…N of best_of_k/dpo@k − pass@1, final iteration, pts',
      measure: (runs) => minMargin(runs, (run) => final(run, 'vstar/pass@1')),
    },
    {
      id: 'vstar-bok-vs-likelihood',
      finding: "Best-of-k by the DPO verifier beats ranking by the generator's own likelihood (control, k ≥ 4)",
      effect: "min over k = 4…N of best_of_k/dpo@k − best_of_k/likelihood@k (generator's mean log-likelihood), final iteration, pts",
      measure: (runs) => minMargin(runs, (run, k) => final(run, `vstar/best_of_k/likelihood@${k}`)),
    },
  ],
};
