/** The STaR comparison of `npm run bench:science` (scripts/science/star.ts): what each finding reads. */
import { describe, expect, it } from 'vitest';
import type { ShownRun } from '../../scripts/science/finding';
import { comparison, digitLevels } from '../../scripts/science/star';

/** A run logging eval/accuracy and digits_1..3 at iteration 0 and a final iteration. */
function run(variant: string, first: number[], last: number[]): ShownRun {
  const metrics: ShownRun['metrics'] = {};
  const names = ['eval/accuracy', 'eval/accuracy/digits_1', 'eval/accuracy/digits_2', 'eval/accuracy/digits_3'];
  names.forEach((n, i) => {
    metrics[n] = [
      { iteration: 0, value: first[i]! },
      { iteration: 5, value: last[i]! },
    ];
  });
  return {
    id: `r-${variant}`,
    variant,
    dataset: 'addition',
    seed: 0,
    status: 'completed',
    statusReason: null,
    durationS: 1,
    config: {},
    metrics,
  };
}

const measure = (id: string, runs: Record<string, ShownRun>) => comparison.findings.find((f) => f.id === id)!.measure(runs);

describe('the star comparison', () => {
  it('runs star against star-norat on addition with the same settings', () => {
    expect(comparison).toMatchObject({ variants: ['star', 'star-norat'], dataset: 'addition', preset: 'tiny', sweep: [] });
  });

  it('reads the final gap, the control’s own gain and the hardest-minus-easiest gap, in points', () => {
    const runs = {
      star: run('star', [0.1, 0.3, 0.0, 0.0], [0.5, 0.8, 0.5, 0.2]),
      'star-norat': run('star-norat', [0.1, 0.3, 0.0, 0.0], [0.3, 0.7, 0.2, 0.0]),
    };
    expect(measure('star-rationalization', runs)).toBeCloseTo(20);
    expect(measure('star-norat-learns', runs)).toBeCloseTo(20);
    expect(measure('star-hardest-gap', runs)).toBeCloseTo(10); // digits_3: 20 − digits_1: 10
  });

  it('finds the digit levels both runs logged, and names runs that logged none', () => {
    const a = run('star', [0, 0, 0, 0], [0, 0, 0, 0]);
    expect(digitLevels(a, a)).toEqual([1, 2, 3]);
    const none = { ...a, id: 'x', metrics: { 'eval/accuracy': a.metrics['eval/accuracy'] ?? [] } };
    expect(() => digitLevels(a, none)).toThrow(/no common/);
  });
});
