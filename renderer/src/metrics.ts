import type { MetricPoint } from '../../shared/contract';
import { lttb } from './downsample';

export interface XY {
  x: number;
  y: number;
}

/** One value per iteration: the last logged one (highest step, then latest time). */
export function perIteration(points: MetricPoint[] | undefined): XY[] {
  if (!points?.length) return [];
  const best = new Map<number, MetricPoint>();
  for (const p of points) {
    const b = best.get(p.iteration);
    if (!b || p.step > b.step || (p.step === b.step && p.t >= b.t)) best.set(p.iteration, p);
  }
  return [...best.values()].sort((a, b) => a.iteration - b.iteration).map((p) => ({ x: p.iteration, y: p.value }));
}

/** Every point against its step (the experiment's cumulative optimizer step), in order. */
export function perStep(points: MetricPoint[] | undefined): XY[] {
  if (!points?.length) return [];
  return [...points].sort((a, b) => a.step - b.step || a.iteration - b.iteration || a.t - b.t).map((p) => ({ x: p.step, y: p.value }));
}

/** True when some iteration has more than one point of this metric. */
export function hasSeveralPerIteration(points: MetricPoint[] | undefined): boolean {
  const seen = new Set<number>();
  for (const p of points ?? []) {
    if (seen.has(p.iteration)) return true;
    seen.add(p.iteration);
  }
  return false;
}

const DIFFICULTY_RE = /^eval\/accuracy\/([a-z]+)_(\d+)$/;

/** True for a per-difficulty accuracy metric (eval/accuracy/digits_3, eval/accuracy/steps_4). */
export function isDifficultyMetric(name: string): boolean {
  return DIFFICULTY_RE.test(name);
}

/** The per-difficulty accuracy metrics (addition: digits; GSM8K: solution steps), ordered by level. */
export function difficultyMetrics(metrics: Record<string, MetricPoint[]>): { name: string; unit: string; level: number; label: string }[] {
  const out: { name: string; unit: string; level: number; label: string }[] = [];
  for (const name of Object.keys(metrics)) {
    const m = DIFFICULTY_RE.exec(name);
    if (!m) continue;
    const unit = m[1]!;
    const level = Number(m[2]);
    const label = unit === 'digits' ? `${level}-digit` : `${level} ${unit}`;
    out.push({ name, unit, level, label });
  }
  return out.sort((a, b) => a.unit.localeCompare(b.unit) || a.level - b.level);
}

/** LTTB to at most `max` points; short series pass through unchanged. */
export function downsamplePoints(points: XY[], max: number): XY[] {
  const n = Math.max(3, Math.floor(max));
  if (points.length <= n) return points;
  return lttb(points, n);
}
