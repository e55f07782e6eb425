/**
 * The compare chart's tooltip where its lines are drawn on a canvas (many lines): recharts'
 * tooltip reads its own SVG lines, so the canvas chart finds the points under the pointer here.
 * Per group, the point of its mean curve nearest the pointer's x, as exact values (mean, band, n)
 * from the group's columns, not the thinned points drawn. Pure.
 */
import type { AggCols } from './columns';

export interface HoverRow {
  name: string;
  color: string;
  x: number;
  y: number;
  band: [number, number];
  n: number;
}

/** The index in x (sorted ascending, `length` used) nearest `x`; -1 when empty. */
export function nearestIndex(xs: ArrayLike<number>, length: number, x: number): number {
  if (length <= 0) return -1;
  let lo = 0;
  let hi = length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && Math.abs(xs[lo - 1]! - x) <= Math.abs(xs[lo]! - x) ? lo - 1 : lo;
}

/**
 * The rows a tooltip at data x shows: each group's nearest point within `tolerance` (data units,
 * the width of a few pixels), highest mean first, and the x of the point nearest the pointer.
 * Null when no group has a point that close.
 */
export function rowsAt(
  groups: readonly { label: string; color: string; cols: AggCols }[],
  x: number,
  tolerance: number,
): { x: number; rows: HoverRow[] } | null {
  const rows: HoverRow[] = [];
  let best: { x: number; d: number } | null = null;
  for (const g of groups) {
    const c = g.cols;
    const i = nearestIndex(c.x, c.length, x);
    if (i < 0) continue;
    const d = Math.abs(c.x[i]! - x);
    if (!(d <= tolerance)) continue;
    if (!best || d < best.d) best = { x: c.x[i]!, d };
    rows.push({ name: g.label, color: g.color, x: c.x[i]!, y: c.mean[i]!, band: [c.lo[i]!, c.hi[i]!], n: c.n[i]! });
  }
  if (!best) return null;
  rows.sort((a, b) => b.y - a.y);
  return { x: best.x, rows };
}
