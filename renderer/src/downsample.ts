/**
 * Downsampling for the charts: each line is cut to about the plot's width in points
 * (largest-triangle-three-buckets keeps the shape), so 50 runs of 10,000 points draw as
 * fast as 50 short ones. scripts/bench-compare.ts measures it.
 */
import { lttbIndices, positions, type AggCols, type Cols } from './columns';

/** A point as the chart draws it: the mean, and its band as [lo, hi]. */
export interface Row {
  x: number;
  y: number;
  band?: [number, number];
  /** How many runs the mean at this x is over. */
  n?: number;
}

/** Points drawn over all lines of a chart, at most: an SVG with more redraws too slowly (scripts/bench-compare.ts). */
export const POINT_BUDGET = 12_000;
const MIN_POINTS_PER_LINE = 120;

/** Above this many groups the raw (unsmoothed) curves are not drawn behind the smoothed ones: they would double the lines and the redraw time. */
export const MAX_GROUPS_WITH_RAW = 20;

/** Points per line: the plot width, less when many lines share the chart (never under MIN_POINTS_PER_LINE). */
export function pointsPerLine(plotWidth: number, lines: number): number {
  return Math.max(MIN_POINTS_PER_LINE, Math.min(Math.floor(plotWidth), Math.floor(POINT_BUDGET / Math.max(1, lines))));
}

/** LTTB over objects in x order: at most n of them (n ≥ 3), the first and last kept. */
export function lttb<P extends { x: number; y: number }>(points: readonly P[], n: number): P[] {
  if (n >= points.length || n < 3) return [...points];
  const xs = Float64Array.from(points, (p) => p.x);
  const ys = Float64Array.from(points, (p) => p.y);
  return lttbIndices(
    xs,
    ys,
    positions(points.length, () => true),
    n,
  ).map((i) => points[i]!);
}

/** A group's mean and band cut to about `max` points (LTTB on the mean; log axes drop non-positive means). */
export function thinAggregate(a: AggCols, max: number, log: boolean): Row[] {
  const keep = positions(a.length, (i) => Number.isFinite(a.mean[i]!) && (!log || a.mean[i]! > 0));
  return lttbIndices(a.x, a.mean, keep, Math.max(3, Math.floor(max))).map((i) => {
    const m = a.mean[i]!;
    const lo = log && !(a.lo[i]! > 0) ? m : a.lo[i]!;
    return { x: a.x[i]!, y: m, band: [lo, a.hi[i]!] as [number, number], n: a.n[i]! };
  });
}

/** One run cut to about `max` points (LTTB over its finite values; positive ones on log axes). */
export function thinRun(c: Cols, max: number, log: boolean): Row[] {
  const keep = positions(c.length, (i) => Number.isFinite(c.y[i]!) && Number.isFinite(c.x[i]!) && (!log || c.y[i]! > 0));
  return lttbIndices(c.x, c.y, keep, Math.max(3, Math.floor(max))).map((i) => ({ x: c.x[i]!, y: c.y[i]! }));
}
