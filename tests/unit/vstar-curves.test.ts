/** V-STaR's Best-of-k curves from the run's metrics (renderer/src/vstar.ts; pure, no DOM). */
import { describe, expect, it } from 'vitest';
import { bestOfKCurves, bestOfKSummary, isVstarCurveMetric, parseVstarMetric, vstarIterations } from '../../renderer/src/vstar';
import type { MetricPoint } from '../../shared/contract';

const pt = (iteration: number, value: number, step = 0, t = 0): MetricPoint => ({ iteration, step, value, t });

/** The metrics one V-STaR iteration logs for k = 1..n, from per-method value functions. */
function iterationMetrics(iteration: number, n: number, methods: Record<string, (k: number) => number>): Record<string, MetricPoint[]> {
  const out: Record<string, MetricPoint[]> = {};
  for (const [prefix, f] of Object.entries(methods))
    for (let k = 1; k <= n; k++) out[`${prefix}@${k}`] = [pt(iteration, f(k), 100 * iteration)];
  return out;
}

function merge(...ms: Record<string, MetricPoint[]>[]): Record<string, MetricPoint[]> {
  const out: Record<string, MetricPoint[]> = {};
  for (const m of ms) for (const [k, v] of Object.entries(m)) out[k] = [...(out[k] ?? []), ...v];
  return out;
}

const ALL = {
  'vstar/best_of_k/likelihood': (k: number) => 0.3 + 0.002 * k,
  'vstar/best_of_k/logp': (k: number) => 0.3 + 0.001 * k,
  'vstar/majority': (k: number) => 0.3 + 0.01 * k,
  'vstar/best_of_k/orm': (k: number) => 0.3 + 0.015 * k,
  'vstar/pass': (k: number) => Math.min(1, 0.3 + 0.05 * k),
  'vstar/best_of_k/dpo': (k: number) => 0.3 + 0.02 * k,
};

describe('vstar metric names', () => {
  it('parses the *@k family and nothing else', () => {
    expect(parseVstarMetric('vstar/pass@1')).toEqual({ method: 'pass', k: 1 });
    expect(parseVstarMetric('vstar/majority@64')).toEqual({ method: 'majority', k: 64 });
    expect(parseVstarMetric('vstar/best_of_k/dpo@16')).toEqual({ method: 'dpo', k: 16 });
    expect(parseVstarMetric('vstar/best_of_k/orm@2')).toEqual({ method: 'orm', k: 2 });
    for (const n of ['vstar/pass@0', 'vstar/pass', 'verifier/loss', 'eval/accuracy', 'vstar/pass@k', 'orm/loss', 'vstar/best_of_k/@3'])
      expect(isVstarCurveMetric(n), n).toBe(false);
  });
});

describe('bestOfKCurves', () => {
  it('returns nothing for a run without vstar metrics', () => {
    const m = { 'eval/accuracy': [pt(0, 0.1), pt(1, 0.2)], 'train/loss': [pt(1, 2)] };
    expect(vstarIterations(m)).toEqual([]);
    expect(bestOfKCurves(m)).toEqual([]);
    expect(bestOfKCurves({})).toEqual([]);
  });

  it('defaults to the last iteration, orders methods and sorts by k (numerically, not by name)', () => {
    const m = merge(
      iterationMetrics(1, 16, ALL),
      iterationMetrics(2, 16, { 'vstar/pass': () => 0.9, 'vstar/majority': () => 0.5, 'vstar/best_of_k/dpo': () => 0.7 }),
      { 'eval/accuracy': [pt(0, 0.1), pt(1, 0.2), pt(2, 0.3), pt(3, 0.35)], 'verifier/loss': [pt(3, 0.6, 301)] },
    );
    expect(vstarIterations(m)).toEqual([1, 2]);
    const latest = bestOfKCurves(m);
    expect(latest.map((s) => s.key)).toEqual(['pass', 'majority', 'dpo']); // orm/logp absent at iteration 2
    expect(latest.map((s) => s.label)).toEqual(['pass@k', 'majority', 'Best-of-k (DPO verifier)']);
    expect(latest[0]!.points.map((p) => p.x)).toEqual(Array.from({ length: 16 }, (_, i) => i + 1));
    expect(latest[2]!.points.every((p) => p.y === 0.7)).toBe(true);

    const first = bestOfKCurves(m, 1);
    expect(first.map((s) => s.key)).toEqual(['pass', 'majority', 'dpo', 'orm', 'logp', 'likelihood']);
    expect(first.map((s) => s.label)).toEqual([
      'pass@k',
      'majority',
      'Best-of-k (DPO verifier)',
      'Best-of-k (ORM)',
      'Best-of-k (verifier likelihood)',
      'Best-of-k (generator likelihood)',
    ]);
    const dpo = first[2]!;
    expect(dpo.points[0]).toEqual({ x: 1, y: 0.3 + 0.02 });
    expect(dpo.points[15]).toEqual({ x: 16, y: 0.3 + 0.02 * 16 });
    for (const s of first) expect(s.points.map((p) => p.x)).toEqual([...s.points.map((p) => p.x)].sort((a, b) => a - b));

    expect(bestOfKCurves(m, 7)).toEqual([]);
  });

  it('keeps the last value where an iteration was logged twice (a resumed run)', () => {
    const m = {
      'vstar/pass@1': [pt(1, 0.2, 10, 1), pt(1, 0.25, 10, 2), pt(0, 0.9, 0, 3)],
      'vstar/pass@2': [pt(1, 0.4, 11, 1), pt(1, 0.3, 10, 5)],
    };
    expect(bestOfKCurves(m, 1)).toEqual([
      {
        key: 'pass',
        label: 'pass@k',
        points: [
          { x: 1, y: 0.25 },
          { x: 2, y: 0.4 },
        ],
      },
    ]);
  });

  it('labels an unknown scorer and puts it after the known ones', () => {
    const m = { 'vstar/best_of_k/prm@1': [pt(0, 0.5)], 'vstar/majority@1': [pt(0, 0.4)] };
    expect(bestOfKCurves(m).map((s) => [s.key, s.label])).toEqual([
      ['majority', 'majority'],
      ['prm', 'Best-of-k (prm)'],
    ]);
  });
});

describe('bestOfKSummary', () => {
  it('gives each curve its value at k = 1 and at N', () => {
    const m = iterationMetrics(3, 64, ALL);
    const { n, rows } = bestOfKSummary(bestOfKCurves(m));
    expect(n).toBe(64);
    expect(rows.map((r) => r.key)).toEqual(['pass', 'majority', 'dpo', 'orm', 'logp', 'likelihood']);
    const dpo = rows.find((r) => r.key === 'dpo')!;
    expect(dpo.at1).toBeCloseTo(0.32);
    expect(dpo.kMax).toBe(64);
    expect(dpo.atMax).toBeCloseTo(0.3 + 0.02 * 64);
    expect(rows.find((r) => r.key === 'pass')!.atMax).toBe(1);
    expect(bestOfKSummary([])).toEqual({ n: null, rows: [] });
  });
});
