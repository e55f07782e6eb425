/**
 * The data a paper export is generated from: figures (mean ± band per series, optionally
 * the individual runs) and tables (final / best metric per variant × dataset over seeds).
 * Everything in shared/export/ is a pure text generator over these shapes.
 */
import { niceTicks, type AxisKind } from '../ticks';

export interface FigurePoint {
  x: number;
  mean: number;
  /** Lower / upper edge of the band (e.g. mean ± sample std over seeds); absent: no band here. */
  lo?: number;
  hi?: number;
}

import type { SeriesStyle } from './style';

export interface FigureRun {
  id: string;
  points: { x: number; y: number }[];
}

export interface FigureSeries {
  /** Stable identifier (unique within the figure). */
  key: string;
  /** Legend text. */
  label: string;
  /** Experiment variant (picks the colour + dash); falls back to key. */
  variant?: string;
  points: FigurePoint[];
  /** An explicit colour + dash (default: the variant's fixed style). */
  style?: SeriesStyle;
  /** The individual runs behind the mean (drawn thin, exported as their own CSV rows). */
  runs?: FigureRun[];
}

/**
 * The fill opacity of each band when `bands` are drawn: 0.15 for up to three, less beyond, so
 * that where many overlap (per-difficulty curves) the colours still read instead of stacking to
 * grey: k overlapping bands cover 1 − (1 − a)^k, about 0.37 for ten. The screen and every export.
 */
export function bandOpacity(bands: number): number {
  return Math.min(0.15, 0.45 / Math.max(1, bands));
}

/** The band opacity of a figure: by how many of its series have a band somewhere. */
export function figureBandOpacity(figure: Pick<Figure, 'series'>): number {
  return bandOpacity(figure.series.filter((s) => s.points.some((p) => p.lo !== undefined && p.hi !== undefined)).length);
}

export interface Figure {
  title: string;
  xLabel: string;
  /** What the x axis counts: its ticks then read as on screen (400k, 12 min); plain 1-2-5 steps when absent. */
  xKind?: AxisKind;
  /** The x axis's range, fixed (a zoomed chart exported as drawn): what lies outside is clipped. */
  xDomain?: [number, number];
  yLabel: string;
  yLog?: boolean;
  /** Hard limits of the y axis (e.g. [0, 1] for accuracies): the axis follows the data inside them, and what lies outside (a band's edge) is clipped. */
  yBounds?: [number, number];
  /**
   * The y axis's range, fixed (linear axes only): an export "as drawn" of a chart whose axis the
   * screen fixed (accuracies on [0, 1]) has that axis, not one that follows the data.
   */
  yDomain?: [number, number];
  series: FigureSeries[];
}

/** One (variant, dataset) cell of a results table, aggregated over n seeds. */
export interface TableRow {
  variant: string;
  dataset: string;
  /** Number of runs (seeds) aggregated. */
  n: number;
  /** Mean / sample std (n − 1) over runs of each run's last evaluation; std is null when n < 2. */
  finalMean: number;
  finalStd: number | null;
  /** "Best" (shared/stats.ts bestOfMeanCurve): the peak of the mean curve over runs, the sample std there, and its iteration. */
  bestMean: number;
  bestStd: number | null;
  bestIteration?: number;
}

export interface Table {
  /** Metric the values come from (e.g. eval/accuracy). */
  metric?: string;
  rows: TableRow[];
}

export interface ExportPreset {
  widthIn: number;
  heightIn: number;
  fontPt: number;
  fontFamily: 'serif' | 'sans-serif';
}

export type PresetName = 'single-column' | 'double-column';

export const EXPORT_PRESETS: Record<PresetName, ExportPreset> = {
  'single-column': { widthIn: 3.25, heightIn: 2.2, fontPt: 8, fontFamily: 'serif' },
  'double-column': { widthIn: 6.75, heightIn: 2.6, fontPt: 9, fontFamily: 'serif' },
};

export function isPresetName(s: string): s is PresetName {
  return Object.prototype.hasOwnProperty.call(EXPORT_PRESETS, s);
}

/** A preset by name or value (default single-column). */
export function resolvePreset(p: PresetName | ExportPreset | undefined): ExportPreset {
  if (p === undefined) return EXPORT_PRESETS['single-column'];
  return typeof p === 'string' ? EXPORT_PRESETS[p] : p;
}

/**
 * The y limits a plot must set: figure.yDomain when the axis is fixed; else, so data outside
 * figure.yBounds is clipped, a bound only where the data (means, bands, runs) crosses it.
 */
export function yLimits(figure: Figure): { min?: number; max?: number } {
  if (figure.yDomain && !figure.yLog) return { min: figure.yDomain[0], max: figure.yDomain[1] };
  if (!figure.yBounds || figure.yLog) return {};
  let lo = Infinity;
  let hi = -Infinity;
  const add = (v: number | undefined) => {
    if (v !== undefined && Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  };
  for (const s of figure.series) {
    for (const p of s.points) {
      add(p.mean);
      add(p.lo);
      add(p.hi);
    }
    for (const r of s.runs ?? []) for (const p of r.points) add(p.y);
  }
  const [b0, b1] = figure.yBounds;
  return { ...(lo < b0 ? { min: b0 } : {}), ...(hi > b1 ? { max: b1 } : {}) };
}

/** Arithmetic mean (NaN for no values). */
export function mean(xs: number[]): number {
  if (!xs.length) return NaN;
  let s = 0;
  for (const x of xs) s += x;
  return s / xs.length;
}

/** Sample standard deviation (n − 1); null for fewer than 2 values. */
export function sampleStd(xs: number[]): number | null {
  if (xs.length < 2) return null;
  const m = mean(xs);
  let s = 0;
  for (const x of xs) s += (x - m) ** 2;
  return Math.sqrt(s / (xs.length - 1));
}

/**
 * The x ticks and labels of a figure whose axis has a kind (figure.xKind), over the x its
 * points span, for the generators that write ticks out (pgfplots, matplotlib); null without
 * a kind (they then tick as their tool does).
 */
export function xTicksOf(figure: Figure, target = 6): { ticks: number[]; labels: string[] } | null {
  if (!figure.xKind) return null;
  if (figure.xDomain && figure.xDomain[1] > figure.xDomain[0]) {
    const t = niceTicks(figure.xKind, figure.xDomain[0], figure.xDomain[1], target);
    return { ticks: t.ticks, labels: t.ticks.map(t.format) };
  }
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of figure.series) {
    for (const p of s.points) if (Number.isFinite(p.x)) [lo, hi] = [Math.min(lo, p.x), Math.max(hi, p.x)];
    for (const r of s.runs ?? []) for (const p of r.points) if (Number.isFinite(p.x)) [lo, hi] = [Math.min(lo, p.x), Math.max(hi, p.x)];
  }
  if (!(lo <= hi)) return null;
  const t = niceTicks(figure.xKind, lo, hi, target);
  return { ticks: t.ticks, labels: t.ticks.map(t.format) };
}
