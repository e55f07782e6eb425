/**
 * Finding runs in a list (the runs table, the compare sidebar): a query of words, each of which
 * must appear in the run's name, id, variant, dataset, preset, model, status, group name, tags
 * or notes; `tag:T` matches a tag exactly, and ranges compare a value: `acc>0.5` (or `acc>=50%`),
 * `seed<3`, `iteration>=2`, `created>=2026-12-01` (a day, in local time); a chosen column
 * (a config key or a metric's final value) filters the same way by its key: `loop.lr<3e-4`,
 * `eval/accuracy>=0.3`, `model.name=gpt2`. And the runs table's sort. Pure.
 */
import type { RunColumnValue, RunSummary } from '../../shared/contract';
import { runName } from '../../shared/run-name';

/** The runs table's chosen columns ('config:loop.lr', 'metric:eval/accuracy') and a run's value in one. */
export interface ChosenColumns {
  columns: readonly string[];
  value: (r: RunSummary, column: string) => RunColumnValue;
}

export function runMatches(r: RunSummary, query: string, groupName?: string | null, chosen?: ChosenColumns): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (!words.length) return true;
  const tags = r.tags.map((t) => t.toLowerCase());
  const hay = [
    runName(r),
    r.id,
    r.variant,
    r.dataset,
    r.preset,
    r.model,
    r.status,
    r.groupId ?? '',
    groupName ?? '',
    ...r.tags,
    r.notes ?? '',
  ]
    .join('\n')
    .toLowerCase();
  return words.every((w) => {
    if (w.startsWith('tag:')) return tags.includes(w.slice(4));
    return (chosen && columnMatches(r, w, chosen)) ?? rangeMatches(r, w) ?? hay.includes(w);
  });
}

const COLUMN_FILTER = /^(.+?)(>=|<=|>|<|=)(.*)$/;

/**
 * Whether the run's value in a chosen column passes a word such as `loop.lr<3e-4` (the key as
 * the column shows it, any case); null when the word names no chosen column. Numbers compare as
 * numbers; text and booleans match `=` only (any case); a run without the value never passes.
 */
export function columnMatches(r: RunSummary, word: string, chosen: ChosenColumns): boolean | null {
  const m = COLUMN_FILTER.exec(word);
  if (!m) return null;
  const [, key, op, raw] = m as unknown as [string, string, string, string];
  const column = chosen.columns.find((c) => c.slice(c.indexOf(':') + 1).toLowerCase() === key);
  if (!column || raw === '') return null;
  const have = chosen.value(r, column);
  if (have === null || have === undefined) return false;
  const want = Number(raw);
  if (typeof have === 'number' && Number.isFinite(want))
    return { '>': have > want, '>=': have >= want, '<': have < want, '<=': have <= want, '=': have === want }[op]!;
  return op === '=' && String(have).toLowerCase() === raw;
}

const RANGE = /^(acc|accuracy|seed|iteration|created)(>=|<=|>|<|=)(.+)$/;

/** Whether the run is in the range a word such as `acc>0.5` names; null when the word is not a range. */
export function rangeMatches(r: RunSummary, word: string): boolean | null {
  const m = RANGE.exec(word);
  if (!m) return null;
  const [, field, op, raw] = m as unknown as [string, string, string, string];
  if (field === 'created') {
    const d = /^(\d{4})-(\d{2})-(\d{2})$/.exec(raw);
    if (!d) return null;
    const [y, m, dd] = [Number(d[1]), Number(d[2]) - 1, Number(d[3])];
    const start = new Date(y, m, dd);
    if (start.getFullYear() !== y || start.getMonth() !== m || start.getDate() !== dd) return null; // 2026-02-30
    // a day is a range, local midnight to local midnight (23 or 25 hours on a clock change)
    const day = start.getTime() / 1000;
    const next = new Date(y, m, dd + 1).getTime() / 1000;
    const t = r.createdAt;
    return { '>': t >= next, '>=': t >= day, '<': t < day, '<=': t < next, '=': t >= day && t < next }[op]!;
  }
  const want = raw.endsWith('%') && field.startsWith('acc') ? Number(raw.slice(0, -1)) / 100 : Number(raw);
  if (raw.trim() === '' || !Number.isFinite(want)) return null;
  const have = field === 'seed' ? r.seed : field === 'iteration' ? r.currentIteration : r.latestAccuracy;
  if (have === null) return false;
  return { '>': have > want, '>=': have >= want, '<': have < want, '<=': have <= want, '=': have === want }[op]!;
}

export const SORT_KEYS = ['name', 'status', 'variant', 'dataset', 'seed', 'accuracy', 'duration', 'created'] as const;
/** A fixed column, or a chosen one ('config:loop.lr', 'metric:eval/accuracy'). */
export type SortKey = (typeof SORT_KEYS)[number] | `config:${string}` | `metric:${string}`;
export interface RunSort {
  key: SortKey;
  dir: 'asc' | 'desc';
}
export const DEFAULT_SORT: RunSort = { key: 'created', dir: 'desc' };

/** The runs in the order asked for; runs without the value (no accuracy yet) last either way, ties newest first. */
export function sortRuns(
  runs: readonly RunSummary[],
  sort: RunSort,
  durationMs: (r: RunSummary) => number | null,
  columnValue: (r: RunSummary, column: string) => RunColumnValue = () => null,
): RunSummary[] {
  const value = (r: RunSummary): string | number | null => {
    switch (sort.key) {
      case 'name':
        return runName(r).toLowerCase();
      case 'status':
        return r.status;
      case 'variant':
        return r.variant;
      case 'dataset':
        return r.dataset;
      case 'seed':
        return r.seed;
      case 'accuracy':
        return r.latestAccuracy;
      case 'duration':
        return durationMs(r);
      case 'created':
        return r.createdAt;
      default: {
        const v = columnValue(r, sort.key);
        return typeof v === 'boolean' ? Number(v) : v;
      }
    }
  };
  const sign = sort.dir === 'asc' ? 1 : -1;
  return runs
    .map((r) => ({ r, v: value(r) }))
    .sort((a, b) => {
      if (a.v === null || b.v === null) return a.v === b.v ? b.r.createdAt - a.r.createdAt : a.v === null ? 1 : -1;
      const c = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v));
      return c !== 0 ? sign * c : b.r.createdAt - a.r.createdAt;
    })
    .map((x) => x.r);
}
