/**
 * Unbiased k-subset estimators over a pool of N candidates per question (V-STaR §3.2; Chen
 * et al. 2021 for pass@k): the exact expectation, over a uniformly random k-subset of the N
 * candidates, of pass@k, Best-of-k (ties in score broken uniformly at random) and the
 * majority vote (None answers abstain, ties broken uniformly at random, an all-None subset is
 * wrong). A port of experiments/starlab/estimators.py, so the lab can recount a V-STaR run's
 * curves from its stored candidates; tests/unit/estimators.test.ts checks the two agree.
 */

const combCache = new Map<string, number>();

/** C(n, k) as a float (exact for the sizes used here: N ≤ a few hundred candidates); 0 when k > n or k < 0. */
export function comb(n: number, k: number): number {
  if (k < 0 || k > n || n < 0) return 0;
  k = Math.min(k, n - k);
  const key = `${n},${k}`;
  let v = combCache.get(key);
  if (v === undefined) {
    // exact in BigInt, one rounding at the end
    let num = 1n;
    let den = 1n;
    for (let i = 0; i < k; i++) {
      num *= BigInt(n - i);
      den *= BigInt(i + 1);
    }
    v = Number(num / den);
    combCache.set(key, v);
  }
  return v;
}

function checkK(n: number, k: number): void {
  if (!Number.isInteger(k)) throw new Error(`k must be an integer, got ${k}`);
  if (n < 1) throw new Error('no candidates');
  if (k < 1 || k > n) throw new Error(`k must be in 1..N (N = ${n}), got ${k}`);
}

/** pass@k = 1 − C(n−c, k)/C(n, k) for n candidates of which c are correct. */
export function passAtK(n: number, c: number, k: number): number {
  checkK(n, k);
  if (c < 0 || c > n) throw new Error(`c must be in 0..n, got c=${c}, n=${n}`);
  if (n - c < k) return 1;
  return 1 - comb(n - c, k) / comb(n, k);
}

/** (size, summed correctness) per group of equal score, best first; null/NaN scores rank last. */
function tieGroups(scores: readonly (number | null)[], correct: readonly number[]): [number, number][] {
  const key = (s: number | null) => (s === null || Number.isNaN(s) ? -Infinity : s);
  const keyed = scores.map((s, i) => [key(s), correct[i]!] as const).sort((a, b) => b[0] - a[0]);
  const groups: [number, number][] = [];
  let prev: number | undefined;
  for (const [k, a] of keyed) {
    if (groups.length && k === prev) {
      const g = groups[groups.length - 1]!;
      g[0] += 1;
      g[1] += a;
    } else groups.push([1, a]);
    prev = k;
  }
  return groups;
}

function bestOfKGroups(groups: [number, number][], n: number, k: number): number {
  // group j supplies the pick iff the subset has none of the better groups and ≥ 1 of group j:
  // P_j = [C(N − A_j, k) − C(N − A_j − g_j, k)] / C(N, k); the pick is then a uniform member of j
  const total = comb(n, k);
  let above = 0;
  let acc = 0;
  for (const [g, c] of groups) {
    const rest = n - above;
    const ways = comb(rest, k) - comb(rest - g, k);
    if (ways === 0) break;
    if (c) acc += ((ways / total) * c) / g;
    above += g;
  }
  return acc;
}

/** Best-of-k for k in ks: the expected correctness of the highest-scored of a random k-subset. */
export function bestOfKCurve(scores: readonly (number | null)[], correct: readonly number[], ks: readonly number[]): Map<number, number> {
  if (scores.length !== correct.length) throw new Error(`scores (${scores.length}) and correct (${correct.length}) differ in length`);
  const n = scores.length;
  const groups = tieGroups(scores, correct);
  const out = new Map<number, number>();
  for (const k of ks) {
    checkK(n, k);
    out.set(k, bestOfKGroups(groups, n, k));
  }
  return out;
}

/** The majority vote's summed correctness over all k-subsets, k = 0..kmax (see estimators.py `_majority_sums`). */
function majoritySums(sizes: number[], values: number[], n: number, kmax: number): number[] {
  const S = new Array<number>(kmax + 1).fill(0);
  if (!sizes.length) return S;
  const gmax = Math.max(...sizes);
  for (let t = 1; t <= Math.min(kmax, gmax); t++) {
    const active = sizes.map((g, i) => [g, values[i]!] as const).filter(([g]) => g >= t);
    const free = n - active.reduce((a, [g]) => a + g, 0);
    const R = Math.floor(kmax / t);
    const zeros = () => Array.from({ length: kmax + 1 }, () => new Array<number>(R + 1).fill(0));
    let P = zeros();
    let Q = zeros();
    P[0]![0] = 1;
    for (const [g, v] of active) {
      const nP = zeros();
      const nQ = zeros();
      for (let s = 0; s <= Math.min(t - 1, kmax); s++) {
        const c = comb(g, s);
        for (let x = s; x <= kmax; x++)
          for (let r = 0; r <= R; r++) {
            nP[x]![r]! += c * P[x - s]![r]!;
            nQ[x]![r]! += c * Q[x - s]![r]!;
          }
      }
      if (t <= kmax) {
        const c = comb(g, t);
        for (let x = t; x <= kmax; x++)
          for (let r = 1; r <= R; r++) {
            nP[x]![r]! += c * P[x - t]![r - 1]!;
            nQ[x]![r]! += c * (Q[x - t]![r - 1]! + v * P[x - t]![r - 1]!);
          }
      }
      P = nP;
      Q = nQ;
    }
    const W = Q.map((row) => row.reduce((a, q, r) => (r ? a + q / r : a), 0));
    for (let k = 0; k <= kmax; k++) {
      let acc = 0;
      for (let j = 0; j <= k; j++) acc += W[k - j]! * comb(free, j);
      S[k]! += acc;
    }
  }
  return S;
}

/** The majority vote's expected correctness for k in ks (answers: null abstains). */
export function majorityCurve(answers: readonly (string | null)[], correct: readonly number[], ks: readonly number[]): Map<number, number> {
  if (answers.length !== correct.length) throw new Error(`answers (${answers.length}) and correct (${correct.length}) differ in length`);
  const n = answers.length;
  for (const k of ks) checkK(n, k);
  const size = new Map<string, number>();
  const csum = new Map<string, number>();
  answers.forEach((a, i) => {
    if (a === null) return;
    size.set(a, (size.get(a) ?? 0) + 1);
    csum.set(a, (csum.get(a) ?? 0) + correct[i]!);
  });
  const keys = [...size.keys()];
  const S = majoritySums(
    keys.map((a) => size.get(a)!),
    keys.map((a) => csum.get(a)! / size.get(a)!),
    n,
    Math.max(0, ...ks),
  );
  return new Map(ks.map((k) => [k, S[k]! / comb(n, k)]));
}

export interface Candidate {
  answer: string | null;
  correct: boolean | number;
  scores?: Record<string, number> | null;
}

export type CurveKind = 'pass-at-k' | 'majority' | 'best-of-k';

/**
 * The mean over questions of a per-question curve, k = 1..N (N: the fewest candidates any
 * question has; every question must have the same N, as the run stored them). For best-of-k,
 * `scorer` names the candidates' score (reward = the DPO verifier, orm, logp_norm).
 */
export function curveOverQuestions(
  questions: readonly (readonly Candidate[])[],
  kind: CurveKind,
  scorer?: string,
): { k: number; value: number }[] {
  if (!questions.length) throw new Error('no questions');
  const n = questions[0]!.length;
  for (const [i, q] of questions.entries())
    if (q.length !== n) throw new Error(`question ${i} has ${q.length} candidates, the first has ${n}`);
  const ks = Array.from({ length: n }, (_, i) => i + 1);
  const sums = new Array<number>(n + 1).fill(0);
  for (const q of questions) {
    const corr = q.map((c) => Number(c.correct));
    let curve: Map<number, number>;
    if (kind === 'pass-at-k') {
      if (corr.some((x) => x !== 0 && x !== 1)) throw new Error('pass@k needs 0/1 correctness');
      const c = corr.reduce((a, b) => a + b, 0);
      curve = new Map(ks.map((k) => [k, passAtK(n, c, k)]));
    } else if (kind === 'majority')
      curve = majorityCurve(
        q.map((c) => c.answer),
        corr,
        ks,
      );
    else {
      if (!scorer) throw new Error('best-of-k needs a scorer');
      const missing = q.find((c) => !c.scores || typeof c.scores[scorer] !== 'number');
      if (missing) throw new Error(`a candidate has no "${scorer}" score`);
      curve = bestOfKCurve(
        q.map((c) => c.scores![scorer]!),
        corr,
        ks,
      );
    }
    for (const k of ks) sums[k]! += curve.get(k)!;
  }
  return ks.map((k) => ({ k, value: sums[k]! / questions.length }));
}
