/**
 * Pure helpers of the blind rationale rating: the seeded order of a task, the Wilson score
 * interval of a win rate, and the per-pair-of-sources summary.
 */
import type { RatingChoice, RatingSummaryRow } from './analysis';

/** The 97.5% standard normal quantile (two-sided 95%). */
export const Z95 = 1.959964;

/**
 * Wilson score interval of a proportion `successes / n`; null when n = 0. Preferred over the
 * normal (Wald) interval because it stays inside [0, 1] and is sane for small n and p near 0/1,
 * which is what a few dozen hand ratings give.
 */
export function wilsonInterval(successes: number, n: number, z = Z95): { low: number; high: number } | null {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(successes) || successes < 0 || successes > n) {
    throw new Error(`wilsonInterval: need integers 0 <= successes <= n, got ${successes} of ${n}`);
  }
  if (n === 0) return null;
  const p = successes / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / denom;
  return { low: Math.max(0, center - half), high: Math.min(1, center + half) };
}

/** mulberry32: a small, fast 32-bit seeded PRNG in [0, 1). Stable across platforms and versions. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of a copy, driven by `rand`. */
export function shuffled<T>(xs: readonly T[], rand: () => number): T[] {
  const out = xs.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** One side of a task: a run at an iteration (null: latest), with its label as stored. */
export interface SummarySource {
  runId: string;
  iteration: number | null;
  label: string;
}

/** What identifies a summary row: the two sources and the split. */
export interface SummaryPair {
  a: SummarySource;
  b: SummarySource;
  split: 'train' | 'eval';
}

/** One stored judgement with what is needed to unblind it. */
export interface RatedPair extends SummaryPair {
  /** Whether source A was shown on the left. */
  aLeft: boolean;
  choice: RatingChoice;
  flagLeft: boolean;
  flagRight: boolean;
  rater: string;
}

/** Which source a choice favours once the side assignment is undone. */
export function unblindChoice(choice: RatingChoice, aLeft: boolean): 'a' | 'b' | 'both' | 'neither' {
  if (choice === 'left') return aLeft ? 'a' : 'b';
  if (choice === 'right') return aLeft ? 'b' : 'a';
  return choice;
}

/**
 * Short forms of distinct run ids, still distinct from each other: the shortest tail of at
 * least 4 characters that no other id in `ids` ends with (run ids are yyyymmdd-hhmmss-xxxx, so
 * usually the random xxxx), with a leading "…" when shortened.
 */
export function shortRunIds(ids: readonly string[]): Map<string, string> {
  const uniq = [...new Set(ids)];
  const out = new Map<string, string>();
  for (const id of uniq) {
    let k = Math.min(4, id.length);
    while (k < id.length && uniq.some((o) => o !== id && o.slice(-k) === id.slice(-k))) k++;
    out.set(id, k < id.length ? `…${id.slice(-k)}` : id);
  }
  return out;
}

/**
 * One row per (source A, source B, split), a source being a run id and an iteration: labels
 * are not identities (a retry shares its run's variant, dataset and seed), so two runs are
 * never merged, nor a training comparison with a held-out one. The same two sources compared
 * the other way round count into the row of the pair's first appearance in `tasks`, wins and
 * flags swapped. `tasks` gives the rows and their order, so a task without ratings yet still
 * shows (n = 0); a rating whose pair is in no task opens a row of its own. Where two different
 * runs carry the same label anywhere in the result, their labels get " · run <short id>".
 */
export function summarizeRatings(tasks: readonly SummaryPair[], ratings: readonly RatedPair[]): RatingSummaryRow[] {
  interface Acc extends SummaryPair {
    n: number;
    winsA: number;
    winsB: number;
    both: number;
    neither: number;
    flaggedA: number;
    flaggedB: number;
    raters: Set<string>;
  }
  const rows = new Map<string, Acc>();
  const key = (a: SummarySource, b: SummarySource, split: string) => JSON.stringify([a.runId, a.iteration, b.runId, b.iteration, split]);
  /** The accumulator of a pair and whether the pair is reversed relative to it. */
  const find = (p: SummaryPair): { acc: Acc; swap: boolean } => {
    const same = rows.get(key(p.a, p.b, p.split));
    if (same) return { acc: same, swap: false };
    const rev = rows.get(key(p.b, p.a, p.split));
    if (rev) return { acc: rev, swap: true };
    const acc: Acc = {
      a: p.a,
      b: p.b,
      split: p.split,
      n: 0,
      winsA: 0,
      winsB: 0,
      both: 0,
      neither: 0,
      flaggedA: 0,
      flaggedB: 0,
      raters: new Set(),
    };
    rows.set(key(p.a, p.b, p.split), acc);
    return { acc, swap: false };
  };
  for (const t of tasks) find(t);
  for (const r of ratings) {
    const { acc, swap } = find(r);
    let side = unblindChoice(r.choice, r.aLeft);
    let flagA = r.aLeft ? r.flagLeft : r.flagRight;
    let flagB = r.aLeft ? r.flagRight : r.flagLeft;
    if (swap) {
      side = side === 'a' ? 'b' : side === 'b' ? 'a' : side;
      [flagA, flagB] = [flagB, flagA];
    }
    acc.n++;
    if (side === 'a') acc.winsA++;
    else if (side === 'b') acc.winsB++;
    else if (side === 'both') acc.both++;
    else acc.neither++;
    if (flagA) acc.flaggedA++;
    if (flagB) acc.flaggedB++;
    acc.raters.add(r.rater);
  }

  // Labels read by more than one run: those runs get their short id appended.
  const runsByLabel = new Map<string, Set<string>>();
  for (const r of rows.values()) {
    for (const s of [r.a, r.b]) {
      const runs = runsByLabel.get(s.label) ?? new Set<string>();
      runs.add(s.runId);
      runsByLabel.set(s.label, runs);
    }
  }
  const shortOf = new Map<string, Map<string, string>>();
  for (const [label, runs] of runsByLabel) if (runs.size > 1) shortOf.set(label, shortRunIds([...runs]));
  const shown = (s: SummarySource) => {
    const short = shortOf.get(s.label)?.get(s.runId);
    return short === undefined ? s.label : `${s.label} · run ${short}`;
  };

  return [...rows.values()].map((r) => {
    const decided = r.winsA + r.winsB;
    const ci = wilsonInterval(r.winsA, decided);
    return {
      a: shown(r.a),
      b: shown(r.b),
      split: r.split,
      n: r.n,
      winsA: r.winsA,
      winsB: r.winsB,
      both: r.both,
      neither: r.neither,
      winRateA: decided ? r.winsA / decided : null,
      ciLow: ci?.low ?? null,
      ciHigh: ci?.high ?? null,
      flaggedShareA: r.n ? r.flaggedA / r.n : null,
      flaggedShareB: r.n ? r.flaggedB / r.n : null,
      raters: [...r.raters].sort(),
    };
  });
}
