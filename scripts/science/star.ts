/**
 * STaR (Zelikman et al. 2022, §3.2 / Fig. 4): rationalization speeds learning. `star` (with
 * rationalization: a question the model gets wrong is retried with the gold answer as a hint, and
 * a rationale that reaches it is kept, without the hint) against `star-norat` (the same loop
 * without that step), on the `addition` task, held-out greedy accuracy.
 *
 * Both variants run the same settings (the only difference is rationalization). The control
 * samples 4 rationales per question at temperature 0.7 (`loop.samples_per_question`,
 * `loop.temperature`) instead of the preset's one greedy sample: with a restart from the warm-up
 * weights every iteration, fine-tuning on the model's own greedy outputs is close to a fixed
 * point, and the control would measure a stalled loop rather than the lack of rationalization.
 *
 * Metrics: eval/accuracy and eval/accuracy/digits_d (variants/star.py `_eval_metrics`), fractions
 * at iteration 0 (the warm-up model) and the final iteration; effects in percentage points.
 */
import { final, initial, pick, type Comparison, type SeedRuns, type ShownRun } from './finding';

const PER_DIGITS = /^eval\/accuracy\/digits_(\d+)$/;

/** The digit counts both runs evaluated on, ascending (throws if they have none in common). */
export function digitLevels(a: ShownRun, b: ShownRun): number[] {
  const levels = (r: ShownRun) =>
    new Set(
      Object.keys(r.metrics).flatMap((k) => {
        const m = PER_DIGITS.exec(k);
        return m ? [Number(m[1])] : [];
      }),
    );
  const lb = levels(b);
  const both = [...levels(a)].filter((d) => lb.has(d)).sort((x, y) => x - y);
  if (both.length === 0) throw new Error(`runs ${a.id} and ${b.id} logged no common "eval/accuracy/digits_d"`);
  return both;
}

/** star − star-norat final value of `metric`, in points. */
function gap(runs: SeedRuns, metric: string): number {
  return 100 * (final(pick(runs, 'star'), metric) - final(pick(runs, 'star-norat'), metric));
}

export const comparison: Comparison = {
  id: 'star',
  source: 'STaR (Zelikman et al. 2022) §3.2, Fig. 4: with vs without rationalization, n-digit addition',
  variants: ['star', 'star-norat'],
  dataset: 'addition',
  preset: 'tiny',
  set: ['runtime.threads=2', 'loop.temperature=0.7', 'loop.samples_per_question=4'],
  sweep: [],
  figureMetrics: ['eval/accuracy/digits_1', 'eval/accuracy/digits_2', 'eval/accuracy/digits_3'],
  findings: [
    {
      id: 'star-rationalization',
      finding: 'Rationalization speeds learning: star beats star-norat on held-out accuracy',
      effect: 'star − star-norat, final eval/accuracy, pts',
      measure: (runs) => gap(runs, 'eval/accuracy'),
    },
    {
      id: 'star-norat-learns',
      finding: 'The control learns too (STaR without rationalization improves on its warm-up model)',
      effect: 'star-norat final − initial eval/accuracy, pts',
      measure: (runs) => {
        const r = pick(runs, 'star-norat');
        return 100 * (final(r, 'eval/accuracy') - initial(r, 'eval/accuracy'));
      },
    },
    {
      id: 'star-hardest-gap',
      finding: 'The gain from rationalization is largest on the hardest problems (most digits)',
      effect: '(star − star-norat) on the most digits − the same on the fewest, final eval/accuracy/digits_d, pts',
      measure: (runs) => {
        const ds = digitLevels(pick(runs, 'star'), pick(runs, 'star-norat'));
        const at = (d: number) => gap(runs, `eval/accuracy/digits_${d}`);
        return at(ds[ds.length - 1]!) - at(ds[0]!); // digitLevels is never empty
      },
    },
  ],
};
