/**
 * Small, pure statistics for comparing runs: mean, sample standard deviation, Student-t
 * 95% confidence intervals, TensorBoard-style debiased EMA smoothing, and aggregation of
 * several runs' curves on a shared x axis.
 */

export interface XYPoint {
  x: number;
  y: number;
}

export interface AggregatePoint {
  x: number;
  mean: number;
  lo: number;
  hi: number;
  /** How many runs have a (finite) value at this x. */
  n: number;
}

export type Band = 'std' | 'ci95';

/** Arithmetic mean; NaN for an empty list. */
export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1 in the denominator); 0 for fewer than two values. */
export function sampleStd(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  let ss = 0;
  for (const x of xs) ss += (x - m) * (x - m);
  return Math.sqrt(ss / (xs.length - 1));
}

/**
 * What "best" means wherever the lab reports it (the compare table, the group export's
 * table.tex and CSV): the highest point (lowest, for a metric where lower is better) of the
 * mean-over-seeds curve by iteration (one iteration for every seed, the peak of the mean curve
 * the figure draws), with the sample std over seeds at that iteration. Not the mean of each
 * run's own best, which picks a different iteration per seed and reads higher than any point of
 * the drawn curve. Points: per x, the runs' values there. Null when there is no point.
 */
export const BEST_DEFINITION =
  'Best = the highest point of the mean curve over seeds (lowest for a loss), among the iterations every seed reached, with the sample std over seeds there';

export function bestOfMeanCurve(
  points: readonly { x: number; values: readonly number[] }[],
  lowerIsBetter = false,
  /** The runs behind the curve: only an iteration every one of them reached counts (else the peak may be one fast seed's). */
  runs?: number,
): { mean: number; std: number | null; x: number; n: number } | null {
  let best: { mean: number; std: number | null; x: number; n: number } | null = null;
  for (const p of points) {
    const vals = p.values.filter((v) => Number.isFinite(v));
    if (!vals.length || (runs !== undefined && vals.length < runs)) continue;
    const m = mean(vals);
    if (best === null || (lowerIsBetter ? m < best.mean : m > best.mean))
      best = { mean: m, std: vals.length > 1 ? sampleStd(vals) : null, x: p.x, n: vals.length };
  }
  return best;
}

/** Two-sided 95% Student-t critical values for df = 1..30 (index df − 1). */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086,
  2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The two-sided 95% t critical value for `df` degrees of freedom (1.96 above 30; NaN below 1). */
export function tCritical95(df: number): number {
  if (!(df >= 1)) return NaN;
  const d = Math.floor(df);
  return d <= 30 ? T95[d - 1]! : 1.96;
}

/** Half-width of the 95% confidence interval of the mean: t(n−1)·s/√n; 0 for fewer than two values. */
export function ci95HalfWidth(xs: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  return (tCritical95(n - 1) * sampleStd(xs)) / Math.sqrt(n);
}

/**
 * Exponential moving average, debiased like TensorBoard's smoothing: with weight α,
 * last = α·last + (1 − α)·v and the output is last / (1 − α^k) after k finite values, so
 * the first smoothed point equals the first value. α = 0 returns the values unchanged;
 * non-finite values pass through and do not enter the average. α is clamped to [0, 1).
 */
export function ema(values: readonly number[], alpha: number): number[] {
  const a = Math.min(Math.max(Number.isFinite(alpha) ? alpha : 0, 0), 0.999999);
  if (a === 0) return [...values];
  let last = 0;
  let k = 0;
  const out: number[] = [];
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(v);
      continue;
    }
    last = last * a + (1 - a) * v;
    k += 1;
    out.push(last / (1 - a ** k));
  }
  return out;
}

/** EMA over the y values of a series, x unchanged. */
export function emaPoints<P extends XYPoint>(points: readonly P[], alpha: number): P[] {
  const ys = ema(
    points.map((p) => p.y),
    alpha,
  );
  return points.map((p, i) => ({ ...p, y: ys[i]! }));
}

/**
 * Align several runs' series on x (the union of their x values, ascending; a run
 * contributes where it has that x, its last value if it has several) and give the mean
 * with a band: ±1 sample std, or the 95% CI of the mean. Non-finite values are skipped.
 */
export function aggregate(seriesList: readonly (readonly XYPoint[])[], band: Band): AggregatePoint[] {
  const byX = new Map<number, number[]>();
  for (const series of seriesList) {
    const mine = new Map<number, number>();
    for (const p of series) if (Number.isFinite(p.x) && Number.isFinite(p.y)) mine.set(p.x, p.y);
    for (const [x, y] of mine) {
      let ys = byX.get(x);
      if (!ys) byX.set(x, (ys = []));
      ys.push(y);
    }
  }
  const xs = [...byX.keys()].sort((a, b) => a - b);
  return xs.map((x) => {
    const ys = byX.get(x)!;
    const m = mean(ys);
    const h = band === 'std' ? sampleStd(ys) : ci95HalfWidth(ys);
    return { x, mean: m, lo: m - h, hi: m + h, n: ys.length };
  });
}
