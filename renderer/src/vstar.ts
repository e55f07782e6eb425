/**
 * V-STaR's test-time curves (pure; no React). Per iteration n the experiment logs, for
 * k = 1..N (N = verifier.candidates):
 *
 *   vstar/pass@k                 at least one of k candidates is right (an oracle bound)
 *   vstar/majority@k             majority vote over k candidates' answers
 *   vstar/best_of_k/<scorer>@k   the highest-scored of k candidates, by the DPO verifier's
 *                                reward (dpo), the ORM (orm), the verifier's likelihood (logp) or
 *                                the generator's own likelihood of its sample (likelihood, the control)
 *
 * all as fractions in [0, 1] (unbiased estimators over subsets of the N candidates).
 */
import type { MetricPoint } from '../../shared/contract';
import { SCORERS, SCORER_INFO } from '../../shared/catalogue';
import type { XY } from './metrics';

export interface BestOfKSeries {
  /** Stable id of the method: 'pass', 'majority', or a scorer's id (the catalogue's SCORERS, or another scorer's name). */
  key: string;
  label: string;
  /** x = k (candidates), y = accuracy in [0, 1]; sorted by k. */
  points: XY[];
}

const CURVE_RE = /^vstar\/(pass|majority|best_of_k\/([A-Za-z0-9_.-]+))@(\d+)$/;

/** The Best-of-k label of a scorer: "Best-of-k (DPO verifier)"; its short form "best-of (DPO verifier)". */
export function bestOfKLabel(scorerLabel: string): string {
  return `Best-of-k (${scorerLabel})`;
}

/** The methods in display order, with their labels (the scorers': experiments/starlab/catalogue.json); unknown scorers follow these. */
export const BEST_OF_K_METHODS: { key: string; label: string; short: string }[] = [
  { key: 'pass', label: 'pass@k', short: 'pass' },
  { key: 'majority', label: 'majority', short: 'majority' },
  ...SCORER_INFO.map((s) => ({ key: s.id, label: bestOfKLabel(s.label), short: `best-of (${s.label})` })),
];

/**
 * A method's fixed look, the same in both V-STaR panels (BestOfKPanel, VerifierPanel): a palette
 * slot (null: pass@k's grey), line width and dash. Majority takes slot 1, the catalogue's scorers
 * slots 0, 2, 3, 4, … in their order (the first, the DPO verifier, drawn thicker); null for a
 * scorer outside the catalogue.
 */
export function methodLook(key: string): { slot: number | null; strokeWidth?: number; dash?: string } | null {
  if (key === 'pass') return { slot: null, dash: '5 3' };
  if (key === 'majority') return { slot: 1 };
  const i = (SCORERS as readonly string[]).indexOf(key);
  if (i < 0) return null;
  return i === 0 ? { slot: 0, strokeWidth: 2.25 } : { slot: i + 1 };
}

/** The method and k of a vstar curve metric (vstar/pass@4 → {method: 'pass', k: 4}), or null. */
export function parseVstarMetric(name: string): { method: string; k: number } | null {
  const m = CURVE_RE.exec(name);
  if (!m) return null;
  const k = Number(m[3]);
  if (!Number.isFinite(k) || k < 1) return null;
  return { method: m[2] ?? m[1]!, k };
}

/** True for a metric of the vstar/*@k family (the Best-of-k panel's, not the metrics table's). */
export function isVstarCurveMetric(name: string): boolean {
  return parseVstarMetric(name) !== null;
}

/** The iterations that have at least one vstar curve point, ascending. */
export function vstarIterations(metrics: Record<string, MetricPoint[]>): number[] {
  const seen = new Set<number>();
  for (const [name, pts] of Object.entries(metrics)) {
    if (!isVstarCurveMetric(name)) continue;
    for (const p of pts) seen.add(p.iteration);
  }
  return [...seen].sort((a, b) => a - b);
}

function methodOrder(key: string): number {
  const i = BEST_OF_K_METHODS.findIndex((m) => m.key === key);
  return i < 0 ? BEST_OF_K_METHODS.length : i;
}

function methodLabel(key: string): string {
  return BEST_OF_K_METHODS.find((m) => m.key === key)?.label ?? bestOfKLabel(key);
}

/**
 * The curves of one iteration (default: the last iteration that has any), one series per
 * method present, in the order pass@k, majority, DPO verifier, ORM, likelihood (then other
 * scorers by name), each sorted by k. Where an iteration logged a metric more than once (a
 * resumed run repeating it), the last value (highest step, then latest time) counts.
 */
export function bestOfKCurves(metrics: Record<string, MetricPoint[]>, iteration?: number): BestOfKSeries[] {
  const it = iteration ?? vstarIterations(metrics).at(-1);
  if (it === undefined) return [];
  const byMethod = new Map<string, Map<number, MetricPoint>>();
  for (const [name, pts] of Object.entries(metrics)) {
    const parsed = parseVstarMetric(name);
    if (!parsed) continue;
    let last: MetricPoint | undefined;
    for (const p of pts) {
      if (p.iteration !== it || !Number.isFinite(p.value)) continue;
      if (!last || p.step > last.step || (p.step === last.step && p.t >= last.t)) last = p;
    }
    if (!last) continue;
    let curve = byMethod.get(parsed.method);
    if (!curve) byMethod.set(parsed.method, (curve = new Map()));
    curve.set(parsed.k, last);
  }
  return [...byMethod.entries()]
    .sort(([a], [b]) => methodOrder(a) - methodOrder(b) || a.localeCompare(b))
    .map(([key, curve]) => ({
      key,
      label: methodLabel(key),
      points: [...curve.entries()].sort(([a], [b]) => a - b).map(([k, p]) => ({ x: k, y: p.value })),
    }));
}

export interface BestOfKSummaryRow {
  key: string;
  label: string;
  /** The value at k = 1, or null when that point is missing. */
  at1: number | null;
  /** The largest k of this curve (N for a complete one) and its value. */
  kMax: number;
  atMax: number;
}

/** One row per curve: its value at k = 1 and at its largest k (N). */
export function bestOfKSummary(series: BestOfKSeries[]): { n: number | null; rows: BestOfKSummaryRow[] } {
  const rows: BestOfKSummaryRow[] = [];
  let n: number | null = null;
  for (const s of series) {
    const last = s.points.at(-1);
    if (!last) continue;
    const first = s.points[0]!;
    rows.push({ key: s.key, label: s.label, at1: first.x === 1 ? first.y : null, kMax: last.x, atMax: last.y });
    n = Math.max(n ?? 0, last.x);
  }
  return { n, rows };
}
