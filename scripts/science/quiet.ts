/**
 * Quiet-STaR (Zelikman et al. 2024, §5–6, Fig. 2 / Table 1): thoughts help the model predict the
 * answer. With the paper's metric — eval/accuracy: the gold answer's teacher-forced probability
 * (renormalised over digits + end, multiplied over the answer's tokens) after a greedy thought at
 * each answer position; eval/base_accuracy: the same model without thoughts — after training
 * the model with thoughts beats its own base, beats the control trained with policy weight 0
 * (no REINFORCE on the thoughts), and the gain grows with the thought's length.
 *
 * At tiny scale, on `addition` (variants/quiet_star.py; docs/paper-presets.md, Quiet-STaR):
 * - warm-up (the stand-in for pre-training): direct answers `374+982:=267` (reversed digits,
 *   <eos>), each step's work written before its digit between thought markers with probability
 *   0.5 (`=-390-2-781-6-421-7-000-`: digit of a, digit of b, carry in; `000` before the end) —
 *   quiet.warmup_format=direct, quiet.warmup_thoughts=0.5. The marker is "-", the character the
 *   start/end-of-thought embeddings start from, so a thought begins as the model's "work" mode.
 *   4000 examples of 1–3 digits, no hints, 1000 steps.
 * - Quiet-STaR corpus: the train questions written as direct answers (quiet.corpus=direct),
 *   no work in the text: only a thought can recover it.
 * - LoRA on the LM (lora_lr 3e-4) with the mixing head and thought embeddings at lr 0.01, 30
 *   steps: with a full fine-tune at the preset's lr the base model drifts and the mixing weight
 *   stays near 0.
 * - runs: policy weight 1 at thought_len 1 and 3 (3 tokens hold one step's work; 1 holds only
 *   a's digit), and the control, policy weight 0, at thought_len 3 (two ablations: `arms`).
 *
 * Effects in percentage points of eval/accuracy at the final evaluation.
 */
import { byIterationFigure, final, pick, type Comparison, type SeedRuns } from './finding';

export const SHORT = 1;
export const LONG = 3;

const key = (pw: number, len: number) => `quiet-star quiet.policy_weight=${pw} quiet.thought_len=${len}`;

/** final eval/accuracy − eval/base_accuracy of one run, in points. */
function gain(runs: SeedRuns, pw: number, len: number): number {
  const run = pick(runs, key(pw, len));
  return 100 * (final(run, 'eval/accuracy') - final(run, 'eval/base_accuracy'));
}

export const comparison: Comparison = {
  id: 'quiet',
  source:
    'Quiet-STaR (Zelikman et al. 2024) §5–6: thoughts raise the gold answer probability, beyond the base and policy weight 0, more with longer thoughts',
  variants: ['quiet-star'],
  dataset: 'addition',
  preset: 'tiny',
  set: [
    'runtime.threads=2',
    'warmup.hinted_fraction=0',
    'warmup.max_digits=3',
    'warmup.examples=4000',
    'warmup.steps=1000',
    'quiet.warmup_format=direct',
    'quiet.warmup_thoughts=0.5',
    'quiet.corpus=direct',
    'quiet.steps=30',
    'quiet.eval_every=30',
    'quiet.finetune=lora',
    'quiet.lora_lr=0.0003',
    'quiet.lr=0.01',
  ],
  sweep: ['quiet.policy_weight=0,1', `quiet.thought_len=${SHORT},${LONG}`],
  // the findings read 3 of the 4 combinations: policy weight 1 at both lengths, the control at the long one
  arms: [
    ['quiet.policy_weight=1', `quiet.thought_len=${SHORT},${LONG}`],
    ['quiet.policy_weight=0', `quiet.thought_len=${LONG}`],
  ],
  figures: (seeds) => [
    {
      name: 'addition-thoughts',
      figure: byIterationFigure(
        seeds,
        'eval/accuracy',
        [
          { key: key(1, LONG), label: `with thoughts (${LONG} tokens)` },
          { key: key(1, SHORT), label: `with thoughts (${SHORT} token)` },
          { key: key(0, LONG), label: `policy weight 0 (${LONG} tokens)` },
        ],
        { title: 'addition: teacher-forced gold answer probability', yLabel: 'Gold answer probability' },
      ),
    },
    {
      name: 'addition-base',
      figure: byIterationFigure(
        seeds,
        'eval/base_accuracy',
        [{ key: key(1, LONG), label: `without thoughts (the same model, ${LONG}-token run)` }],
        {
          title: 'addition: the same metric without thoughts',
          yLabel: 'Gold answer probability',
        },
      ),
    },
  ],
  findings: [
    {
      id: 'quiet-thoughts-beat-base',
      finding: 'After training, the model with thoughts gives the gold answer a higher probability than without them',
      effect: `eval/accuracy − eval/base_accuracy, final evaluation, policy weight 1, thought_len ${LONG}, pts`,
      measure: (runs) => gain(runs, 1, LONG),
    },
    {
      id: 'quiet-beats-policy-weight-0',
      finding: 'Training the thoughts with REINFORCE (policy weight 1) beats the control without it (policy weight 0)',
      effect: `final eval/accuracy, policy weight 1 − policy weight 0, thought_len ${LONG}, pts`,
      measure: (runs) => 100 * (final(pick(runs, key(1, LONG)), 'eval/accuracy') - final(pick(runs, key(0, LONG)), 'eval/accuracy')),
    },
    {
      id: 'quiet-gain-grows-with-thought-length',
      finding: 'The gain from thoughts grows with their length',
      effect: `(eval/accuracy − eval/base_accuracy) at thought_len ${LONG} − at ${SHORT}, final evaluation, policy weight 1, pts`,
      measure: (runs) => gain(runs, 1, LONG) - gain(runs, 1, SHORT),
    },
  ],
};
