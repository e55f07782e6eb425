/**
 * Finding runs in a list (the runs table, the compare sidebar): a query of words, each of which
 * must appear in the run's name, id, variant, dataset, preset, model, status, group name, tags
 * or notes (`seed=N` and `tag:T` match those exactly); and the runs table's sort. Pure.
 */
import type { RunSummary } from '../../shared/contract';
import { runName } from '../../shared/run-name';

export function runMatches(r: RunSummary, query: string, groupName?: string | null): boolean {
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
    if (w.startsWith('seed=')) return String(r.seed) === w.slice(5);
    return hay.includes(w);
  });
}

export const SORT_KEYS = ['name', 'status', 'variant', 'dataset', 'seed', 'accuracy', 'duration', 'created'] as const;
export type SortKey = (typeof SORT_KEYS)[number];
export interface RunSort {
  key: SortKey;
  dir: 'asc' | 'desc';
}
export const DEFAULT_SORT: RunSort = { key: 'created', dir: 'desc' };

/** The runs in the order asked for; runs without the value (no accuracy yet) last either way, ties newest first. */
export function sortRuns(runs: readonly RunSummary[], sort: RunSort, durationMs: (r: RunSummary) => number | null): RunSummary[] {
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
