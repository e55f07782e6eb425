import { describe, expect, it } from 'vitest';
import { aggregate, ci95HalfWidth, ema, emaPoints, mean, sampleStd, tCritical95, bestOfMeanCurve } from '../../shared/stats';

describe('stats', () => {
  it('mean and sample std', () => {
    expect(mean([1, 2, 3, 4])).toBe(2.5);
    expect(Number.isNaN(mean([]))).toBe(true);
    // squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / (n-1) = 5/3
    expect(sampleStd([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(sampleStd([2, 4, 4, 4, 5, 5, 7, 9])).toBeCloseTo(2.138089935, 8); // sqrt(32/7)
    expect(sampleStd([7])).toBe(0);
    expect(sampleStd([])).toBe(0);
  });

  it('Student t table, then 1.96', () => {
    expect(tCritical95(1)).toBe(12.706);
    expect(tCritical95(2)).toBe(4.303);
    expect(tCritical95(3)).toBe(3.182);
    expect(tCritical95(10)).toBe(2.228);
    expect(tCritical95(30)).toBe(2.042);
    expect(tCritical95(31)).toBe(1.96);
    expect(tCritical95(1000)).toBe(1.96);
    expect(Number.isNaN(tCritical95(0))).toBe(true);
  });

  it('95% CI half-width', () => {
    // n = 4: t(3) = 3.182, s = sqrt(5/3) = 1.2909944, / sqrt(4) = 2 → 2.0539721
    expect(ci95HalfWidth([1, 2, 3, 4])).toBeCloseTo(2.0539721, 6);
    // n = 2: 12.706 * sqrt(2) / sqrt(2) = 12.706
    expect(ci95HalfWidth([1, 3])).toBeCloseTo(12.706, 9);
    expect(ci95HalfWidth([5])).toBe(0);
  });

  it('debiased EMA like TensorBoard', () => {
    expect(ema([1, 3, 5], 0)).toEqual([1, 3, 5]);
    // α = 0.5: 0.5/0.5 = 1; (0.25 + 1.5)/0.75 = 2.3333; (0.875 + 2.5)/0.875 = 3.857142857
    const s = ema([1, 3, 5], 0.5);
    expect(s[0]).toBeCloseTo(1, 12);
    expect(s[1]).toBeCloseTo(7 / 3, 12);
    expect(s[2]).toBeCloseTo(27 / 7, 12);
    // a constant stays constant (no bias towards 0)
    for (const v of ema([4, 4, 4, 4], 0.9)) expect(v).toBeCloseTo(4, 12);
    // non-finite values pass through and are skipped
    const n = ema([1, NaN, 3], 0.5);
    expect(Number.isNaN(n[1])).toBe(true);
    expect(n[2]).toBeCloseTo(7 / 3, 12);
    expect(
      emaPoints(
        [
          { x: 10, y: 1 },
          { x: 20, y: 3 },
        ],
        0.5,
      ),
    ).toEqual([
      { x: 10, y: 1 },
      { x: 20, y: (0.25 + 1.5) / 0.75 },
    ]);
  });

  it('aggregates runs on the union of x', () => {
    const a = [
      { x: 0, y: 1 },
      { x: 1, y: 3 },
    ];
    const b = [
      { x: 0, y: 3 },
      { x: 2, y: 5 },
    ];
    const std = aggregate([a, b], 'std');
    expect(std.map((p) => p.x)).toEqual([0, 1, 2]);
    expect(std.map((p) => p.n)).toEqual([2, 1, 1]);
    expect(std[0]!.mean).toBe(2);
    expect(std[0]!.lo).toBeCloseTo(2 - Math.SQRT2, 12);
    expect(std[0]!.hi).toBeCloseTo(2 + Math.SQRT2, 12);
    expect(std[1]).toEqual({ x: 1, mean: 3, lo: 3, hi: 3, n: 1 });
    expect(std[2]).toEqual({ x: 2, mean: 5, lo: 5, hi: 5, n: 1 });
    const ci = aggregate([a, b], 'ci95');
    expect(ci[0]!.lo).toBeCloseTo(2 - 12.706, 9);
    expect(ci[0]!.hi).toBeCloseTo(2 + 12.706, 9);
    expect(aggregate([], 'std')).toEqual([]);
    // non-finite y skipped; three runs at x = 0: 1, 2, 6 → mean 3, s = sqrt(7)
    const three = aggregate(
      [
        [{ x: 0, y: 1 }],
        [{ x: 0, y: 2 }],
        [
          { x: 0, y: 6 },
          { x: 1, y: NaN },
        ],
      ],
      'std',
    );
    expect(three).toHaveLength(1);
    expect(three[0]!.mean).toBe(3);
    expect(three[0]!.hi).toBeCloseTo(3 + Math.sqrt(7), 12);
  });
});

describe('bestOfMeanCurve (one definition of "best" for the compare table and table.tex)', () => {
  it("is the peak of the mean curve with the std over runs there, not the mean of each run's best", () => {
    const pts = [
      { x: 0, values: [0.1, 0.3] },
      { x: 1, values: [0.5, 0.2] },
      { x: 2, values: [0.4, 0.6] },
    ];
    const b = bestOfMeanCurve(pts)!;
    expect(b.x).toBe(2);
    expect(b.mean).toBeCloseTo(0.5, 12);
    expect(b.std).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(b.n).toBe(2);
    expect(bestOfMeanCurve(pts, true)!.x).toBe(0); // lower is better (a loss): the minimum
  });
  it('gives no std for one run, and null without points', () => {
    expect(bestOfMeanCurve([{ x: 3, values: [0.4] }])).toEqual({ mean: 0.4, std: null, x: 3, n: 1 });
    expect(bestOfMeanCurve([])).toBeNull();
    expect(bestOfMeanCurve([{ x: 0, values: [NaN] }])).toBeNull();
  });
});

describe('bestOfMeanCurve with runs still going', () => {
  it('counts only the iterations every run reached', () => {
    // run 2 has not reached iteration 2, where run 1 alone reads 0.9
    const pts = [
      { x: 0, values: [0.1, 0.3] },
      { x: 1, values: [0.4, 0.2] },
      { x: 2, values: [0.9] },
    ];
    expect(bestOfMeanCurve(pts, false, 2)).toMatchObject({ x: 1, n: 2 });
    expect(bestOfMeanCurve(pts)).toMatchObject({ x: 2, n: 1 });
  });
});
