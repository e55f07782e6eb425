/**
 * One comparison of `npm run bench:science`: an ablation run through the lab's own CLI
 * (`starlab ablate … --wait`), then one or more findings read from its runs' stored metrics.
 *
 * A comparison names the runs (variants × seeds, `--set` overrides for all of them and `--sweep`
 * values multiplied in, exactly as a user would type them); each finding turns the runs of one
 * seed into one effect (a number, positive when the paper's finding holds for that seed). The
 * bench reports mean ± std over seeds and says a finding holds when the effect is positive in
 * every seed — a sign test the reader can check in the per-seed column, not a p-value.
 */
import { axisLabelOf, EXPORT_METRIC } from '../../shared/export/group';
import { mean, sampleStd, type Figure } from '../../shared/export/model';
import { DASHES, OKABE_ITO, type SeriesStyle } from '../../shared/export/style';

/** What `starlab show RUN --json` prints, as far as the findings read it. */
export interface ShownRun {
  id: string;
  variant: string;
  dataset: string;
  seed: number;
  status: string;
  statusReason: string | null;
  durationS: number | null;
  config: Record<string, unknown>;
  metrics: Record<string, { iteration: number; step?: number; value: number }[]>;
}

/** The runs of one seed, keyed by `runKey` (the variant, plus `k=v` of each swept key). */
export type SeedRuns = Record<string, ShownRun>;

export interface Finding {
  /** Short id, e.g. `star-rationalization`. */
  id: string;
  /** The paper's claim as the table prints it. */
  finding: string;
  /** What the effect measures, with its unit (e.g. "star − star-norat, final eval/accuracy, pts"). */
  effect: string;
  /** The effect for one seed: positive when the finding holds for that seed. */
  measure(runs: SeedRuns): number;
}

export interface Comparison {
  id: string;
  /** The paper section or figure the comparison reproduces. */
  source: string;
  variants: string[];
  dataset: string;
  preset: 'tiny';
  /** `key=value` overrides for every run (as `starlab ablate --set`). */
  set: string[];
  /** `key=v1,v2` swept keys (as `starlab ablate --sweep`); each value becomes its own run per seed. */
  sweep: string[];
  /**
   * When not every combination of the sweep is needed: several ablations (one group each), each
   * its own `--sweep` list over the same keys as `sweep`, in the same order (default: [sweep]).
   */
  arms?: string[][];
  findings: Finding[];
  /** Metrics exported as group figures (mean ± std band over seeds by iteration) besides eval/accuracy. */
  figureMetrics?: string[];
  /** Figures the group export cannot draw (e.g. a curve over k), built from every seed's runs. */
  figures?(seeds: SeedRuns[]): { name: string; figure: Figure }[];
}

/** The key a run is filed under in SeedRuns: its variant, then `key=value` of each swept key, in sweep order. */
export function runKey(run: { variant: string; config: Record<string, unknown> }, sweep: string[]): string {
  const parts = [run.variant];
  for (const s of sweep) {
    const key = s.slice(0, s.indexOf('='));
    parts.push(`${key}=${String(configValue(run.config, key))}`);
  }
  return parts.join(' ');
}

/** A dotted config key's value (`quiet.thought_len`), or undefined. */
export function configValue(config: Record<string, unknown>, dotted: string): unknown {
  let v: unknown = config;
  for (const k of dotted.split('.')) v = v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

/** The last logged value of a metric (the final evaluation), or throws naming the run and metric. */
export function final(run: ShownRun, metric: string): number {
  const pts = run.metrics[metric];
  const v = pts?.[pts.length - 1]?.value;
  if (v === undefined || !Number.isFinite(v)) throw new Error(`run ${run.id} (${run.variant}) logged no "${metric}"`);
  return v;
}

/** The first logged value of a metric (iteration 0, before any training of the method), or throws. */
export function initial(run: ShownRun, metric: string): number {
  const v = run.metrics[metric]?.[0]?.value;
  if (v === undefined || !Number.isFinite(v)) throw new Error(`run ${run.id} (${run.variant}) logged no "${metric}"`);
  return v;
}

/** The run filed under `key`, or throws listing the keys there are. */
export function pick(runs: SeedRuns, key: string): ShownRun {
  const r = runs[key];
  if (!r) throw new Error(`no run "${key}" (have: ${Object.keys(runs).join(', ')})`);
  return r;
}

/** The metric's value at the last iteration for k = 1..kMax where logged (`${prefix}@${k}`), as [k, value] pairs. */
export function overK(run: ShownRun, prefix: string, kMax: number): [number, number][] {
  const out: [number, number][] = [];
  for (let k = 1; k <= kMax; k++) {
    const pts = run.metrics[`${prefix}@${k}`];
    const v = pts?.[pts.length - 1]?.value;
    if (v !== undefined && Number.isFinite(v)) out.push([k, v]);
  }
  return out;
}

/** Mean ± sample std over the seeds' effects; holds = a finite effect > 0 in every seed (a seed whose effect could not be measured fails it). */
export function summarise(values: (number | null)[]): { effect: number | null; std: number | null; holds: boolean } {
  const ok = values.filter((v): v is number => v !== null && Number.isFinite(v));
  return {
    effect: ok.length ? mean(ok) : null,
    std: sampleStd(ok),
    holds: ok.length > 0 && ok.length === values.length && ok.every((v) => v > 0),
  };
}

/**
 * A figure of metrics over k at the final iteration (e.g. V-STaR's Best-of-k by each scorer):
 * per series the mean ± sample std over seeds of `${prefix}@k`, with each seed's curve.
 */
export function overKFigure(
  seeds: SeedRuns[],
  key: string,
  series: { prefix: string; label: string }[],
  o: { title: string; kMax: number; withRuns?: boolean },
): Figure {
  return {
    title: o.title,
    xLabel: 'k (candidates per question)',
    yLabel: axisLabelOf(EXPORT_METRIC),
    yBounds: [0, 1],
    series: series.map((s, i) => {
      const runs = seeds.flatMap((r) => (r[key] ? [{ id: r[key].id, curve: overK(r[key], s.prefix, o.kMax) }] : []));
      const ks = [...new Set(runs.flatMap((r) => r.curve.map(([k]) => k)))].sort((a, b) => a - b);
      return {
        key: s.prefix,
        label: s.label,
        style: seriesStyle(i),
        points: ks.map((k) => {
          const vals = runs.flatMap((r) => r.curve.filter(([kk]) => kk === k).map(([, v]) => v));
          const m = mean(vals);
          const sd = sampleStd(vals);
          return sd === null ? { x: k, mean: m } : { x: k, mean: m, lo: m - sd, hi: m + sd };
        }),
        // each seed's curve stays in the CSV (runs are drawn only where a figure asks: five bands are enough here)
        ...(o.withRuns ? { runs: runs.map((r) => ({ id: r.id, points: r.curve.map(([x, y]) => ({ x, y })) })) } : {}),
      };
    }),
  };
}

/**
 * A figure of one metric by iteration for the runs filed under `series` keys: mean ± sample std
 * over seeds, with each seed's curve (for comparisons whose runs span several groups).
 */
export function byIterationFigure(
  seeds: SeedRuns[],
  metric: string,
  series: { key: string; label: string }[],
  o: { title: string; yLabel: string },
): Figure {
  return {
    title: o.title,
    xLabel: 'Iteration',
    yLabel: o.yLabel,
    yBounds: [0, 1],
    series: series.map((s, i) => {
      const runs = seeds.flatMap((r) => {
        const run = r[s.key];
        return run ? [run] : [];
      });
      const curves = runs.map((r) => ({ id: r.id, points: (r.metrics[metric] ?? []).map((p) => ({ x: p.iteration, y: p.value })) }));
      const xs = [...new Set(curves.flatMap((c) => c.points.map((p) => p.x)))].sort((a, b) => a - b);
      return {
        key: s.key,
        label: s.label,
        style: seriesStyle(i),
        points: xs.map((x) => {
          const vals = curves.flatMap((c) => c.points.filter((p) => p.x === x).map((p) => p.y));
          const m = mean(vals);
          const sd = sampleStd(vals);
          return sd === null ? { x, mean: m } : { x, mean: m, lo: m - sd, hi: m + sd };
        }),
        runs: curves,
      };
    }),
  };
}

/** The i-th series' style in a comparison's own figure: distinct colour-blind-safe colours (yellow, faint on white, never), then dashes. */
export function seriesStyle(i: number): SeriesStyle {
  const order = ['OIblue', 'OIvermillion', 'OIbluishgreen', 'OIreddishpurple', 'OIorange', 'OIskyblue', 'OIblack'];
  const c = OKABE_ITO.find((x) => x.name === order[i % order.length])!;
  return { color: c.hex, colorName: c.name, dash: DASHES[i % DASHES.length]! };
}
