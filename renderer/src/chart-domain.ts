/**
 * Axis domains and ticks for a chart whose lines recharts does not see (drawn on a canvas):
 * the same 1-2-5 ticks as the exported figures (shared/export/figure-layout).
 */
import { logTicks, niceStep, ticksBetween } from '../../shared/ticks';
import type { Row } from './downsample';

export interface ChartDomains {
  x: [number, number];
  y: [number, number];
  yTicks: number[];
}

/** Domains over every drawn point (bands included): y [0, 1] for fractions, decades on log axes. Null: nothing to draw. */
export function chartDomains(
  lines: readonly { mean: Row[]; raw: Row[]; runs: Row[][] }[],
  o: { yLog: boolean; unitInterval: boolean },
): ChartDomains | null {
  let x0 = Infinity;
  let x1 = -Infinity;
  let y0 = Infinity;
  let y1 = -Infinity;
  const addY = (y: number) => {
    if (Number.isFinite(y) && (!o.yLog || y > 0)) {
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  };
  const add = (p: Row) => {
    if (!Number.isFinite(p.x)) return;
    x0 = Math.min(x0, p.x);
    x1 = Math.max(x1, p.x);
    addY(p.y);
    if (p.band) {
      addY(p.band[0]);
      addY(p.band[1]);
    }
  };
  for (const l of lines) {
    for (const p of l.mean) add(p);
    for (const p of l.raw) add(p);
    for (const r of l.runs) for (const p of r) add(p);
  }
  if (!Number.isFinite(x0) || !Number.isFinite(y0)) return null;
  if (x0 === x1) {
    x0 -= 0.5;
    x1 += 0.5;
  }
  if (o.yLog) {
    const lo = 10 ** Math.floor(Math.log10(y0) + 1e-9);
    const hi = 10 ** Math.ceil(Math.log10(y1) - 1e-9);
    const hiSafe = hi > lo ? hi : lo * 10;
    return { x: [x0, x1], y: [lo, hiSafe], yTicks: logTicks(lo, hiSafe) };
  }
  if (o.unitInterval) return { x: [x0, x1], y: [0, 1], yTicks: [0, 0.25, 0.5, 0.75, 1] };
  if (y0 === y1) {
    y0 -= Math.abs(y0) * 0.1 || 1;
    y1 += Math.abs(y1) * 0.1 || 1;
  }
  const step = niceStep(y1 - y0, 5);
  const lo = Math.floor(y0 / step + 1e-9) * step;
  const hi = Math.ceil(y1 / step - 1e-9) * step;
  return { x: [x0, x1], y: [lo, hi], yTicks: ticksBetween(lo, hi, step) };
}
