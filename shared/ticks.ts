/**
 * Axis ticks people can read, for the charts on screen and every exported figure (issue 17):
 * 1-2-5 steps, whole numbers on count axes (iterations, steps, examples, tokens) with SI
 * prefixes (400k, 1.2M), durations in ms / s / min / h on the wall-time axis, powers of ten on
 * log axes, and never two ticks with one label.
 */

/** A 1-2-5 step giving about `target` intervals over `range`. */
export function niceStep(range: number, target: number): number {
  const raw = range / Math.max(1, target);
  const p = 10 ** Math.floor(Math.log10(raw));
  const f = raw / p;
  const m = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return m * p;
}

function decimalsOf(step: number): number {
  return step >= 1 ? 0 : Math.min(12, Math.ceil(-Math.log10(step) - 1e-9));
}

/** Multiples of `step` in [min, max] (rounded to the step's decimals). */
export function ticksBetween(min: number, max: number, step: number): number[] {
  const d = decimalsOf(step);
  const out: number[] = [];
  const first = Math.ceil(min / step - 1e-9);
  const last = Math.floor(max / step + 1e-9);
  for (let i = first; i <= last && out.length < 1000; i++) out.push(Number((i * step).toFixed(d)));
  return out;
}

/** A tick label: plain decimals, k/M/G above 10⁴, a true minus sign. */
export function formatTick(v: number, step: number): string {
  const a = Math.abs(v);
  let s: string;
  const scaled = (div: number, suffix: string) => `${(a / div).toFixed(decimalsOf(step / div))}${suffix}`;
  if (v === 0) s = '0';
  else if (a >= 1e9 && step >= 1e8) s = scaled(1e9, 'G');
  else if (a >= 1e6 && step >= 1e5) s = scaled(1e6, 'M');
  else if (a >= 1e4 && step >= 1e3) s = scaled(1e3, 'k');
  // tiny values in scientific notation, with as many mantissa digits as the step needs (1.5e-4, not 2e-4)
  else if (a < 1e-3) s = a.toExponential(Math.min(6, Math.max(0, Math.floor(Math.log10(a) + 1e-9) - Math.floor(Math.log10(step) + 1e-9))));
  else s = a.toFixed(decimalsOf(step));
  return v < 0 ? `\u2212${s}` : s;
}

/** Log-axis ticks: powers of ten, plus 2× and 5× when the range spans under two decades. */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min) + 1e-9);
  const hi = Math.ceil(Math.log10(max) - 1e-9);
  const out: number[] = [];
  const few = hi - lo < 2;
  for (let e = lo; e <= hi; e++) {
    for (const m of few ? [1, 2, 5] : [1]) {
      const v = Number((m * 10 ** e).toPrecision(6));
      if (v >= min * (1 - 1e-9) && v <= max * (1 + 1e-9)) out.push(v);
    }
  }
  return out;
}

export function formatLogTick(v: number): string {
  if (v >= 1e4 || v < 1e-3) return v.toExponential(0);
  return String(Number(v.toPrecision(6)));
}

export const AXIS_KINDS = ['count', 'duration', 'value'] as const;
export type AxisKind = (typeof AXIS_KINDS)[number];

export interface Ticks {
  ticks: number[];
  format: (v: number) => string;
}

/** Nice durations in seconds: 1-2-5 below a minute, then the clock's own steps. */
const DURATION_STEPS = [
  0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
  86400,
];

/** A number without trailing zeros, at most `decimals` places. */
function trim(v: number, decimals: number): string {
  return String(Number(v.toFixed(decimals)));
}

/** A count with an SI prefix once it is large: 950, 12k, 1.2M, 3G. */
export function formatCount(v: number, step: number): string {
  const a = Math.abs(v);
  const sign = v < 0 ? '\u2212' : '';
  for (const [div, suffix] of [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ] as const) {
    if (a >= div && (a >= 1e4 || div > 1e3)) return `${sign}${trim(a / div, decimalsOf(step / div))}${suffix}`;
  }
  return `${sign}${trim(a, decimalsOf(step))}`;
}

/** A duration on an axis whose ticks are `step` seconds apart, in the unit that step reads in. */
export function formatDuration(v: number, step: number): string {
  if (v === 0) return '0';
  if (step < 1) return `${trim(v * 1000, decimalsOf(step * 1000))} ms`;
  if (step < 60) return `${trim(v, decimalsOf(step))} s`;
  if (step < 3600) return `${trim(v / 60, decimalsOf(step / 60))} min`;
  return `${trim(v / 3600, decimalsOf(step / 3600))} h`;
}

/** About `target` ticks over [lo, hi] for an axis of this kind, and their format. */
export function niceTicks(kind: AxisKind, lo: number, hi: number, target = 6): Ticks {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { ticks: [], format: String };
  if (hi < lo) [lo, hi] = [hi, lo];
  const range = hi - lo || Math.abs(hi) || 1;
  if (kind === 'duration') {
    const raw = range / target;
    const step = DURATION_STEPS.find((s) => s >= raw) ?? niceStep(range, target);
    return { ticks: ticksBetween(lo, hi, step), format: (v) => formatDuration(v, step) };
  }
  if (kind === 'count') {
    const step = Math.max(1, niceStep(range, target)); // whole numbers: no tick between two iterations
    return { ticks: ticksBetween(lo, hi, step), format: (v) => formatCount(v, step) };
  }
  const step = niceStep(range, target);
  return { ticks: ticksBetween(lo, hi, step), format: (v) => formatTick(v, step) };
}

/**
 * An axis that ends on ticks: [lo, hi] widened to the nice steps around it (a flat series gets
 * one step of room), with its ticks and their format. For the small charts whose y range is
 * the data's own: recharts' 'auto' ends the axis on the data's extremes, which reads oddly.
 */
export function niceDomain(kind: AxisKind, lo: number, hi: number, target = 4): Ticks & { domain: [number, number] } {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return { ticks: [], format: String, domain: [0, 1] };
  if (hi < lo) [lo, hi] = [hi, lo];
  const range = hi - lo || Math.abs(hi) || 1;
  // widening to whole steps can add two ticks: coarser steps until at most target + 1 remain
  let ticks: number[] = [];
  let step = 1;
  for (let t = target; t >= 1; t--) {
    step = kind === 'count' ? Math.max(1, niceStep(range, t)) : niceStep(range, t);
    let d0 = Math.floor(lo / step + 1e-9) * step;
    let d1 = Math.ceil(hi / step - 1e-9) * step;
    if (d1 <= d0) {
      // a flat series: a step of room above (and below, unless it sits on zero or counts)
      if (kind !== 'count' && lo !== 0) d0 -= step;
      d1 = d0 + (kind === 'count' || lo === 0 ? step : 2 * step);
    }
    ticks = ticksBetween(d0, d1, step);
    if (ticks.length <= target + 1) break;
  }
  const s = step;
  const format =
    kind === 'count'
      ? (v: number) => formatCount(v, s)
      : kind === 'duration'
        ? (v: number) => formatDuration(v, s)
        : (v: number) => formatTick(v, s);
  return { ticks, format, domain: [ticks[0]!, ticks[ticks.length - 1]!] };
}
