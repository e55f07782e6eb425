/**
 * Zoom on the compare chart (issue 17): drag across the plot to pick an x range, release to zoom
 * to it, double-click to go back. The pure part: pixels to data x, a drag to an ordered range (a
 * drag under MIN_DRAG_PX is a click), the columns cut to the range (with one point either side,
 * so lines run to the plot's edges) and the domains refit to what the range shows.
 */
import { chartDomains, type ChartDomains } from './chart-domain';
import type { Row } from './downsample';

/** A drag shorter than this (CSS pixels) is a click, not a zoom. */
export const MIN_DRAG_PX = 4;

/** The plot area along x, in CSS pixels from the chart's left edge. */
export interface PlotSpan {
  left: number;
  width: number;
}

/** A pixel clamped into the plot area. */
export function clampToPlot(px: number, span: PlotSpan): number {
  return Math.min(span.left + span.width, Math.max(span.left, px));
}

/** The data x under a pixel (clamped into the plot) on a linear axis over `domain`. */
export function pixelToX(px: number, span: PlotSpan, domain: readonly [number, number]): number {
  if (!(span.width > 0)) return domain[0];
  const f = (clampToPlot(px, span) - span.left) / span.width;
  return domain[0] + f * (domain[1] - domain[0]);
}

/** The pixel of a data x on a linear axis over `domain` (not clamped). */
export function xToPixel(x: number, span: PlotSpan, domain: readonly [number, number]): number {
  const d = domain[1] - domain[0];
  return span.left + (d === 0 ? 0 : ((x - domain[0]) / d) * span.width);
}

/** Two ends in increasing order. */
export function orderRange(a: number, b: number): [number, number] {
  return a <= b ? [a, b] : [b, a];
}

/**
 * The x range a drag from `startPx` to `endPx` selects (either direction, clamped into the plot),
 * or null for a click (a drag under MIN_DRAG_PX once clamped) or an axis with no extent.
 */
export function dragToRange(startPx: number, endPx: number, span: PlotSpan, domain: readonly [number, number]): [number, number] | null {
  if (!Number.isFinite(startPx) || !Number.isFinite(endPx) || !(span.width > 0)) return null;
  if (!Number.isFinite(domain[0]) || !Number.isFinite(domain[1]) || !(domain[1] > domain[0])) return null;
  const [a, b] = orderRange(clampToPlot(startPx, span), clampToPlot(endPx, span));
  if (b - a < MIN_DRAG_PX) return null;
  const lo = pixelToX(a, span, domain);
  const hi = pixelToX(b, span, domain);
  return hi > lo ? [lo, hi] : null;
}

/** The rows whose x lies in [lo, hi]. */
export function rowsInRange<R extends { x: number }>(rows: readonly R[], range: readonly [number, number]): R[] {
  const [lo, hi] = range;
  return rows.filter((r) => r.x >= lo && r.x <= hi);
}

/** The indices of points (x of each, in order) in the range or on a segment reaching into it. */
function indicesAround(n: number, xAt: (i: number) => number, [lo, hi]: readonly [number, number]): number[] {
  // the segment from point i to the next reaches into the range (a range between two points keeps both)
  const crosses = (i: number) => i >= 0 && i + 1 < n && Math.min(xAt(i), xAt(i + 1)) <= hi && Math.max(xAt(i), xAt(i + 1)) >= lo;
  const keep: number[] = [];
  for (let i = 0; i < n; i++) if ((xAt(i) >= lo && xAt(i) <= hi) || crosses(i) || crosses(i - 1)) keep.push(i);
  return keep;
}

/** Points cut as sliceToRange cuts columns: those in the range and the neighbours a line to its edges needs. */
export function pointsAroundRange<P extends { x: number }>(points: readonly P[], range: readonly [number, number]): P[] {
  const keep = indicesAround(points.length, (i) => points[i]!.x, range);
  return keep.length === points.length ? [...points] : keep.map((i) => points[i]!);
}

/**
 * Columns (every typed array of `length` entries, x among them) cut to the points whose x is in
 * the range and their neighbours in order, one either side, so a line reaches the plot's edges
 * (where it is clipped) and a range between two points still shows the segment joining them.
 * The columns themselves when nothing is cut.
 */
export function sliceToRange<C extends { x: Float64Array; length: number }>(c: C, range: readonly [number, number]): C {
  const n = c.length;
  const keep = indicesAround(n, (i) => c.x[i]!, range);
  if (keep.length === n) return c;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(c)) {
    if (v instanceof Float64Array && v.length === n) {
      const a = new Float64Array(keep.length);
      for (let j = 0; j < keep.length; j++) a[j] = v[keep[j]!]!;
      out[key] = a;
    } else out[key] = v;
  }
  out['length'] = keep.length;
  return out as C;
}

/**
 * The domains of a chart zoomed to `range`: x the range itself, y refit (nice ticks, as
 * chartDomains) to the points and bands inside it; [0, 1] stays for fractions. With no point
 * inside the range, y fits the lines drawn (the neighbours either side). Null: nothing to draw.
 */
export function zoomedDomains(
  lines: readonly { mean: Row[]; raw: Row[]; runs: Row[][] }[],
  range: readonly [number, number],
  o: { yLog: boolean; unitInterval: boolean },
): ChartDomains | null {
  const inside = lines.map((l) => ({
    mean: rowsInRange(l.mean, range),
    raw: rowsInRange(l.raw, range),
    runs: l.runs.map((r) => rowsInRange(r, range)),
  }));
  const d = chartDomains(inside, o) ?? chartDomains(lines, o);
  return d ? { ...d, x: [range[0], range[1]] } : null;
}

/** The extent of x over the lines' rows ([Infinity, -Infinity] when there is none). */
export function xExtent(lines: readonly { mean: Row[]; raw: Row[]; runs: Row[][] }[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const l of lines)
    for (const rows of [l.mean, l.raw, ...l.runs])
      for (const p of rows)
        if (Number.isFinite(p.x)) {
          lo = Math.min(lo, p.x);
          hi = Math.max(hi, p.x);
        }
  return [lo, hi];
}

/** A domain as the chart's data-x-domain attribute: "lo,hi" (empty when it is not finite). */
export function formatDomain(d: readonly [number, number]): string {
  return Number.isFinite(d[0]) && Number.isFinite(d[1]) ? `${+d[0].toPrecision(12)},${+d[1].toPrecision(12)}` : '';
}
