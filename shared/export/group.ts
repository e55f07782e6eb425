/**
 * A group's (ablation's) paper export: per dataset a figure of held-out accuracy by
 * iteration (mean ± sample std over seeds per variant), and a table of final / best accuracy.
 * Pure over the service's read API (getGroup, getSeries, getRun), so any host can call it.
 */
import type { GroupDetail, MetricPoint, RunDetail, RunStatus } from '../contract';
import { lowerIsBetter, metricLabel } from '../catalogue';
import { bestOfMeanCurve } from '../stats';
import { mean, sampleStd, type Figure, type FigureSeries, type Table, type TableRow } from './model';

export const EXPORT_METRIC = 'eval/accuracy';

/** A metric's label from experiments/starlab/catalogue.json (eval/accuracy: "held-out accuracy"), else its name. */
export function labelOf(metric: string): string {
  return metricLabel(metric) ?? metric;
}

const capitalized = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/** A metric's label as an axis title: "Held-out accuracy". */
export const axisLabelOf = (metric: string): string => capitalized(labelOf(metric));

/** A group export's texts: `title` is a template, `{dataset}` standing for each figure's dataset. */
export interface GroupLabels {
  title: string;
  xLabel: string;
  yLabel: string;
}

/** The texts a group export gets unless the user edits them: "gsm8k: held-out accuracy", "Iteration", "Held-out accuracy". */
export function defaultGroupLabels(metric: string = EXPORT_METRIC): GroupLabels {
  const isDefault = metric === EXPORT_METRIC;
  return {
    title: `{dataset}: ${isDefault ? labelOf(metric) : metric}`,
    xLabel: 'Iteration',
    yLabel: isDefault ? axisLabelOf(metric) : metric,
  };
}

/** A title template filled in for one dataset. */
export const titleFor = (template: string, dataset: string): string => template.replaceAll('{dataset}', dataset);

export interface GroupExportSource {
  getGroup(id: string): GroupDetail | null;
  getSeries(ids: string[], names: string[]): Record<string, Record<string, MetricPoint[]>>;
  getRun(id: string): RunDetail | null;
}

/** One run's data for aggregation. */
export interface RunPoints {
  id: string;
  /** The series it belongs to: the variant, plus swept values when the group has a grid. */
  variant: string;
  dataset: string;
  seed: number;
  points: { iteration: number; value: number }[];
}

export interface GroupExport {
  groupId: string;
  groupName: string;
  metric: string;
  /** One figure per dataset, in the group's dataset order. */
  figures: { dataset: string; figure: Figure }[];
  table: Table;
  /** Runs left out: not completed, or no evaluation logged. */
  skipped: { id: string; status: RunStatus; reason: string }[];
}

/** The value at a dotted path of a config object (as text), or undefined. */
function atPath(obj: unknown, path: string): string | undefined {
  let cur: unknown = obj;
  for (const k of path.split('.')) {
    if (cur == null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[k];
  }
  return cur === undefined ? undefined : typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

/** One point per iteration (the last logged wins, e.g. after a resume), sorted by iteration. */
export function byIteration(points: MetricPoint[]): { iteration: number; value: number }[] {
  const m = new Map<number, MetricPoint>();
  for (const p of points) {
    const prev = m.get(p.iteration);
    if (!prev || p.step > prev.step || (p.step === prev.step && p.t >= prev.t)) m.set(p.iteration, p);
  }
  return [...m.values()].sort((a, b) => a.iteration - b.iteration).map((p) => ({ iteration: p.iteration, value: p.value }));
}

/** Aggregate runs into per-dataset figures (x = iteration) and the final/best table. Pure. */
export function aggregateRuns(
  runs: RunPoints[],
  o: { datasets?: string[]; variants?: string[]; labels?: Partial<GroupLabels>; metric?: string } = {},
): { figures: { dataset: string; figure: Figure }[]; table: Table } {
  const datasets = unique([...(o.datasets ?? []), ...runs.map((r) => r.dataset)]).filter((d) => runs.some((r) => r.dataset === d));
  const variantOrder = unique([...(o.variants ?? []), ...runs.map((r) => r.variant)]);
  const rows: TableRow[] = [];
  const figures: { dataset: string; figure: Figure }[] = [];
  const labels: GroupLabels = { ...defaultGroupLabels(o.metric), ...o.labels };
  for (const dataset of datasets) {
    const series: FigureSeries[] = [];
    for (const variant of variantOrder) {
      const rs = runs.filter((r) => r.dataset === dataset && r.variant === variant && r.points.length);
      if (!rs.length) continue;
      const xs = unique(rs.flatMap((r) => r.points.map((p) => p.iteration))).sort((a, b) => a - b);
      const atX = xs.map((x) => ({ x, values: rs.flatMap((r) => r.points.filter((p) => p.iteration === x).map((p) => p.value)) }));
      const points = atX.map(({ x, values }) => {
        const m = mean(values);
        const s = sampleStd(values);
        return s == null ? { x, mean: m } : { x, mean: m, lo: m - s, hi: m + s };
      });
      const base = variant.split(' ')[0]!;
      series.push({
        key: variant,
        label: variant,
        variant: base,
        points,
        runs: rs.map((r) => ({ id: r.id, points: r.points.map((p) => ({ x: p.iteration, y: p.value })) })),
      });
      const finals = rs.map((r) => r.points[r.points.length - 1]!.value);
      // every run has its last evaluation (completed runs): the last iteration at least is common to all
      const best =
        bestOfMeanCurve(atX, lowerIsBetter(o.metric ?? EXPORT_METRIC), rs.length) ??
        bestOfMeanCurve(atX, lowerIsBetter(o.metric ?? EXPORT_METRIC))!;
      rows.push({
        variant,
        dataset,
        n: rs.length,
        finalMean: mean(finals),
        finalStd: sampleStd(finals),
        bestMean: best.mean,
        bestStd: best.std,
        bestIteration: best.x,
      });
    }
    // a variant keeps its fixed style unless two series share it (swept values): then style by the full key
    const bases = series.map((x) => x.variant!);
    for (const x of series) if (bases.filter((b) => b === x.variant).length > 1) x.variant = x.key;
    figures.push({
      dataset,
      figure: {
        title: titleFor(labels.title, dataset),
        xLabel: labels.xLabel,
        xKind: 'count',
        yLabel: labels.yLabel,
        series,
      },
    });
  }
  return { figures, table: { metric: o.metric ?? EXPORT_METRIC, rows } };
}

/**
 * The export of a group: its completed runs' eval/accuracy by iteration, aggregated per
 * (variant [+ swept values], dataset) over seeds. Runs that are not completed or logged no
 * evaluation are listed in `skipped`. Throws when the group does not exist.
 */
export function buildGroupExport(
  service: GroupExportSource,
  groupId: string,
  o: { metric?: string; labels?: Partial<GroupLabels> } = {},
): GroupExport {
  const metric = o.metric ?? EXPORT_METRIC;
  const g = service.getGroup(groupId);
  if (!g) throw new Error(`no group "${groupId}"`);
  const spec = (g.spec ?? {}) as { variants?: unknown; datasets?: unknown; grid?: unknown };
  const gridKeys = spec.grid && typeof spec.grid === 'object' ? Object.keys(spec.grid as object) : [];
  const skipped: GroupExport['skipped'] = [];
  const done = g.runs.filter((r) => {
    if (r.status !== 'completed') skipped.push({ id: r.id, status: r.status, reason: `run is ${r.status}` });
    return r.status === 'completed';
  });
  const series = service.getSeries(
    done.map((r) => r.id),
    [metric],
  );
  const runs: RunPoints[] = [];
  for (const r of done) {
    const pts = byIteration(series[r.id]?.[metric] ?? []);
    if (!pts.length) {
      skipped.push({ id: r.id, status: r.status, reason: `no ${metric} logged` });
      continue;
    }
    let variant = r.variant;
    if (gridKeys.length) {
      const config = service.getRun(r.id)?.config;
      variant += ` (${gridKeys.map((k) => `${k}=${atPath(config, k) ?? '?'}`).join(', ')})`;
    }
    runs.push({ id: r.id, variant, dataset: r.dataset, seed: r.seed, points: pts });
  }
  const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
  const agg = aggregateRuns(runs, {
    datasets: strings(spec.datasets),
    variants: gridKeys.length ? [] : strings(spec.variants),
    metric,
    ...(o.labels ? { labels: o.labels } : {}),
  });
  // fractions (accuracies) never plot outside [0, 1], however wide a band is
  const fractions = runs.every((r) => r.points.every((p) => p.value >= 0 && p.value <= 1));
  if (fractions && runs.length) for (const f of agg.figures) f.figure.yBounds = [0, 1];
  return { groupId: g.id, groupName: g.name, metric, ...agg, skipped };
}

function unique<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}
