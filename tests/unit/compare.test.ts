import { thinAggregate } from '../../renderer/src/downsample';
import { describe, expect, it } from 'vitest';
import { styleForVariant } from '../../shared/export/style';
import { ci95HalfWidth, mean, sampleStd } from '../../shared/stats';
import { lttb, pointsPerLine, POINT_BUDGET } from '../../renderer/src/downsample';
import { chartDomains } from '../../renderer/src/chart-domain';
import type { ReactElement } from 'react';
import { figureSchema, type MetricPoint } from '../../shared/contract';
import { pointsToColumns } from '../../shared/series-columns';
import { layoutFigure, type SceneItem } from '../../shared/export/figure-layout';
import { runSummary } from '../fixtures/helpers';
import {
  aggregateAligned,
  assignStyles,
  bandOpacity,
  buildGroups,
  compareFigure,
  configDiffKeys,
  difficultyMetrics,
  EXPORT_MAX_POINTS,
  perDifficultyGroups,
  defaultTemplate,
  diffText,
  flattenConfig,
  formatLabel,
  groupKey,
  mapX,
  metricsToFetch,
  parseCompareQuery,
  runStartT,
  tableRows,
  testIdKey,
  variantStyle,
  type CompareRun,
} from '../../renderer/src/compare';

const pt = (iteration: number, step: number, value: number, t = 1000 + iteration): MetricPoint => ({ iteration, step, value, t });
/** Series written as points, in the columns getSeriesColumns returns. */
const asCols = (s: Record<string, Record<string, MetricPoint[]>>) =>
  Object.fromEntries(
    Object.entries(s).map(([id, m]) => [id, Object.fromEntries(Object.entries(m).map(([n, p]) => [n, pointsToColumns(p)]))]),
  );

const run = (id: string, variant: string, dataset: string, seed: number, lr: number): CompareRun => ({
  summary: runSummary({ id, variant, dataset, seed }),
  config: { variant, dataset, seed, loop: { lr, iterations: 3, nested: { seed: seed } }, model: { name: 'm' } },
});

describe('bandOpacity', () => {
  it('keeps a few bands at 0.15 and lightens many, so ten overlapping cover under 40%', () => {
    expect([1, 3, 6, 10].map(bandOpacity)).toEqual([0.15, 0.15, 0.075, 0.045]);
    expect(1 - (1 - bandOpacity(10)) ** 10).toBeLessThan(0.4);
  });
});

describe('x mapping', () => {
  const acc = [pt(0, 0, 0.1), pt(1, 10, 0.5), pt(2, 20, 0.7)];
  it('iteration: last value per iteration', () => {
    expect(mapX([pt(0, 0, 1), pt(0, 5, 2), pt(1, 9, 3)], 'iteration')).toEqual([
      { k: 0, x: 0, y: 2 },
      { k: 1, x: 1, y: 3 },
    ]);
  });
  it('step: every point by step', () => {
    expect(mapX([pt(1, 9, 3), pt(0, 5, 2)], 'step')).toEqual([
      { k: 5, x: 5, y: 2 },
      { k: 9, x: 9, y: 3 },
    ]);
  });
  it('tokens / examples: the compute value at the same iteration', () => {
    const tokens = [pt(0, 0, 100), pt(1, 10, 250)];
    expect(mapX(acc, 'tokens', { compute: tokens })).toEqual([
      { k: 0, x: 100, y: 0.1 },
      { k: 1, x: 250, y: 0.5 },
    ]);
    expect(mapX(acc, 'examples', { compute: [pt(2, 20, 64)] })).toEqual([{ k: 2, x: 64, y: 0.7 }]);
    expect(mapX(acc, 'tokens')).toEqual([]);
  });
  it('time: t minus the run start', () => {
    expect(mapX(acc, 'time', { t0: 999 })).toEqual([
      { k: 0, x: 1, y: 0.1 },
      { k: 1, x: 2, y: 0.5 },
      { k: 2, x: 3, y: 0.7 },
    ]);
    // several per iteration (train/loss): every point, aligned on step
    const loss = [pt(0, 1, 3, 1001), pt(0, 2, 2, 1002), pt(1, 3, 1, 1005)];
    expect(mapX(loss, 'time', { t0: 1000 })).toEqual([
      { k: 1, x: 1, y: 3 },
      { k: 2, x: 2, y: 2 },
      { k: 3, x: 5, y: 1 },
    ]);
    expect(runStartT({ a: pointsToColumns([pt(0, 0, 1, 50)]), b: pointsToColumns([pt(0, 0, 1, 20)]), c: undefined })).toBe(20);
    expect(runStartT({})).toBeNull();
  });
  it('fetches what the axis needs', () => {
    expect(metricsToFetch('eval/accuracy', 'iteration')).toEqual(['eval/accuracy']);
    expect(metricsToFetch('eval/accuracy', 'tokens')).toEqual(['eval/accuracy', 'compute/tokens']);
    expect(metricsToFetch('train/loss', 'examples')).toEqual(['train/loss', 'compute/examples_trained']);
    expect(metricsToFetch('eval/accuracy', 'time')).toContain('train/loss');
  });
  it('aligns on k, x the mean of the runs x', () => {
    const a = [
      { k: 0, x: 100, y: 1 },
      { k: 1, x: 200, y: 3 },
    ];
    const b = [{ k: 0, x: 120, y: 3 }];
    const out = aggregateAligned([a, b], 'std');
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ k: 0, x: 110, mean: 2, n: 2 });
    expect(out[1]).toMatchObject({ k: 1, x: 200, mean: 3, lo: 3, hi: 3, n: 1 });
  });
});

describe('aggregateAligned and LTTB at scale', () => {
  /** The straightforward Map-based alignment the merge replaced: the reference it must equal. */
  function reference(runs: { k: number; x: number; y: number }[][], band: 'std' | 'ci95') {
    const ys = new Map<number, number[]>();
    const xs = new Map<number, number[]>();
    for (const r of runs) {
      const my = new Map<number, number>();
      const mx = new Map<number, number>();
      for (const p of r) {
        if (Number.isFinite(p.x)) mx.set(p.k, p.x);
        if (Number.isFinite(p.x) && Number.isFinite(p.y)) my.set(p.k, p.y);
      }
      for (const [k, y] of my) ys.set(k, [...(ys.get(k) ?? []), y]);
      for (const [k, x] of mx) xs.set(k, [...(xs.get(k) ?? []), x]);
    }
    const out = [];
    for (const k of [...ys.keys()].sort((a, b) => a - b)) {
      const v = ys.get(k)!;
      const m = mean(v);
      const h = band === 'std' ? sampleStd(v) : ci95HalfWidth(v);
      const x = mean(xs.get(k) ?? []);
      if (Number.isFinite(x)) out.push({ x, mean: m, lo: m - h, hi: m + h, n: v.length, k });
    }
    return out.sort((a, b) => a.x - b.x || a.k - b.k);
  }

  it('equals the reference on random runs (duplicates, gaps, NaN, unsorted, different x per run)', () => {
    let s = 7;
    const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 200; trial++) {
      const runs = Array.from({ length: 1 + Math.floor(rand() * 5) }, () =>
        Array.from({ length: Math.floor(rand() * 30) }, () => {
          const k = Math.floor(rand() * 20);
          return { k, x: rand() < 0.05 ? NaN : k * 10 + Math.floor(rand() * 3), y: rand() < 0.1 ? NaN : rand() };
        }),
      );
      for (const band of ['std', 'ci95'] as const) expect(aggregateAligned(runs, band)).toEqual(reference(runs, band));
    }
  });

  it('a chart keeps at most POINT_BUDGET points over its lines, each at least 120, none over the plot width', () => {
    expect(pointsPerLine(900, 1)).toBe(900);
    expect(pointsPerLine(900, 4)).toBe(900);
    expect(pointsPerLine(900, 50)).toBe(POINT_BUDGET / 50);
    expect(pointsPerLine(900, 1000)).toBe(120);
  });

  it('LTTB keeps the ends and the extremes, and n points', () => {
    const pts = Array.from({ length: 1000 }, (_, x) => ({ x, y: x === 500 ? 10 : x === 750 ? -10 : Math.sin(x / 50) }));
    const t = lttb(pts, 100);
    expect(t).toHaveLength(100);
    expect(t[0]).toBe(pts[0]);
    expect(t.at(-1)).toBe(pts[999]);
    expect(t).toContain(pts[500]);
    expect(t).toContain(pts[750]);
    expect(t.map((p) => p.x)).toEqual([...t.map((p) => p.x)].sort((a, b) => a - b));
    expect(lttb(pts.slice(0, 50), 100)).toEqual(pts.slice(0, 50));
    // hand-computed: 5 points to 3 — the middle bucket [1, 4) keeps the point farthest from the line (0,0)–(4,0)
    const five = [
      { x: 0, y: 0 },
      { x: 1, y: 1 },
      { x: 2, y: 5 },
      { x: 3, y: 2 },
      { x: 4, y: 0 },
    ];
    expect(lttb(five, 3)).toEqual([five[0], five[2], five[4]]);
  });
});

describe('configs, grouping and labels', () => {
  const r1 = run('r1', 'star', 'addition', 0, 0.001);
  const r2 = run('r2', 'star', 'addition', 1, 0.003);
  const r3 = run('r3', 'star-norat', 'gsm8k', 0, 0.001);
  it('flattens to dotted keys', () => {
    expect(flattenConfig({ a: 1, b: { c: [1, 2], d: { e: 'x' } } })).toEqual({ a: 1, 'b.c': [1, 2], 'b.d.e': 'x' });
  });
  it('group keys', () => {
    expect(groupKey(r1, 'none')).toBe('r1');
    expect(groupKey(r1, 'variant')).toBe('star');
    expect(groupKey(r3, 'dataset')).toBe('gsm8k');
    expect(groupKey(r3, 'variant+dataset')).toBe('star-norat / gsm8k');
    expect(groupKey(r2, 'loop.lr')).toBe('loop.lr=0.003');
    expect(groupKey(r2, 'loop.missing')).toBe('loop.missing=—');
  });
  it('label templates', () => {
    expect(defaultTemplate('variant')).toBe('{variant}');
    expect(defaultTemplate('none')).toBe('{id}');
    expect(formatLabel('{variant} lr={loop.lr}', [r1], 'x')).toBe('star lr=0.001');
    expect(formatLabel('{variant} lr={loop.lr}', [r1, r2], 'x')).toBe('star lr=0.001|0.003');
    expect(formatLabel('{id} s{seed}', [r3], 'x')).toBe('r3 s0');
    expect(formatLabel('', [r3], 'fallback')).toBe('fallback');
  });
  it('config diff leaves out seeds', () => {
    const keys = configDiffKeys([r1.config, r2.config, r3.config]);
    expect(keys).toEqual(['dataset', 'loop.lr', 'variant']);
    expect(diffText(['loop.lr'], [r1.config, r2.config])).toBe('loop.lr=0.001|0.003');
    expect(configDiffKeys([r1.config, { ...(r1.config as object), extra: 1 }])).toEqual(['extra']);
  });
  it('styles: stable per variant, Okabe–Ito', () => {
    expect(variantStyle('star')).toEqual({ color: '#0072B2', dash: undefined });
    // the exports' colour (vermillion), so a variant looks the same on screen and on paper
    expect(variantStyle('star-norat').color).toBe(styleForVariant('star-norat').color);
    expect(variantStyle('star-norat').color).toBe('#D55E00');
    expect(variantStyle('star-norat').dash).toBeDefined();
    const s = assignStyles([
      { key: 'a', variants: ['star'] },
      { key: 'b', variants: ['star'] },
      { key: 'c', variants: ['star', 'v-star'] },
    ]);
    expect(s.get('a')!.color).toBe('#0072B2');
    expect(s.get('b')!.color).not.toBe('#0072B2');
    expect(s.get('b')!.dash).toBe(s.get('a')!.dash);
    expect(new Set([...s.values()].map((v) => v.color)).size).toBe(3);
  });
  it('query and test ids', () => {
    expect(parseCompareQuery('/compare?group=g1')).toEqual({ group: 'g1', runs: [] });
    expect(parseCompareQuery('/compare?runs=a,b')).toEqual({ group: null, runs: ['a', 'b'] });
    expect(parseCompareQuery('/compare')).toEqual({ group: null, runs: [] });
    expect(testIdKey('star / gsm8k')).toBe('star_gsm8k');
  });
});

describe('groups and table', () => {
  const runs = [
    run('r1', 'star', 'addition', 0, 0.001),
    run('r2', 'star', 'addition', 1, 0.001),
    run('r3', 'star-norat', 'addition', 0, 0.003),
  ];
  const series = asCols({
    r1: { 'eval/accuracy': [pt(0, 0, 0.2), pt(1, 5, 0.6), pt(2, 9, 0.5)], 'compute/tokens': [pt(0, 0, 10), pt(1, 5, 20), pt(2, 9, 30)] },
    r2: { 'eval/accuracy': [pt(0, 0, 0.4), pt(1, 5, 0.8), pt(2, 9, 0.7)], 'compute/tokens': [pt(0, 0, 12), pt(1, 5, 22), pt(2, 9, 32)] },
    r3: { 'eval/accuracy': [pt(0, 0, 0.1), pt(1, 5, 0.2)] },
  });
  const base = {
    runs,
    series,
    metric: 'eval/accuracy',
    x: 'iteration' as const,
    groupBy: 'variant',
    template: '{variant}',
    smoothing: 0,
    band: 'std' as const,
  };
  it('groups by variant, star first', () => {
    const g = buildGroups(base);
    expect(g.map((x) => x.key)).toEqual(['star', 'star-norat']);
    expect(g[0]!.runs.map((r) => r.summary.id)).toEqual(['r1', 'r2']);
    expect(g[0]!.smoothed.map((p) => p.mean)).toEqual([0.30000000000000004, 0.7, 0.6]);
    expect(g[0]!.smoothed[0]!.hi - g[0]!.smoothed[0]!.mean).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(g[1]!.label).toBe('star-norat');
    const none = buildGroups({ ...base, groupBy: 'none', template: '{id}' });
    expect(none.map((x) => x.label)).toEqual(['r1', 'r2', 'r3']);
  });
  it('maps the step axis from columns as mapX maps the points, in order or not', () => {
    const inOrder = [pt(0, 0, 0.1), pt(0, 3, 0.4), pt(1, 3, 0.5), pt(1, 7, 0.2)];
    const shuffled = [inOrder[2]!, inOrder[0]!, inOrder[3]!, inOrder[1]!];
    for (const pts of [inOrder, shuffled]) {
      const g = buildGroups({ ...base, runs: [runs[0]!], series: asCols({ r1: { m: pts } }), metric: 'm', x: 'step' });
      expect(g[0]!.runPoints[0]).toEqual(mapX(pts, 'step').map(({ k, x, y }) => ({ k, x, y })));
    }
  });
  it('tokens axis aligns by iteration', () => {
    const g = buildGroups({ ...base, x: 'tokens' });
    expect(g[0]!.smoothed.map((p) => p.x)).toEqual([11, 21, 31]);
    expect(g[1]!.smoothed).toEqual([]); // r3 logs no compute/tokens
  });
  it('smoothing: raw kept, smoothed debiased', () => {
    const g = buildGroups({ ...base, groupBy: 'none', smoothing: 0.5 });
    expect(g[0]!.raw.map((p) => p.mean)).toEqual([0.2, 0.6, 0.5]);
    expect(g[0]!.smoothed[0]!.mean).toBeCloseTo(0.2, 12);
    expect(g[0]!.smoothed[1]!.mean).toBeCloseTo((0.05 + 0.3) / 0.75, 12);
  });
  it('table rows: final mean ± std, best and its iteration, config diff', () => {
    const g = buildGroups(base);
    const rows = tableRows(g, series, 'eval/accuracy');
    expect(rows[0]).toMatchObject({ key: 'star', n: 2, bestIteration: 1 });
    expect(rows[0]!.finalMean).toBeCloseTo(0.6, 12);
    expect(rows[0]!.finalStd).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(rows[0]!.best).toBeCloseTo(0.7, 12);
    expect(rows[0]!.diff).toBe('loop.lr=0.001, variant=star');
    expect(rows[1]).toMatchObject({ n: 1, finalMean: 0.2, finalStd: 0, best: 0.2, bestIteration: 1 });
    expect(rows[1]!.diff).toBe('loop.lr=0.003, variant=star-norat');
    // lower is better for losses
    const loss = asCols({ r1: { 'train/loss': [pt(0, 1, 3), pt(1, 2, 1), pt(2, 3, 2)] } });
    const lg = buildGroups({ ...base, runs: [runs[0]!], series: loss, metric: 'train/loss' });
    expect(tableRows(lg, loss, 'train/loss')[0]).toMatchObject({ best: 1, bestIteration: 1, diff: '' });
  });
  it('marks a group that is not whole yet, and says at each point how many runs its mean is over', () => {
    const rs = [runs[0]!, { ...runs[1]!, summary: { ...runs[1]!.summary, status: 'running' as const } }];
    const partial = { ...series, ...asCols({ r2: { 'eval/accuracy': [pt(0, 0, 0.4)] } }) };
    const g = buildGroups({ ...base, runs: rs, series: partial });
    const rows = tableRows(g, partial, 'eval/accuracy');
    expect(rows[0]).toMatchObject({ n: 2, partial: '1 of 2 still running' });
    // the mean at iteration 0 is over both runs, later ones over the finished run alone
    expect(Array.from(g[0]!.cols.smoothed.n).slice(0, g[0]!.cols.smoothed.length)).toEqual([2, 1, 1]);
    expect(thinAggregate(g[0]!.cols.smoothed, 100, false).map((r) => r.n)).toEqual([2, 1, 1]);
    // both ended, but at different iterations: their finals are from different points
    const ended = [runs[0]!, runs[1]!];
    expect(tableRows(buildGroups({ ...base, runs: ended, series: partial }), partial, 'eval/accuracy')[0]!.partial).toMatch(
      /different iterations \(0, 2\)/,
    );
    expect(tableRows(buildGroups(base), series, 'eval/accuracy')[0]!.partial).toBeNull();
  });
});

describe('per-difficulty curves and the exported figure', () => {
  const runs = [
    run('r1', 'star', 'addition', 0, 0.001),
    run('r2', 'star', 'addition', 1, 0.001),
    run('r3', 'star-norat', 'addition', 0, 0.001),
  ];
  const series = asCols({
    r1: {
      'eval/accuracy': [pt(0, 0, 0.2), pt(1, 5, 0.6)],
      'eval/accuracy/digits_1': [pt(0, 0, 0.5), pt(1, 5, 0.9)],
      'eval/accuracy/digits_2': [pt(0, 0, 0.1), pt(1, 5, 0.4)],
    },
    r2: {
      'eval/accuracy': [pt(0, 0, 0.4), pt(1, 5, 0.8)],
      'eval/accuracy/digits_1': [pt(0, 0, 0.7), pt(1, 5, 1)],
      'eval/accuracy/digits_2': [pt(0, 0, 0.3), pt(1, 5, 0.6)],
    },
    r3: {
      'eval/accuracy': [pt(0, 0, 0.1), pt(1, 5, 0.2)],
      'eval/accuracy/digits_1': [pt(0, 0, 0.2), pt(1, 5, 0.3)],
      'eval/accuracy/digits_2': [pt(0, 0, 0), pt(1, 5, 0.1)],
    },
  });
  const base = { runs, series, x: 'iteration' as const, groupBy: 'variant', template: '{variant}', smoothing: 0, band: 'std' as const };

  it('finds the per-difficulty metrics of a metric, by difficulty', () => {
    expect(
      difficultyMetrics('eval/accuracy', [
        'eval/accuracy/digits_10',
        'eval/accuracy',
        'eval/accuracy/digits_2',
        'eval/accuracyXdigits_3',
        'train/loss/digits_1',
      ]),
    ).toEqual([
      { metric: 'eval/accuracy/digits_2', difficulty: 2 },
      { metric: 'eval/accuracy/digits_10', difficulty: 10 },
    ]);
    expect(difficultyMetrics('train/loss', ['eval/accuracy/digits_1'])).toEqual([]);
  });

  it('draws every difficulty of every group on one chart, with the table per difficulty', () => {
    const ms = difficultyMetrics('eval/accuracy', Object.keys(series.r1!));
    const g = perDifficultyGroups(base, ms);
    expect(g.map((x) => x.label)).toEqual(['star · 1 digit', 'star-norat · 1 digit', 'star · 2 digits', 'star-norat · 2 digits']);
    expect(g[0]!.smoothed.map((p) => p.mean)).toEqual([0.6, 0.95]);
    expect(g[2]!.smoothed.map((p) => p.mean)).toEqual([0.2, 0.5]);
    // several groups: a group keeps its colour, difficulties take the dashes
    expect(g[0]!.color).toBe(g[2]!.color);
    expect(g[0]!.dashName).not.toBe(g[2]!.dashName);
    const rows = tableRows(g, series, 'eval/accuracy');
    expect(rows[0]!.finalMean).toBeCloseTo(0.95, 12);
    expect(rows[3]!.finalMean).toBeCloseTo(0.1, 12);
    // one group: the difficulties take colours
    const one = perDifficultyGroups({ ...base, runs: runs.slice(0, 2) }, ms);
    expect(one[0]!.color).not.toBe(one[1]!.color);
  });

  it('a zoomed chart exports its range, as drawn', () => {
    const g = buildGroups({ ...base, metric: 'eval/accuracy' });
    const o = { title: 't', xLabel: 'iteration', yLabel: 'y', yLog: false, showRuns: true };
    const all = compareFigure(g, o);
    const zoomed = compareFigure(g, { ...o, xRange: [0.5, 1.5] });
    expect(all.series[0]!.points.map((p) => p.x)).toEqual([0, 1]);
    expect(all.xDomain).toBeUndefined();
    // the axis is the range; the segment reaching into it keeps its outside end (clipped when drawn)
    expect(zoomed.xDomain).toEqual([0.5, 1.5]);
    expect(zoomed.series.map((s) => s.points.map((p) => p.x))).toEqual([
      [0, 1],
      [0, 1],
    ]);
    const narrow = compareFigure(g, { ...o, xRange: [1, 1.5] });
    expect(narrow.series[0]!.points.map((p) => p.x)).toEqual([0, 1]);
    const ticks = layoutFigure(zoomed, 'single-column')
      .items.filter((i): i is Extract<SceneItem, { kind: 'text' }> => i.kind === 'text' && i.anchor === 'middle')
      .map((t) => Number(t.text))
      .filter((v) => Number.isFinite(v));
    expect(ticks.length).toBeGreaterThan(0);
    expect(ticks.every((v) => v >= 0.5 && v <= 1.5)).toBe(true);
    // a range with nothing of a group in it leaves the group out
    expect(compareFigure(g, { ...o, xRange: [5, 6] }).series).toEqual([]);
    // what the page sends is what the export command takes
    expect(figureSchema.safeParse(compareFigure(g, { ...o, xKind: 'duration', xRange: [0.5, 1.5] })).success).toBe(true);
  });

  it('the exported figure is the chart: same means, bands where n > 1, on-screen styles, [0, 1] bounds for fractions', () => {
    const g = buildGroups({ ...base, metric: 'eval/accuracy' });
    const f = compareFigure(g, { title: 't', xLabel: 'iteration', yLabel: 'eval/accuracy', yLog: false, showRuns: true });
    expect(f.yBounds).toEqual([0, 1]);
    expect(f.series.map((s) => s.label)).toEqual(['star', 'star-norat']);
    expect(f.series[0]!.points[0]!.mean).toBeCloseTo(0.3, 12);
    expect(f.series[0]!.points[0]!.hi! - 0.3).toBeCloseTo(Math.sqrt(0.02), 12);
    expect(f.series[1]!.points[0]).toEqual({ x: 0, mean: 0.1 }); // one run: no band
    expect(f.series[0]!.style).toEqual({ color: g[0]!.color, colorName: 'OIblue', dash: 'solid' });
    expect(f.series[1]!.style!.dash).toBe('dashed');
    expect(f.series[0]!.runs!.map((r) => r.id)).toEqual(['r1', 'r2']);
    expect(f.series[1]!.runs).toBeUndefined();
    expect(compareFigure(g, { title: 't', xLabel: 'x', yLabel: 'y', yLog: true, showRuns: false }).yBounds).toBeUndefined();
    // long curves are thinned to EXPORT_MAX_POINTS, ends kept
    const long = asCols({ r1: { m: Array.from({ length: 5000 }, (_, i) => pt(i, i, i)) } });
    const lg = buildGroups({ ...base, runs: [runs[0]!], series: long, metric: 'm' });
    const lf = compareFigure(lg, { title: 't', xLabel: 'x', yLabel: 'y', yLog: false, showRuns: false });
    expect(lf.series[0]!.points).toHaveLength(EXPORT_MAX_POINTS);
    expect([lf.series[0]!.points[0]!.x, lf.series[0]!.points.at(-1)!.x]).toEqual([0, 4999]);
    expect(lf.yBounds).toBeUndefined();
  });
});

describe('ComparePage renders', () => {
  it('first render has the controls and test ids', async () => {
    const { createElement } = await import('react');
    const { renderToString } = await import('react-dom/server');
    // a computed specifier: the node tsconfig (no jsx) does not follow it into the .tsx page
    const page = new URL('../../renderer/src/pages/ComparePage.tsx', import.meta.url).pathname;
    const { ComparePage } = (await import(/* @vite-ignore */ page)) as { ComparePage: (p: { path: string }) => ReactElement };
    const html = renderToString(createElement(ComparePage, { path: '/compare?group=g1' }));
    for (const id of [
      'compare-page',
      'compare-metric',
      'compare-x',
      'compare-ylog',
      'compare-smoothing',
      'compare-group-by',
      'compare-band',
      'compare-show-runs',
      'compare-label-template',
      'compare-chart',
      'compare-table',
    ]) {
      expect(html).toContain(`data-testid="${id}"`);
    }
    expect(html).toContain('data-series-count="0"');
    // grouped by variant when opened from a group
    expect(html).toContain('value="{variant}"');
  });
});

describe('chart domains for the canvas mode', () => {
  const row = (x: number, y: number, band?: [number, number]) => (band ? { x, y, band } : { x, y });
  it('nice linear ticks over means, bands and runs; [0, 1] for fractions; decades on log axes', () => {
    const lines = [{ mean: [row(0, 0.12, [0.05, 0.19]), row(10, 0.43, [0.4, 0.46])], raw: [], runs: [[row(0, 0.1), row(12, 0.5)]] }];
    expect(chartDomains(lines, { yLog: false, unitInterval: false })).toEqual({
      x: [0, 12],
      y: [0, 0.5],
      yTicks: [0, 0.1, 0.2, 0.3, 0.4, 0.5],
    });
    expect(chartDomains(lines, { yLog: false, unitInterval: true })).toEqual({ x: [0, 12], y: [0, 1], yTicks: [0, 0.25, 0.5, 0.75, 1] });
    expect(chartDomains([{ mean: [row(1, 0.03), row(2, 40)], raw: [], runs: [] }], { yLog: true, unitInterval: false })).toEqual({
      x: [1, 2],
      y: [0.01, 100],
      yTicks: [0.01, 0.1, 1, 10, 100],
    });
    expect(chartDomains([{ mean: [row(1, 2)], raw: [], runs: [] }], { yLog: false, unitInterval: false })!.x).toEqual([0.5, 1.5]);
    expect(chartDomains([{ mean: [], raw: [], runs: [] }], { yLog: false, unitInterval: false })).toBeNull();
  });
});
