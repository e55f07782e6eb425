/**
 * The compare view's state (one object) <-> its URL (`#/compare?<query>`), so a compare view
 * can be linked, shared and reloaded, as the traces view can (traces-query.ts). Pure.
 *
 * Query keys (all optional; defaults are left out when formatting, in this order):
 *   group     the group the view was opened from (a group id)
 *   runs      the selected run ids in order, comma-separated (the order picks the colours);
 *             absent with a group: the group's runs; `runs=` with a group: none of them
 *   metric    the y metric                                   (default eval/accuracy)
 *   x         iteration | step | examples | tokens | time    (default iteration)
 *   ylog      1 for a log y axis
 *   smooth    EMA smoothing in [0, 0.99], 2 decimals         (default 0)
 *   by        group by: none | variant | dataset | variant+dataset | a dotted config key
 *             (default variant with a group, else none)
 *   band      std | ci95                                     (default std)
 *   showruns  1 to draw each run too
 *   perdiff   1 for one curve per difficulty
 *   label     the label template (absent: the grouping's default)
 *   filter    the run list's filter text
 *   xrange    the zoomed x range, lo,hi (finite, lo < hi; dropped with another x axis)
 *
 * Reading is forgiving and bounded: unknown keys are ignored, a bad value falls back to its
 * default (a bad run id is dropped), strings are length-capped, and nothing is written into
 * an object by a key taken from the URL (so `__proto__=` and the like do nothing).
 */
import type { Band } from '../../shared/stats';
import { X_OPTIONS, type XKind } from './compare';

export interface CompareView {
  /** The group the view was opened from; its runs are the selection while `runs` is null. */
  group: string | null;
  /** The selected run ids, in order; null: the group's runs (only with a group). */
  runs: readonly string[] | null;
  metric: string;
  x: XKind;
  yLog: boolean;
  /** 0 (none) to 0.99. */
  smoothing: number;
  /** 'none' | 'variant' | 'dataset' | 'variant+dataset' | a dotted config key. */
  groupBy: string;
  band: Band;
  showRuns: boolean;
  perDifficulty: boolean;
  /** The label template; null: defaultTemplate(groupBy). */
  template: string | null;
  /** The run list's filter text. */
  filter: string;
  /** The chart's zoomed x range on axis `x`; null: all of it. */
  xRange: readonly [number, number] | null;
}

export const COMPARE_PATH = '/compare';
export const DEFAULT_METRIC = 'eval/accuracy';
/** The service takes at most this many runs per getSeries/metricNames call. */
export const MAX_URL_RUNS = 500;
/** A longer hash is read only up to here (500 ids of 64 characters fit well inside). */
export const MAX_HASH_CHARS = 64_000;
export const MAX_METRIC_CHARS = 200;
export const MAX_GROUP_BY_CHARS = 200;
export const MAX_TEMPLATE_CHARS = 500;
export const MAX_FILTER_CHARS = 200;
export const MAX_SMOOTHING = 0.99;

const ID = /^[A-Za-z0-9_-]{1,64}$/;
// control characters are what this matches: a URL value holding one is refused
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;
const BANDS: readonly Band[] = ['std', 'ci95'];
const X_KINDS: readonly string[] = X_OPTIONS.map((o) => o.id);
const UNSAFE_SEGMENTS = new Set(['__proto__', 'prototype', 'constructor']);

/** The view a bare `#/compare` (no group) or `#/compare?group=<group>` opens with. */
export function defaultCompareView(group: string | null = null): CompareView {
  return {
    group,
    runs: group === null ? [] : null,
    metric: DEFAULT_METRIC,
    x: 'iteration',
    yLog: false,
    smoothing: 0,
    groupBy: group === null ? 'none' : 'variant',
    band: 'std',
    showRuns: false,
    perDifficulty: false,
    template: null,
    filter: '',
    xRange: null,
  };
}

// ---------------------------------------------------------------- reading

function text(v: string | null, max: number): string | null {
  if (v === null || v.length > max || CONTROL.test(v)) return null;
  return v;
}

function bool(v: string | null): boolean | null {
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  return null;
}

function smoothingOf(v: string | null): number | null {
  if (v === null || v.length > 24 || v.trim() === '') return null;
  const n = Number(v);
  if (!Number.isFinite(n)) return null;
  return roundSmoothing(n);
}

/** Clamped to [0, MAX_SMOOTHING], 2 decimals (the slider's step). */
export function roundSmoothing(n: number): number {
  if (!Number.isFinite(n)) return 0;
  return Math.round(Math.min(MAX_SMOOTHING, Math.max(0, n)) * 100) / 100;
}

function groupByOf(v: string | null): string | null {
  const t = text(v, MAX_GROUP_BY_CHARS)?.trim();
  if (!t) return null;
  // a config key walks the run's config by its segments: none of the object plumbing
  if (t.split('.').some((s) => UNSAFE_SEGMENTS.has(s))) return null;
  return t;
}

/**
 * A zoomed range as the view keeps it: both ends on a grid of 1/10,000 of its width, so a range
 * inside a range keeps its shape however deep (a fixed count of significant digits would
 * collapse a narrow range far from 0); null when there is no width to keep.
 */
export function roundRange([lo, hi]: readonly [number, number]): [number, number] | null {
  const w = hi - lo;
  if (!Number.isFinite(w) || !(w > 0)) return null;
  const step = 10 ** (Math.floor(Math.log10(w)) - 4);
  const r = (v: number) => Number((Math.round(v / step) * step).toPrecision(15));
  const a = r(lo);
  const b = r(hi);
  return a < b ? [a, b] : null;
}

function rangeOf(v: string | null): [number, number] | null {
  if (v === null || v.length > 60) return null;
  const parts = v.split(',');
  if (parts.length !== 2 || parts.some((p) => p.trim() === '')) return null;
  const [lo, hi] = parts.map(Number) as [number, number];
  return Number.isFinite(lo) && Number.isFinite(hi) && lo < hi ? [lo, hi] : null;
}

function runsOf(v: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of v.split(',')) {
    const id = raw.trim();
    if (!ID.test(id) || seen.has(id)) continue;
    seen.add(id);
    out.push(id);
    if (out.length >= MAX_URL_RUNS) break;
  }
  return out;
}

/** Whether a location hash is the compare page's (`#/compare`, `#/compare/`, `#/compare?…`). */
export function isCompareHash(hash: string): boolean {
  const path = hash.replace(/^#/, '');
  if (!path.startsWith(COMPARE_PATH)) return false;
  const rest = path.slice(COMPARE_PATH.length);
  return rest === '' || rest === '/' || rest.startsWith('?') || rest.startsWith('/?');
}

/** The view a query string (`?a=b&…` or `a=b&…`) describes; anything unreadable is left at its default. */
export function compareViewFromQuery(query: string): CompareView {
  const q = query.length > MAX_HASH_CHARS ? query.slice(0, MAX_HASH_CHARS) : query;
  const params = new URLSearchParams(q.startsWith('?') ? q.slice(1) : q);
  const get = (k: string): string | null => params.get(k);

  const groupRaw = get('group');
  const group = groupRaw !== null && ID.test(groupRaw) ? groupRaw : null;
  const v = defaultCompareView(group);
  const runs = get('runs');
  if (runs !== null) v.runs = runsOf(runs.length > MAX_URL_RUNS * 70 ? runs.slice(0, MAX_URL_RUNS * 70) : runs);
  else if (group === null) v.runs = [];

  const metric = text(get('metric'), MAX_METRIC_CHARS);
  if (metric && metric.trim()) v.metric = metric;
  const x = get('x');
  if (x !== null && X_KINDS.includes(x)) v.x = x as XKind;
  v.yLog = bool(get('ylog')) ?? v.yLog;
  v.smoothing = smoothingOf(get('smooth')) ?? v.smoothing;
  v.groupBy = groupByOf(get('by')) ?? v.groupBy;
  const band = get('band');
  if (band !== null && (BANDS as readonly string[]).includes(band)) v.band = band as Band;
  v.showRuns = bool(get('showruns')) ?? v.showRuns;
  v.perDifficulty = bool(get('perdiff')) ?? v.perDifficulty;
  const label = text(get('label'), MAX_TEMPLATE_CHARS);
  if (label !== null) v.template = label;
  const filter = text(get('filter'), MAX_FILTER_CHARS);
  if (filter !== null) v.filter = filter;
  v.xRange = rangeOf(get('xrange'));
  return v;
}

/**
 * The view a location hash (`#/compare?…`, with or without the '#') describes: its query
 * read by compareViewFromQuery; the default view for a hash with no query.
 */
export function compareViewFromHash(hash: string): CompareView {
  const h = hash.length > MAX_HASH_CHARS ? hash.slice(0, MAX_HASH_CHARS) : hash;
  const i = h.indexOf('?');
  return compareViewFromQuery(i >= 0 ? h.slice(i + 1) : '');
}

// ---------------------------------------------------------------- writing

/** encodeURIComponent (a lone surrogate, which it throws on, written as U+FFFD), leaving '/' and ',' (legal in a fragment's query) readable. */
function enc(s: string): string {
  const wellFormed = s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  return encodeURIComponent(wellFormed).replace(/%2F/g, '/').replace(/%2C/g, ',');
}

/** The query for a view (`?…`, or '' for the default view), its keys always in the same order. */
export function compareViewToQuery(view: CompareView): string {
  const d = defaultCompareView(view.group);
  const parts: string[] = [];
  const put = (k: string, value: string): void => {
    parts.push(`${k}=${enc(value)}`);
  };
  if (view.group !== null) put('group', view.group);
  if (view.runs !== null && (view.group !== null || view.runs.length > 0)) put('runs', view.runs.slice(0, MAX_URL_RUNS).join(','));
  if (view.metric !== d.metric) put('metric', view.metric);
  if (view.x !== d.x) put('x', view.x);
  if (view.yLog) put('ylog', '1');
  const smoothing = roundSmoothing(view.smoothing);
  if (smoothing !== 0) put('smooth', String(smoothing));
  if (view.groupBy !== d.groupBy) put('by', view.groupBy);
  if (view.band !== d.band) put('band', view.band);
  if (view.showRuns) put('showruns', '1');
  if (view.perDifficulty) put('perdiff', '1');
  if (view.template !== null) put('label', view.template);
  if (view.filter !== '') put('filter', view.filter);
  if (view.xRange) put('xrange', view.xRange.map(String).join(','));
  return parts.length ? `?${parts.join('&')}` : '';
}

/** The location hash of a view: `#/compare?…`. */
export function compareViewToHash(view: CompareView): string {
  return `#${COMPARE_PATH}${compareViewToQuery(view)}`;
}

// ---------------------------------------------------------------- updating

const KEYS: readonly (keyof CompareView)[] = [
  'group',
  'runs',
  'metric',
  'x',
  'yLog',
  'smoothing',
  'groupBy',
  'band',
  'showRuns',
  'perDifficulty',
  'template',
  'filter',
  'xRange',
];

function sameRuns(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === b) return true;
  if (a === null || b === null || a.length !== b.length) return false;
  return a.every((id, i) => id === b[i]);
}

/** Whether two views are the same view (the run lists compared by content). */
export function sameCompareView(a: CompareView, b: CompareView): boolean {
  return KEYS.every((k) =>
    k === 'runs' ? sameRuns(a.runs, b.runs) : k === 'xRange' ? a.xRange?.join() === b.xRange?.join() : a[k] === b[k],
  );
}

/**
 * `view` with `patch` applied, kept consistent: another grouping forgets a typed label template
 * (it belonged to the old grouping) unless the patch sets one; smoothing is clamped and rounded;
 * the run list loses duplicates. Returns `view` itself when nothing changed.
 */
export function updateCompareView(view: CompareView, patch: Partial<CompareView>): CompareView {
  const next: CompareView = { ...view };
  for (const k of KEYS) if (k in patch && patch[k] !== undefined) (next as unknown as Record<string, unknown>)[k] = patch[k];
  if (patch.runs) next.runs = [...new Set(patch.runs)];
  next.smoothing = roundSmoothing(next.smoothing);
  if (next.groupBy !== view.groupBy && !('template' in patch)) next.template = null;
  // a range on one x axis means nothing on another
  if (next.x !== view.x && !('xRange' in patch)) next.xRange = null;
  return sameCompareView(view, next) ? view : next;
}
