/**
 * The Compare view's pure logic: x-axis mapping, grouping, label templates, config diff,
 * series styles and the summary table. No React, no transport: unit-tested on its own.
 */
import { DASHES, OKABE_ITO as PALETTE, paletteColor, styleForVariant, type Dash } from '../../shared/export/style';
import type { Figure, FigureSeries } from '../../shared/export/model';
import type { MetricPoint, RunSummary, SeriesColumns } from '../../shared/contract';
import { columnsToPoints } from '../../shared/series-columns';
import { flattenConfig, formatValue, getPath } from '../../shared/config-paths';

export { flattenConfig, formatValue, getPath };
import type { AxisKind } from '../../shared/ticks';
import { pointsAroundRange } from './chart-zoom';
import { VARIANTS, lowerIsBetter } from '../../shared/catalogue';
import { bestOfMeanCurve, mean, sampleStd, type AggregatePoint, type Band } from '../../shared/stats';
import { aggregateCols, dedupeByK, emaCols, fromCols, toCols, type AggCols, type Cols } from './columns';

export type XKind = 'iteration' | 'step' | 'examples' | 'tokens' | 'time';

export const X_OPTIONS: { id: XKind; label: string }[] = [
  { id: 'iteration', label: 'iteration' },
  { id: 'step', label: 'training steps' },
  { id: 'examples', label: 'examples trained' },
  { id: 'tokens', label: 'tokens processed' },
  { id: 'time', label: 'wall time' },
];

/** The cumulative compute metric an x axis maps iterations to, if any. */
export function xComputeMetric(kind: XKind): string | null {
  if (kind === 'examples') return 'compute/examples_trained';
  if (kind === 'tokens') return 'compute/tokens';
  return null;
}

export { bandOpacity } from '../../shared/export/model';

/** How an x axis ticks: wall time in durations, the rest are counts (iterations, steps, examples, tokens). */
export function axisKindOf(x: XKind): AxisKind {
  return x === 'time' ? 'duration' : 'count';
}

/** Metrics to fetch for the first-metric time of each run (wall-time axis). */
export const TIME_BASE_METRICS = ['eval/accuracy', 'train/loss', 'compute/tokens'];

/** The metrics getSeries must return for metric `y` on axis `x`. */
export function metricsToFetch(y: string, x: XKind): string[] {
  const out = [y];
  const c = xComputeMetric(x);
  if (c) out.push(c);
  if (x === 'time') out.push(...TIME_BASE_METRICS);
  return [...new Set(out)];
}

/** A point in plot space: x on the chosen axis, y the value, k the key runs are aligned on. */
export interface KPoint {
  k: number;
  x: number;
  y: number;
}

/** The last logged point of each iteration (highest step, then latest time), by iteration. */
export function lastPerIteration(points: readonly MetricPoint[] | undefined): Map<number, MetricPoint> {
  const best = new Map<number, MetricPoint>();
  for (const p of points ?? []) {
    const b = best.get(p.iteration);
    if (!b || p.step > b.step || (p.step === b.step && p.t >= b.t)) best.set(p.iteration, p);
  }
  return best;
}

function severalPerIteration(points: readonly MetricPoint[]): boolean {
  const seen = new Set<number>();
  for (const p of points) {
    if (seen.has(p.iteration)) return true;
    seen.add(p.iteration);
  }
  return false;
}

/** Seconds (unix seconds or ms in, seconds out). */
function toSeconds(t: number): number {
  return t < 1e11 ? t : t / 1000;
}

/** The earliest metric time of a run over the given series (null when it has none). */
export function runStartT(series: Record<string, SeriesColumns | undefined> | undefined): number | null {
  let t0 = Infinity;
  for (const c of Object.values(series ?? {})) for (const t of c?.t ?? []) if (t < t0) t0 = t;
  return Number.isFinite(t0) ? t0 : null;
}

/**
 * One run's metric in plot space.
 * - iteration: one point per iteration (its last value), x = k = iteration;
 * - step: every point, x = k = step;
 * - examples / tokens: one point per iteration, x = the run's compute/* value at the same
 *   iteration (iterations without one are left out), k = iteration;
 * - time: x = t − t0 in seconds; every point when the metric is logged several times per
 *   iteration (k = step), else one per iteration (k = iteration).
 */
export function mapX(
  points: readonly MetricPoint[] | undefined,
  kind: XKind,
  ctx: { compute?: readonly MetricPoint[]; t0?: number | null } = {},
): KPoint[] {
  const pts = points ?? [];
  if (!pts.length) return [];
  if (kind === 'step') {
    const byStep = (a: MetricPoint, b: MetricPoint) => a.step - b.step || a.iteration - b.iteration || a.t - b.t;
    let sorted = true; // getSeries returns points by step already: skip the sort then
    for (let i = 1; i < pts.length && sorted; i++) if (byStep(pts[i - 1]!, pts[i]!) > 0) sorted = false;
    return (sorted ? pts : [...pts].sort(byStep)).map((p) => ({ k: p.step, x: p.step, y: p.value }));
  }
  if (kind === 'time') {
    const t0 = toSeconds(ctx.t0 ?? Math.min(...pts.map((p) => p.t)));
    if (severalPerIteration(pts)) {
      return [...pts].sort((a, b) => a.t - b.t || a.step - b.step).map((p) => ({ k: p.step, x: toSeconds(p.t) - t0, y: p.value }));
    }
    return [...lastPerIteration(pts).values()]
      .sort((a, b) => a.iteration - b.iteration)
      .map((p) => ({ k: p.iteration, x: toSeconds(p.t) - t0, y: p.value }));
  }
  const per = [...lastPerIteration(pts).values()].sort((a, b) => a.iteration - b.iteration);
  if (kind === 'iteration') return per.map((p) => ({ k: p.iteration, x: p.iteration, y: p.value }));
  const compute = lastPerIteration(ctx.compute);
  const out: KPoint[] = [];
  for (const p of per) {
    const c = compute.get(p.iteration);
    if (c) out.push({ k: p.iteration, x: c.value, y: p.value });
  }
  return out;
}

export interface AlignedPoint extends AggregatePoint {
  /** The alignment key (iteration or step). */
  k: number;
}

function toAligned(a: AggCols): AlignedPoint[] {
  const out = new Array<AlignedPoint>(a.length);
  for (let i = 0; i < a.length; i++) out[i] = { k: a.k[i]!, x: a.x[i]!, mean: a.mean[i]!, lo: a.lo[i]!, hi: a.hi[i]!, n: a.n[i]! };
  return out;
}

/**
 * Mean and band over runs aligned on k (the union of k where some run has a value; a run
 * contributes its last value at a k), each point's x the mean of the runs' x at that k (the
 * same as k on the iteration/step axes), sorted by x. The columnar merge of columns.ts.
 */
export function aggregateAligned(runs: readonly (readonly KPoint[])[], band: Band): AlignedPoint[] {
  return toAligned(
    aggregateCols(
      runs.map((r) => dedupeByK(toCols(r))),
      band,
    ),
  );
}

// ---------------------------------------------------------------- configs, fields

const SUMMARY_FIELDS = new Set(['id', 'variant', 'dataset', 'preset', 'seed', 'model', 'groupId', 'status']);

export interface CompareRun {
  summary: RunSummary;
  /** The run's config (getRun(id).config); undefined while not loaded. */
  config?: unknown;
}

/** A field of a run: a summary field (id, variant, dataset, preset, seed, model, …) or a dotted config key. */
export function fieldValue(run: CompareRun, path: string): unknown {
  if (SUMMARY_FIELDS.has(path)) return (run.summary as unknown as Record<string, unknown>)[path];
  return getPath(run.config, path);
}

// ---------------------------------------------------------------- grouping and labels

/** 'none' | 'variant' | 'dataset' | 'variant+dataset' | any other string: a dotted config key. */
export type GroupBy = string;

export const GROUP_BY_PRESETS = ['none', 'variant', 'dataset', 'variant+dataset'] as const;

export function groupKey(run: CompareRun, groupBy: GroupBy): string {
  const by = groupBy.trim();
  if (by === '' || by === 'none') return run.summary.id;
  if (by === 'variant') return run.summary.variant;
  if (by === 'dataset') return run.summary.dataset;
  if (by === 'variant+dataset') return `${run.summary.variant} / ${run.summary.dataset}`;
  return `${by}=${formatValue(fieldValue(run, by))}`;
}

export function defaultTemplate(groupBy: GroupBy): string {
  const by = groupBy.trim();
  if (by === 'variant') return '{variant}';
  if (by === '' || by === 'none') return '{id}';
  if (by === 'dataset') return '{dataset}';
  if (by === 'variant+dataset') return '{variant} / {dataset}';
  return `${by}={${by}}`;
}

/**
 * Fill `{key}` placeholders (summary fields or dotted config keys) from a group's runs: the
 * value when the runs agree, else their distinct values joined by '|'. An empty result
 * (or template) falls back to `fallback`.
 */
export function formatLabel(template: string, runs: readonly CompareRun[], fallback: string): string {
  if (!template.trim()) return fallback;
  const out = template.replace(/\{([^{}]+)\}/g, (_, key: string) => {
    const vals = [...new Set(runs.map((r) => formatValue(fieldValue(r, key.trim()))))];
    return vals.length ? vals.join('|') : '—';
  });
  return out.trim() || fallback;
}

/** Keys of the flattened configs whose values are not all the same ('seed' keys left out). */
export function configDiffKeys(configs: readonly unknown[]): string[] {
  const flats = configs.map((c) => flattenConfig(c));
  const keys = new Set<string>();
  for (const f of flats) for (const k of Object.keys(f)) keys.add(k);
  const out: string[] = [];
  for (const k of keys) {
    if (k === 'seed' || k.endsWith('.seed')) continue;
    const vals = new Set(flats.map((f) => formatValue(f[k])));
    if (vals.size > 1) out.push(k);
  }
  return out.sort();
}

/** "key=value" for each diff key over a group's configs (distinct values joined by '|'). */
export function diffText(keys: readonly string[], configs: readonly unknown[]): string {
  return keys
    .map((k) => {
      const vals = [...new Set(configs.map((c) => formatValue(getPath(c, k))))];
      return `${k}=${vals.join('|')}`;
    })
    .join(', ');
}

// ---------------------------------------------------------------- styles

/** The palette and per-variant styles are the exports' (shared/export/style.ts), so a variant
 * looks the same on screen and in every exported figure. */
export const OKABE_ITO = PALETTE.map((c) => c.hex);
const SVG_DASH: Record<Dash, string | undefined> = {
  solid: undefined,
  dashed: '6 3',
  dotted: '2 2',
  dashdotted: '8 3 2 3',
  'densely dashed': '4 2',
  'densely dotted': '1 1',
};

/** A group's colour, its SVG dash array, and the dash's name (what exports draw). */
export interface GroupStyle {
  color: string;
  dash: string | undefined;
  dashName: Dash;
}

/** The SVG dash array of a named dash. */
export function svgDash(d: Dash): string | undefined {
  return SVG_DASH[d];
}

/** The stable colour and dash of a variant. */
export function variantStyle(variant: string): { color: string; dash: string | undefined } {
  const s = styleForVariant(variant);
  return { color: s.color, dash: SVG_DASH[s.dash] };
}

/**
 * Styles for groups in order: a group of one variant gets that variant's dash, and its
 * colour unless an earlier group took it (then the next free Okabe–Ito colour); a group
 * mixing variants is solid with the next free colour.
 */
export function assignStyles(groups: readonly { key: string; variants: readonly string[] }[]): Map<string, GroupStyle> {
  const used = new Set<string>();
  const out = new Map<string, GroupStyle>();
  let next = 0;
  const free = (): string => {
    for (let i = 0; i < OKABE_ITO.length; i++) {
      const c = OKABE_ITO[(next + i) % OKABE_ITO.length]!;
      if (!used.has(c)) {
        next = (next + i + 1) % OKABE_ITO.length;
        return c;
      }
    }
    const c = OKABE_ITO[next % OKABE_ITO.length]!;
    next += 1;
    return c;
  };
  for (const g of groups) {
    const single = new Set(g.variants).size === 1 ? g.variants[0]! : null;
    const vs = single ? variantStyle(single) : null;
    const color = vs && !used.has(vs.color) ? vs.color : free();
    used.add(color);
    out.set(g.key, { color, dash: vs?.dash, dashName: single ? styleForVariant(single).dash : 'solid' });
  }
  return out;
}

// ---------------------------------------------------------------- groups and table

export { lowerIsBetter };

export interface CompareGroup {
  key: string;
  label: string;
  color: string;
  dash: string | undefined;
  dashName: Dash;
  runs: CompareRun[];
  /** Per run (same order as runs): the raw points in plot space (lazy). */
  runPoints: KPoint[][];
  /** Per run: EMA-smoothed points. */
  runSmoothed: KPoint[][];
  /** Mean and band over the smoothed runs. */
  smoothed: AlignedPoint[];
  /** Mean and band over the raw runs. */
  raw: AlignedPoint[];
  /** The metric this group plots when it is not the view's (per-difficulty curves). */
  metric?: string;
  /** The same data in columns (what the chart draws from; the arrays above are made from it on first use). */
  cols: { runs: Cols[]; runsSmoothed: Cols[]; smoothed: AggCols; raw: AggCols };
}

export interface BuildInput {
  runs: readonly CompareRun[];
  /** getSeriesColumns result: runId → metric → columns. */
  series: Record<string, Record<string, SeriesColumns>>;
  metric: string;
  x: XKind;
  groupBy: GroupBy;
  template: string;
  smoothing: number;
  band: Band;
}

/** The catalogue's variants first, in its order; others after them, by name. */
function variantIndex(variant: string): number {
  const i = (VARIANTS as readonly string[]).indexOf(variant);
  return i >= 0 ? i : VARIANTS.length;
}

function sortGroupKeys(a: { key: string; variants: string[] }, b: { key: string; variants: string[] }): number {
  const va = Math.min(...a.variants.map(variantIndex));
  const vb = Math.min(...b.variants.map(variantIndex));
  return va - vb || a.key.localeCompare(b.key, undefined, { numeric: true });
}

/** Group the runs, map their metric to the x axis, smooth and aggregate. */
export function buildGroups(input: BuildInput): CompareGroup[] {
  const byKey = new Map<string, CompareRun[]>();
  for (const r of input.runs) {
    const k = groupKey(r, input.groupBy);
    let l = byKey.get(k);
    if (!l) byKey.set(k, (l = []));
    l.push(r);
  }
  const order = [...byKey.entries()]
    .map(([key, runs]) => ({ key, runs, variants: runs.map((r) => r.summary.variant) }))
    .sort(sortGroupKeys);
  const styles = assignStyles(order);
  const computeMetric = xComputeMetric(input.x);
  return order.map(({ key, runs }) => {
    const rawRuns = runs.map((r) => mappedCols(input.series[r.summary.id] ?? {}, input.metric, input.x, computeMetric));
    const runsSmoothed = input.smoothing > 0 ? rawRuns.map((c) => emaCols(c, input.smoothing)) : rawRuns;
    const smoothedAgg = aggregateCols(runsSmoothed.map(deduped), input.band);
    const rawAgg = input.smoothing > 0 ? aggregateCols(rawRuns.map(deduped), input.band) : smoothedAgg;
    const st = styles.get(key)!;
    const g = {
      key,
      label: formatLabel(input.template, runs, key),
      color: st.color,
      dash: st.dash,
      dashName: st.dashName,
      runs,
      cols: { runs: rawRuns, runsSmoothed, smoothed: smoothedAgg, raw: rawAgg },
    } as CompareGroup;
    lazy(g, 'runPoints', () => rawRuns.map(fromCols));
    lazy(g, 'runSmoothed', () => (input.smoothing > 0 ? runsSmoothed.map(fromCols) : g.runPoints));
    lazy(g, 'smoothed', () => toAligned(smoothedAgg));
    lazy(g, 'raw', () => (input.smoothing > 0 ? toAligned(rawAgg) : g.smoothed));
    return g;
  });
}

/** A property computed on first read, then kept (copied as a getter by withProps, not evaluated). */
function lazy<T extends object, K extends keyof T>(o: T, name: K, make: () => T[K]): void {
  Object.defineProperty(o, name, {
    configurable: true,
    enumerable: true,
    get(this: T) {
      const v = make();
      Object.defineProperty(this, name, { value: v, enumerable: true, writable: true, configurable: true });
      return v;
    },
  });
}

/** A copy of a group with some properties replaced, its lazy ones left unevaluated. */
function withProps(g: CompareGroup, props: Partial<CompareGroup>): CompareGroup {
  const copy = Object.defineProperties({}, Object.getOwnPropertyDescriptors(g)) as CompareGroup;
  return Object.assign(copy, props);
}

/**
 * A run's metric on the step axis straight from its columns, when they are in step order (as
 * getSeriesColumns returns them): no object per point on the path of the longest curves.
 */
function stepCols(c: SeriesColumns | undefined): Cols | null {
  if (!c) return toCols([]);
  const { step, iteration, t } = c;
  for (let i = 1; i < step.length; i++) {
    const d = step[i - 1]! - step[i]! || iteration[i - 1]! - iteration[i]! || t[i - 1]! - t[i]!;
    if (d > 0) return null;
  }
  return { k: Float64Array.from(step), x: Float64Array.from(step), y: Float64Array.from(c.value), length: step.length };
}

/** A run's metric mapped to the axis, as columns; cached per fetched record (a new fetch, a new record). */
const mappedCache = new WeakMap<object, Map<string, Cols>>();
function mappedCols(s: Record<string, SeriesColumns | undefined>, metric: string, x: XKind, computeMetric: string | null): Cols {
  let m = mappedCache.get(s);
  if (!m) mappedCache.set(s, (m = new Map()));
  const key = `${metric}\u0000${x}`;
  let c = m.get(key);
  if (!c) {
    c =
      (x === 'step' ? stepCols(s[metric]) : null) ??
      toCols(
        mapX(columnsToPoints(s[metric]), x, {
          compute: computeMetric ? columnsToPoints(s[computeMetric]) : undefined,
          t0: x === 'time' ? runStartT(s) : undefined,
        }),
      );
    m.set(key, c);
  }
  return c;
}

const dedupeCache = new WeakMap<Cols, Cols>();
function deduped(c: Cols): Cols {
  let d = dedupeCache.get(c);
  if (!d) dedupeCache.set(c, (d = dedupeByK(c)));
  return d;
}

export interface TableRow {
  key: string;
  label: string;
  color: string;
  n: number;
  /**
   * Why the row is not over its whole group yet, or null: runs still going, or runs whose last
   * evaluation is at different iterations (their "final" values are then from different points).
   */
  partial: string | null;
  /** Mean and sample std over runs of each run's last value. */
  finalMean: number | null;
  finalStd: number | null;
  /** "Best" as shared/stats.ts bestOfMeanCurve defines it: the peak of the mean curve, the std over runs there, its iteration. */
  best: number | null;
  bestStd: number | null;
  bestIteration: number | null;
  diff: string;
}

/**
 * One row per group: n runs, the final value (mean ± std over runs of each run's last
 * per-iteration value), the best of the mean curve by iteration (max, or min for losses)
 * and its iteration, and the config keys that differ between all the selected runs.
 */
export function tableRows(groups: readonly CompareGroup[], series: BuildInput['series'], metric: string): TableRow[] {
  const diffKeys = configDiffKeys(groups.flatMap((g) => g.runs.filter((r) => r.config !== undefined).map((r) => r.config)));
  const lower = lowerIsBetter(metric);
  return groups.map((g) => {
    // per run one value per iteration (mapped once per fetch, like the chart's series)
    const perRun = g.runs.map((r) => deduped(mappedCols(series[r.summary.id] ?? {}, g.metric ?? metric, 'iteration', null)));
    const finals = perRun.map((c) => (c.length ? c.y[c.length - 1]! : NaN)).filter((v) => Number.isFinite(v));
    const going = g.runs.filter((r) => r.summary.status === 'running' || r.summary.status === 'queued').length;
    const lastXs = new Set(perRun.filter((c) => c.length).map((c) => c.x[c.length - 1]!));
    const partial = going
      ? `${going} of ${g.runs.length} still running`
      : lastXs.size > 1
        ? `runs end at different iterations (${[...lastXs].sort((a, b) => a - b).join(', ')})`
        : null;
    // per iteration, the runs' values there (each run's one value per iteration)
    const at = new Map<number, number[]>();
    for (const c of perRun)
      for (let i = 0; i < c.length; i++) {
        const list = at.get(c.x[i]!) ?? [];
        list.push(c.y[i]!);
        at.set(c.x[i]!, list);
      }
    const top = bestOfMeanCurve(
      [...at.entries()].sort((a, b) => a[0] - b[0]).map(([x, values]) => ({ x, values })),
      lower,
      perRun.filter((c) => c.length).length,
    );
    return {
      key: g.key,
      label: g.label,
      color: g.color,
      n: g.runs.length,
      partial,
      finalMean: finals.length ? mean(finals) : null,
      finalStd: finals.length ? sampleStd(finals) : null,
      best: top?.mean ?? null,
      bestStd: top?.std ?? null,
      bestIteration: top?.x ?? null,
      diff: diffText(
        diffKeys,
        g.runs.filter((r) => r.config !== undefined).map((r) => r.config),
      ),
    };
  });
}

/** A data-testid-safe form of a group key. */
export function testIdKey(key: string): string {
  return key.replace(/[^A-Za-z0-9_.=-]+/g, '_');
}

/** Parse '#/compare?group=G&runs=a,b' query parameters from a route path. */
export function parseCompareQuery(path: string): { group: string | null; runs: string[] } {
  const q = path.indexOf('?');
  const params = new URLSearchParams(q >= 0 ? path.slice(q + 1) : '');
  const runs = (params.get('runs') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return { group: params.get('group'), runs };
}

// ---------------------------------------------------------------- per-difficulty curves

/** The per-difficulty variants of a metric that runs logged (e.g. eval/accuracy/digits_3), by difficulty. */
export function difficultyMetrics(metric: string, names: readonly string[]): { metric: string; difficulty: number }[] {
  const re = new RegExp(`^${metric.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/digits_(\\d+)$`);
  return names
    .map((n) => ({ metric: n, m: re.exec(n) }))
    .filter((x): x is { metric: string; m: RegExpExecArray } => !!x.m)
    .map((x) => ({ metric: x.metric, difficulty: Number(x.m[1]) }))
    .sort((a, b) => a.difficulty - b.difficulty);
}

/**
 * One chart of every difficulty: the groups built once per per-difficulty metric, labelled
 * "<group> · <d> digits". With one group the difficulties take the palette's colours; with
 * several, a group keeps its colour and the difficulties take the dashes.
 */
export function perDifficultyGroups(
  input: Omit<BuildInput, 'metric'>,
  metrics: readonly { metric: string; difficulty: number }[],
): CompareGroup[] {
  const per = metrics.map((m) => ({ ...m, groups: buildGroups({ ...input, metric: m.metric }) }));
  const groupKeys = [...new Set(per.flatMap((p) => p.groups.map((g) => g.key)))];
  const out: CompareGroup[] = [];
  per.forEach((p, i) => {
    for (const g of p.groups) {
      const single = groupKeys.length === 1;
      const color = single ? OKABE_ITO[(i + 5) % OKABE_ITO.length]! : g.color;
      const dashName = single ? g.dashName : DASHES[i % DASHES.length]!;
      out.push(
        withProps(g, {
          metric: p.metric,
          key: `${g.key} · ${p.difficulty}`,
          label: `${g.label} · ${p.difficulty} digit${p.difficulty === 1 ? '' : 's'}`,
          color,
          dashName,
          dash: svgDash(dashName),
        }),
      );
    }
  });
  return out;
}

// ---------------------------------------------------------------- export

/** Points a series keeps in an exported figure (vector files stay light; the CSV is what is drawn). */
export const EXPORT_MAX_POINTS = 1000;

function thin<T>(pts: readonly T[], max: number): T[] {
  if (pts.length <= max) return [...pts];
  const step = (pts.length - 1) / (max - 1);
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(pts[Math.round(i * step)]!);
  return out;
}

/** Whether every plotted value lies in [0, 1] (accuracies): the axis then never leaves it. */
export function isUnitInterval(groups: readonly CompareGroup[]): boolean {
  return groups.every((g) =>
    g.cols.runs.every((c) => {
      for (let i = 0; i < c.length; i++) if (Number.isFinite(c.y[i]!) && (c.y[i]! < 0 || c.y[i]! > 1)) return false;
      return true;
    }),
  );
}

/**
 * The compare view's chart as an export Figure: per group the (smoothed) mean with its band
 * where more than one run contributes, the runs when shown, the on-screen colours and dashes,
 * at most EXPORT_MAX_POINTS points per line (evenly spaced, ends kept).
 */
export function compareFigure(
  groups: readonly CompareGroup[],
  o: {
    title: string;
    xLabel: string;
    xKind?: AxisKind;
    yLabel: string;
    yLog: boolean;
    showRuns: boolean;
    /** The chart's zoomed x range: the export shows it as drawn (null: all). */
    xRange?: readonly [number, number] | null;
  },
): Figure {
  // zoomed: the points a line to the range's edges needs (the figure is clipped at xDomain, as the screen is)
  const inRange = <P extends { x: number }>(ps: readonly P[]): P[] => (o.xRange ? pointsAroundRange(ps, o.xRange) : [...ps]);
  const series: FigureSeries[] = groups
    .filter((g) => inRange(g.smoothed).length > 0)
    .map((g) => {
      const points = thin(inRange(g.smoothed), EXPORT_MAX_POINTS).map((p) =>
        p.n > 1 && Number.isFinite(p.lo) && Number.isFinite(p.hi) ? { x: p.x, mean: p.mean, lo: p.lo, hi: p.hi } : { x: p.x, mean: p.mean },
      );
      const runs =
        o.showRuns && g.runs.length > 1
          ? g.runSmoothed.map((r, i) => ({
              id: g.runs[i]!.summary.id,
              points: thin(inRange(r), EXPORT_MAX_POINTS)
                .filter((p) => Number.isFinite(p.y))
                .map((p) => ({ x: p.x, y: p.y })),
            }))
          : undefined;
      return {
        key: g.key,
        label: g.label,
        variant: g.runs[0]?.summary.variant,
        style: { color: g.color, colorName: paletteColor(g.color)?.name ?? 'OIblack', dash: g.dashName },
        points: points.filter((p) => Number.isFinite(p.mean)),
        ...(runs ? { runs } : {}),
      };
    });
  return {
    title: o.title,
    xLabel: o.xLabel,
    ...(o.xKind ? { xKind: o.xKind } : {}),
    ...(o.xRange ? { xDomain: [o.xRange[0], o.xRange[1]] as [number, number] } : {}),
    yLabel: o.yLabel,
    ...(o.yLog ? { yLog: true } : {}),
    // the screen fixes a fraction's axis to [0, 1] (CompareChart): the export is drawn the same
    ...(!o.yLog && isUnitInterval(groups) ? { yBounds: [0, 1] as [number, number], yDomain: [0, 1] as [number, number] } : {}),
    series,
  };
}
