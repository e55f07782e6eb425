/** The Quiet-STaR comparison of `npm run bench:science` (scripts/science/quiet.ts): what each finding reads. */
import { describe, expect, it } from 'vitest';
import { runKey, type SeedRuns, type ShownRun } from '../../scripts/science/finding';
import { comparison, LONG, SHORT } from '../../scripts/science/quiet';

/** A quiet-star run whose first evaluation logs 0.99 (never read) and final one the given values. */
function run(pw: number, len: number, acc: number, base: number): ShownRun {
  return {
    id: `r-${pw}-${len}`,
    variant: 'quiet-star',
    dataset: 'addition',
    seed: 0,
    status: 'completed',
    statusReason: null,
    durationS: 1,
    config: { quiet: { policy_weight: pw, thought_len: len } },
    metrics: {
      'eval/accuracy': [
        { iteration: 0, value: 0.99 },
        { iteration: 1, value: acc },
      ],
      'eval/base_accuracy': [
        { iteration: 0, value: 0.99 },
        { iteration: 1, value: base },
      ],
    },
  };
}

function seedRuns(rs: ShownRun[]): SeedRuns {
  return Object.fromEntries(rs.map((r) => [runKey(r, comparison.sweep), r]));
}

const measure = (id: string, runs: SeedRuns) => comparison.findings.find((f) => f.id === id)!.measure(runs);

describe('the quiet comparison', () => {
  it('sweeps policy weight 0/1 × a short and a long thought on addition', () => {
    expect(comparison).toMatchObject({ variants: ['quiet-star'], dataset: 'addition', preset: 'tiny' });
    expect(comparison.sweep).toEqual(['quiet.policy_weight=0,1', `quiet.thought_len=${SHORT},${LONG}`]);
    // the three runs the findings read, in two ablations over the sweep's keys
    expect(comparison.arms).toEqual([
      ['quiet.policy_weight=1', `quiet.thought_len=${SHORT},${LONG}`],
      ['quiet.policy_weight=0', `quiet.thought_len=${LONG}`],
    ]);
    expect(SHORT).toBeLessThan(LONG);
    expect(comparison.set).toContain('quiet.corpus=direct');
    expect(comparison.findings.map((f) => f.id)).toEqual([
      'quiet-thoughts-beat-base',
      'quiet-beats-policy-weight-0',
      'quiet-gain-grows-with-thought-length',
    ]);
  });

  it('reads the final evaluation of the right runs, in points', () => {
    const runs = seedRuns([run(1, LONG, 0.3, 0.2), run(0, LONG, 0.25, 0.2), run(1, SHORT, 0.18, 0.2), run(0, SHORT, 0.1, 0.1)]);
    expect(measure('quiet-thoughts-beat-base', runs)).toBeCloseTo(10);
    expect(measure('quiet-beats-policy-weight-0', runs)).toBeCloseTo(5);
    expect(measure('quiet-gain-grows-with-thought-length', runs)).toBeCloseTo(12); // 10 − (−2)
    const worse = seedRuns([run(1, LONG, 0.2, 0.25), run(0, LONG, 0.3, 0.2), run(1, SHORT, 0.3, 0.2), run(0, SHORT, 0.1, 0.1)]);
    expect(measure('quiet-thoughts-beat-base', worse)).toBeCloseTo(-5);
    expect(measure('quiet-beats-policy-weight-0', worse)).toBeCloseTo(-10);
    expect(measure('quiet-gain-grows-with-thought-length', worse)).toBeCloseTo(-15);
  });

  it('names a missing run', () => {
    const runs = seedRuns([run(1, LONG, 0.3, 0.2)]);
    expect(() => measure('quiet-beats-policy-weight-0', runs)).toThrow(/no run "quiet-star quiet.policy_weight=0 quiet.thought_len=3"/);
  });
});
