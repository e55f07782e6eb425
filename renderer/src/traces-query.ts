/**
 * The traces view's state <-> its URL query (`#/runs/<id>/traces?<query>`), so a view can be
 * linked and survives a reload; the command arguments built from that state; and how the
 * compare panel keys and picks a question's samples. Pure, except RefreshGate (timers), which
 * paces the reloads of a live run's data.
 *
 * Query keys (all optional; defaults are left out when formatting):
 *   filter   newly-solved | forgotten | never-solved | rationalized-only   (default: all)
 *   it       iteration of the trace list                                  (default: every one)
 *   split    train | eval                                                  (default: both)
 *   diff     difficulty (integer)
 *   search   substring of the question or rationale
 *   page     trace list page, 1-based                                      (default 1)
 *   sort     question | first-solved | solved-count | difficulty          (default question)
 *   desc     1 for descending
 *   mpage    solve-matrix page, 1-based                                    (default 1)
 *   q        the question open in the compare panel; qsplit its split
 *   a, b     the two samples compared: "<iteration>" (that iteration's first sample) or
 *            "<iteration>:<kind>[:<n>]" (a further sample there)
 *   vs       a second run to compare against; vsample its sample (same form)
 */
import type { RunSummary, TraceFilter, TraceQuery, TraceRow } from '../../shared/contract';
import { SOLVE_SORTS, type SolveMatrixQuery, type SolveSort } from '../../shared/analysis';

/** TRACE_FILTERS of the contract, repeated here so the renderer does not import zod. */
export const FILTER_OPTIONS = ['all', 'newly-solved', 'forgotten', 'never-solved', 'rationalized-only'] as const;
export type FilterOption = (typeof FILTER_OPTIONS)[number];
// Compile-time check that the two lists agree (a filter added to the contract fails here).
type MissingFilter = Exclude<TraceFilter, FilterOption>;
const _filtersComplete: MissingFilter extends never ? true : never = true;
void _filtersComplete;

export type Split = 'train' | 'eval';

export interface TracesState {
  filter: FilterOption;
  iteration: number | null;
  split: Split | null;
  difficulty: number | null;
  search: string;
  /** Trace list page, 0-based (1-based in the URL). */
  page: number;
  sort: SolveSort;
  descending: boolean;
  /** Solve-matrix page, 0-based (1-based in the URL). */
  mpage: number;
  question: string | null;
  qsplit: Split | null;
  /** Compared samples of this run (sampleKey). */
  a: string | null;
  b: string | null;
  /** Second run and its sample. */
  vs: string | null;
  vsample: string | null;
}

export const DEFAULT_TRACES_STATE: Readonly<TracesState> = Object.freeze({
  filter: 'all',
  iteration: null,
  split: null,
  difficulty: null,
  search: '',
  page: 0,
  sort: 'question',
  descending: false,
  mpage: 0,
  question: null,
  qsplit: null,
  a: null,
  b: null,
  vs: null,
  vsample: null,
});

/** Contract limits (shared/contract.ts getTraces / getSolveMatrix). */
export const MAX_SEARCH = 500;
export const MAX_QUESTION_ID = 200;
const RUN_ID = /^[A-Za-z0-9_-]{1,64}$/;
const SAMPLE_KEY = /^(\d{1,9})(?::([a-z][a-z-]{0,31})(?::(\d{1,4}))?)?$/;

/**
 * The key of a question's sample within a run: "<iteration>" for the iteration's first
 * sample, "<iteration>:<kind>" for a further one, "<iteration>:<kind>:<n>" for the n-th
 * further one of the same kind (n ≥ 2).
 */
export function sampleKey(iteration: number, kind?: string, n = 1): string {
  if (kind === undefined) return String(iteration);
  return n > 1 ? `${iteration}:${kind}:${n}` : `${iteration}:${kind}`;
}

export function parseSampleKey(key: string): { iteration: number; kind: string | null; n: number } | null {
  const m = SAMPLE_KEY.exec(key);
  return m ? { iteration: Number(m[1]), kind: m[2] ?? null, n: m[3] ? Number(m[3]) : 1 } : null;
}

function parseNonNegInt(raw: string): number | null {
  return /^\d{1,9}$/.test(raw) ? Number(raw) : null;
}

/**
 * State from a query string ('?a=1&b=2', 'a=1', or ''). Unknown or malformed values are
 * left at their defaults and each one is reported in `errors` (naming the key and value).
 */
export function parseTracesQuery(query: string): { state: TracesState; errors: string[] } {
  const params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  const s: TracesState = { ...DEFAULT_TRACES_STATE };
  const errors: string[] = [];
  const bad = (key: string, value: string, expected: string): void => {
    errors.push(`${key}=${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)} is not valid (expected ${expected})`);
  };
  const known = new Set([
    'filter',
    'it',
    'split',
    'diff',
    'search',
    'page',
    'sort',
    'desc',
    'mpage',
    'q',
    'qsplit',
    'a',
    'b',
    'vs',
    'vsample',
  ]);
  for (const key of new Set(params.keys())) if (!known.has(key)) errors.push(`unknown query key "${key}"`);

  const get = (key: string): string | null => params.get(key);
  let v: string | null;
  if ((v = get('filter')) !== null) {
    if ((FILTER_OPTIONS as readonly string[]).includes(v)) s.filter = v as FilterOption;
    else bad('filter', v, FILTER_OPTIONS.join(' | '));
  }
  if ((v = get('it')) !== null) {
    const n = parseNonNegInt(v);
    if (n === null) bad('it', v, 'an iteration number ≥ 0');
    else s.iteration = n;
  }
  const parseSplit = (key: string): Split | null => {
    const raw = get(key);
    if (raw === null) return null;
    if (raw === 'train' || raw === 'eval') return raw;
    bad(key, raw, 'train | eval');
    return null;
  };
  s.split = parseSplit('split');
  if ((v = get('diff')) !== null) {
    if (/^-?\d{1,9}$/.test(v)) s.difficulty = Number(v);
    else bad('diff', v, 'an integer difficulty');
  }
  if ((v = get('search')) !== null) {
    if (v.length > MAX_SEARCH) errors.push(`search is longer than ${MAX_SEARCH} characters; cut to ${MAX_SEARCH}`);
    s.search = v.slice(0, MAX_SEARCH);
  }
  const parsePage = (key: string): number => {
    const raw = get(key);
    if (raw === null) return 0;
    const n = parseNonNegInt(raw);
    if (n === null || n < 1) {
      bad(key, raw, 'a page number ≥ 1');
      return 0;
    }
    return n - 1;
  };
  s.page = parsePage('page');
  s.mpage = parsePage('mpage');
  if ((v = get('sort')) !== null) {
    if ((SOLVE_SORTS as readonly string[]).includes(v)) s.sort = v as SolveSort;
    else bad('sort', v, SOLVE_SORTS.join(' | '));
  }
  if ((v = get('desc')) !== null) {
    if (v === '1' || v === '0') s.descending = v === '1';
    else bad('desc', v, '0 | 1');
  }
  if ((v = get('q')) !== null) {
    if (v.length >= 1 && v.length <= MAX_QUESTION_ID) s.question = v;
    else bad('q', v, `a question id of 1–${MAX_QUESTION_ID} characters`);
  }
  s.qsplit = parseSplit('qsplit');
  for (const key of ['a', 'b', 'vsample'] as const) {
    const raw = get(key);
    if (raw === null) continue;
    if (parseSampleKey(raw)) s[key] = raw;
    else bad(key, raw, '"<iteration>" or "<iteration>:<kind>", e.g. 2 or 2:rationalized');
  }
  if ((v = get('vs')) !== null) {
    if (RUN_ID.test(v)) s.vs = v;
    else bad('vs', v, 'a run id');
  }
  // compare settings mean nothing without a question
  if (s.question === null) Object.assign(s, { qsplit: null, a: null, b: null, vsample: null });
  return { state: s, errors };
}

/** The query string of a state ('' when everything is at its default), keys in a fixed order. */
export function formatTracesQuery(s: TracesState): string {
  const p = new URLSearchParams();
  const d = DEFAULT_TRACES_STATE;
  if (s.filter !== d.filter) p.set('filter', s.filter);
  if (s.iteration !== null) p.set('it', String(s.iteration));
  if (s.split !== null) p.set('split', s.split);
  if (s.difficulty !== null) p.set('diff', String(s.difficulty));
  if (s.search) p.set('search', s.search);
  if (s.page > 0) p.set('page', String(s.page + 1));
  if (s.sort !== d.sort) p.set('sort', s.sort);
  if (s.descending) p.set('desc', '1');
  if (s.mpage > 0) p.set('mpage', String(s.mpage + 1));
  if (s.question !== null) {
    p.set('q', s.question);
    if (s.qsplit !== null) p.set('qsplit', s.qsplit);
    if (s.a !== null) p.set('a', s.a);
    if (s.b !== null) p.set('b', s.b);
  }
  if (s.vs !== null) p.set('vs', s.vs);
  if (s.question !== null && s.vsample !== null) p.set('vsample', s.vsample);
  const q = p.toString();
  return q ? `?${q}` : '';
}

/** The hash route of a run's traces view in a state. */
export function tracesHash(runId: string, s: TracesState): string {
  return `#/runs/${runId}/traces${formatTracesQuery(s)}`;
}

/** The query part of a location hash for this run's traces view, or null when the hash is another page. */
export function queryOfHash(hash: string, runId: string): string | null {
  const path = hash.replace(/^#/, '');
  const prefix = `/runs/${runId}/traces`;
  if (!path.startsWith(prefix)) return null;
  const rest = path.slice(prefix.length).replace(/^\//, '');
  if (rest === '') return '';
  return rest.startsWith('?') ? rest : null;
}

const LIST_KEYS = ['filter', 'iteration', 'split', 'difficulty', 'search'] as const;
const COMPARE_KEYS = ['a', 'b', 'vsample'] as const;

/**
 * A state with `patch` applied, keeping it consistent: a changed filter (filter, iteration,
 * split, difficulty, search) sends both lists back to their first page; a changed matrix sort
 * sends the matrix to its first page; another question forgets the chosen samples.
 */
export function updateTracesState(s: TracesState, patch: Partial<TracesState>): TracesState {
  const next: TracesState = { ...s, ...patch };
  if (LIST_KEYS.some((k) => k in patch && patch[k] !== s[k])) {
    if (!('page' in patch)) next.page = 0;
    if (!('mpage' in patch)) next.mpage = 0;
  }
  if ((('sort' in patch && patch.sort !== s.sort) || ('descending' in patch && patch.descending !== s.descending)) && !('mpage' in patch))
    next.mpage = 0;
  if (('question' in patch && patch.question !== s.question) || ('qsplit' in patch && patch.qsplit !== s.qsplit)) {
    for (const k of COMPARE_KEYS) if (!(k in patch)) next[k] = null;
  }
  if ('vs' in patch && patch.vs !== s.vs && !('vsample' in patch)) next.vsample = null;
  if (next.question === null) Object.assign(next, { qsplit: null, a: null, b: null, vsample: null });
  return next;
}

function filterArgs(s: TracesState): { filter?: TraceFilter; split?: Split; difficulty?: number; search?: string } {
  const o: { filter?: TraceFilter; split?: Split; difficulty?: number; search?: string } = {};
  if (s.filter !== 'all') o.filter = s.filter;
  if (s.split !== null) o.split = s.split;
  if (s.difficulty !== null) o.difficulty = s.difficulty;
  const search = s.search.trim();
  if (search) o.search = search.slice(0, MAX_SEARCH);
  return o;
}

/** getTraces arguments for the trace list's current page (no undefined keys: the schemas are strict). */
export function traceArgs(s: TracesState, pageSize: number): TraceQuery {
  const o: TraceQuery = { ...filterArgs(s), limit: pageSize, offset: s.page * pageSize };
  if (s.iteration !== null) o.iteration = s.iteration;
  return o;
}

/** getSolveMatrix arguments for the matrix's current page; same filters as the list, but every iteration. */
export function matrixArgs(s: TracesState, pageSize: number): SolveMatrixQuery {
  const o: SolveMatrixQuery = { ...filterArgs(s), sort: s.sort, limit: pageSize, offset: s.mpage * pageSize };
  if (s.descending) o.descending = true;
  return o;
}

/** Number of pages for `total` rows (at least 1). */
export function pageCount(total: number, pageSize: number): number {
  return Math.max(1, Math.ceil(total / pageSize));
}

/** A 0-based page moved onto the last page when it lies past it (an old link, a shrinking total). */
export function clampPage(page: number, total: number, pageSize: number): number {
  return Math.min(page, pageCount(total, pageSize) - 1);
}

/**
 * Whether a row is the question open in the compare panel. A train and an eval question can
 * share an id, so the split counts too; a selection without a split (qsplit unset) takes both.
 */
export function isSelectedQuestion(question: string | null, qsplit: string | null, row: { questionId: string; split: string }): boolean {
  return question !== null && row.questionId === question && (qsplit === null || row.split === qsplit);
}

/**
 * Paces reloads of data that changes on the server (a live run): `request()` asks for one;
 * it runs once no load is in flight and at least `minGapMs` after the last load started, and
 * requests made meanwhile merge into that one reload (none is dropped: the last change is
 * always loaded). `now()` loads at once (the arguments changed, the user is waiting) and
 * supersedes a load in flight as far as pacing goes; `cancel()` forgets everything pending.
 */
export class RefreshGate {
  private token = 0;
  /** Token of the load in flight, 0 when none. */
  private inFlight = 0;
  private lastStart = -Infinity;
  private pending = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly load: () => Promise<unknown>,
    private readonly minGapMs: number,
  ) {
    if (!(minGapMs >= 0)) throw new RangeError(`RefreshGate: minGapMs must be ≥ 0, got ${minGapMs}`);
  }

  now(): void {
    this.clearTimer();
    this.pending = false;
    this.start();
  }

  request(): void {
    this.pending = true;
    this.schedule();
  }

  cancel(): void {
    this.clearTimer();
    this.pending = false;
    this.inFlight = 0;
  }

  private start(): void {
    const t = ++this.token;
    this.inFlight = t;
    this.lastStart = Date.now();
    const done = (): void => {
      if (this.inFlight !== t) return;
      this.inFlight = 0;
      this.schedule();
    };
    let p: Promise<unknown>;
    try {
      p = this.load();
    } catch (err) {
      p = Promise.reject(err);
    }
    p.then(done, done);
  }

  private schedule(): void {
    if (!this.pending || this.inFlight !== 0 || this.timer !== null) return;
    const wait = Math.max(0, this.lastStart + this.minGapMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.pending = false;
      this.start();
    }, wait);
  }

  private clearTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

// ---------------------------------------------------------------- compare panel

export interface KeyedSample {
  /** sampleKey: "<iteration>" for the iteration's first sample, "<iteration>:<kind>[:<n>]" for further ones. */
  key: string;
  row: TraceRow;
}

/**
 * The question's samples in the service's order (iteration, then as stored: a direct attempt
 * before its rationalization), each with its key. Selecting an iteration number selects the
 * first sample there.
 */
export function keySamples(rows: readonly TraceRow[]): KeyedSample[] {
  const sorted = [...rows].sort((x, y) => x.iteration - y.iteration || x.id - y.id);
  const seen = new Map<string, number>();
  return sorted.map((row, i) => {
    if (i === 0 || sorted[i - 1]!.iteration !== row.iteration) return { key: sampleKey(row.iteration), row };
    const k = `${row.iteration}:${row.kind}`;
    const n = (seen.get(k) ?? 0) + 1;
    seen.set(k, n);
    return { key: sampleKey(row.iteration, row.kind, n), row };
  });
}

/**
 * Default second-run sample against this run's B: the last sample at B's iteration (its
 * final word there), else the run's last sample.
 */
export function defaultOtherSample(other: readonly KeyedSample[], b: KeyedSample | undefined): KeyedSample | undefined {
  const same = b ? other.filter((s) => s.row.iteration === b.row.iteration) : [];
  return same[same.length - 1] ?? other[other.length - 1];
}

/** Other runs for the picker: same dataset first (a different variant before the same one), newest first. */
export function rankCompareRuns(runs: readonly RunSummary[], self: RunSummary | undefined, selfId: string): RunSummary[] {
  const score = (r: RunSummary): number => (self && r.dataset === self.dataset ? 0 : 2) + (self && r.variant === self.variant ? 1 : 0);
  return runs.filter((r) => r.id !== selfId).sort((x, y) => score(x) - score(y) || y.createdAt - x.createdAt);
}
