/**
 * V-STaR's verifier, looked at from the stored test-time candidates (samples with
 * kind = 'candidate', scores_json {logp, logp_norm, reward, ref_logp, orm}): how a scorer's
 * values fall over right vs wrong candidates, how often it orders a right candidate above a
 * wrong one of the same question, and one question's candidates ranked by it.
 */
import type { CandidateQuestion, RankedCandidate, VerifierStats } from '../shared/analysis';
import { CURVE_SCORERS } from '../shared/contract';
import type { DB } from './open';
import { candidateIterations } from './queries';

export type Scorer = keyof typeof CURVE_SCORERS;
type Fail = { ok: false; message: string };

const DEFAULT_BINS = 30;

/** A finite score under `key`, or null (absent, NaN, not a number). */
function scoreOf(scores: Record<string, number> | null, key: string): number | null {
  const v = scores?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** The iteration asked for (default: the last with candidates), or why there is none. */
function pickIteration(db: DB, runId: string, iteration: number | undefined): { iterations: number[]; iteration: number } | Fail {
  const iterations = candidateIterations(db, runId);
  if (iterations.length === 0) return { ok: false, message: `run ${runId} has no V-STaR test-time candidates` };
  if (iteration === undefined) return { iterations, iteration: iterations[iterations.length - 1]! };
  if (!iterations.includes(iteration))
    return {
      ok: false,
      message: `run ${runId} has no candidates at iteration ${iteration} (iterations with candidates: ${iterations.join(', ')})`,
    };
  return { iterations, iteration };
}

/** Index of the first element of ascending `a` that is ≥ x (strict: > x). */
function bound(a: number[], x: number, strict: boolean): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (strict ? a[mid]! <= x : a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Over questions with both right and wrong scored candidates: the share of (right, wrong)
 * pairs where the right one scores higher, ties counting half. Sorting the wrong scores keeps
 * this O(n log n) per question (64 candidates × thousands of questions × iterations).
 */
export function pairAccuracy(groups: Iterable<{ right: number[]; wrong: number[] }>): { value: number | null; pairs: number } {
  let pairs = 0;
  let wins = 0;
  for (const g of groups) {
    if (g.right.length === 0 || g.wrong.length === 0) continue;
    const wrong = [...g.wrong].sort((a, b) => a - b);
    for (const r of g.right) {
      const below = bound(wrong, r, false);
      const ties = bound(wrong, r, true) - below;
      wins += below + ties / 2;
    }
    pairs += g.right.length * g.wrong.length;
  }
  return { value: pairs > 0 ? wins / pairs : null, pairs };
}

/**
 * Equal-width bins over [min, max] of the finite values (others are left out); a single value
 * gets a range around it wide enough to stay distinct in floating point (±0.5, more for huge
 * values). Each value goes in the bin whose [lo, hi) holds it (the maximum in the last bin).
 */
export function histogram(right: number[], wrong: number[], bins: number): VerifierStats['bins'] {
  // A loop, not Math.min(...v): tens of thousands of candidates would overflow the call stack.
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of [...right, ...wrong]) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo === Infinity) return [];
  if (!(hi > lo)) {
    // lo - 0.5 === lo once |lo| > 2^53: widen relative to the value instead.
    const pad = Math.max(0.5, Math.abs(lo) * 1e-9);
    lo -= pad;
    hi += pad;
  }
  const width = (hi - lo) / bins;
  if (!(width > 0 && Number.isFinite(width))) {
    // The range overflows (or underflows) a double when split: one bin holds everything.
    const out = Array.from({ length: bins }, (_, i) => ({ lo: i === 0 ? lo : hi, hi, right: 0, wrong: 0 }));
    for (const v of right) if (Number.isFinite(v)) out[0]!.right++;
    for (const v of wrong) if (Number.isFinite(v)) out[0]!.wrong++;
    return out;
  }
  const out = Array.from({ length: bins }, (_, i) => ({
    lo: lo + i * width,
    hi: i === bins - 1 ? hi : lo + (i + 1) * width,
    right: 0,
    wrong: 0,
  }));
  const index = (v: number) => {
    let i = Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / width)));
    // floor((v - lo) / width) and lo + i * width round differently: trust the stored edges.
    while (i < bins - 1 && v >= out[i + 1]!.lo) i++;
    while (i > 0 && v < out[i]!.lo) i--;
    return i;
  };
  for (const v of right) if (Number.isFinite(v)) out[index(v)]!.right++;
  for (const v of wrong) if (Number.isFinite(v)) out[index(v)]!.wrong++;
  return out;
}

const mean = (v: number[]): number | null => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : null);

/**
 * Per iteration, per question, the scored right and wrong candidates' values, and how many had
 * no finite score. One query over every candidate iteration reads just the one score
 * (json_extract, no JSON.parse per candidate); malformed scores_json counts as unscored, and so
 * does a non-numeric value (json_extract would turn `true` into 1, hence the json_type test).
 * Rows come ordered by iteration and question, so each question's group is complete when the
 * next one starts. Uses samples_run_iteration(run_id, iteration).
 */
function scoredGroups(
  db: DB,
  runId: string,
  key: string,
): Map<number, { groups: { right: number[]; wrong: number[] }[]; unscored: number }> {
  const rows = db
    .prepare(
      `SELECT iteration, question_id, correct,
              CASE WHEN json_valid(scores_json) AND json_type(scores_json, @path) IN ('integer', 'real')
                   THEN json_extract(scores_json, @path) END AS v
       FROM samples WHERE run_id = @run AND kind = 'candidate' ORDER BY iteration, question_id`,
    )
    .raw()
    // `key` comes from CURVE_SCORERS, never from the user; bound all the same.
    .iterate({ run: runId, path: `$."${key}"` }) as IterableIterator<[number, string, number, number | null]>;
  const out = new Map<number, { groups: { right: number[]; wrong: number[] }[]; unscored: number }>();
  let it: { groups: { right: number[]; wrong: number[] }[]; unscored: number } | undefined;
  let lastIteration: number | null = null;
  let lastQuestion: string | null = null;
  let g = { right: [] as number[], wrong: [] as number[] };
  for (const [iteration, questionId, correct, v] of rows) {
    if (iteration !== lastIteration) {
      out.set(iteration, (it = { groups: [], unscored: 0 }));
      lastIteration = iteration;
      lastQuestion = null;
    }
    if (questionId !== lastQuestion) {
      it!.groups.push((g = { right: [], wrong: [] }));
      lastQuestion = questionId;
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) it!.unscored++;
    else (correct === 1 ? g.right : g.wrong).push(v);
  }
  return out;
}

/**
 * The scorer's histogram and means over right vs wrong candidates at one iteration, and its
 * pair accuracy at every candidate iteration. Candidates without the score are left out of
 * every count (`unscored` says how many at the chosen iteration).
 */
export function verifierStats(db: DB, runId: string, o: { iteration?: number; scorer: Scorer; bins?: number }): VerifierStats | Fail {
  const key = CURVE_SCORERS[o.scorer];
  if (!key) return { ok: false, message: `unknown scorer ${String(o.scorer)} (known: ${Object.keys(CURVE_SCORERS).join(', ')})` };
  const bins = o.bins ?? DEFAULT_BINS;
  if (!Number.isInteger(bins) || bins < 1) return { ok: false, message: `bins must be a positive integer, got ${bins}` };
  const pick = pickIteration(db, runId, o.iteration);
  if ('ok' in pick) return pick;

  const byIteration = scoredGroups(db, runId, key);
  const { groups, unscored } = byIteration.get(pick.iteration) ?? { groups: [], unscored: 0 };
  const right = groups.flatMap((g) => g.right);
  const wrong = groups.flatMap((g) => g.wrong);
  if (right.length + wrong.length === 0)
    return { ok: false, message: `no candidate of run ${runId} at iteration ${pick.iteration} has the ${o.scorer} score (key "${key}")` };

  const perIteration = pick.iterations.map((it) => ({ iteration: it, ...pairAccuracy(byIteration.get(it)?.groups ?? []) }));
  return {
    ok: true,
    iterations: pick.iterations,
    iteration: pick.iteration,
    scorer: o.scorer,
    bins: histogram(right, wrong, bins),
    right: { n: right.length, mean: mean(right) },
    wrong: { n: wrong.length, mean: mean(wrong) },
    pairAccuracy: perIteration,
    unscored,
  };
}

/** LIKE pattern for a substring, with LIKE's own wildcards escaped (ESCAPE '\'). */
function likePattern(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * The questions with candidates at one iteration (default: the last), ordered by question id;
 * `search` is a case-insensitive substring of the question (SQLite's LIKE: ASCII case folding).
 */
export function candidateQuestions(
  db: DB,
  runId: string,
  o: { iteration?: number; search?: string; limit?: number; offset?: number } = {},
): { ok: true; iteration: number; total: number; rows: CandidateQuestion[] } | Fail {
  const pick = pickIteration(db, runId, o.iteration);
  if ('ok' in pick) return pick;
  const where = ['run_id = @run', 'iteration = @iteration', "kind = 'candidate'"];
  const params: Record<string, unknown> = { run: runId, iteration: pick.iteration };
  if (o.search) {
    where.push("question LIKE @search ESCAPE '\\'");
    params['search'] = likePattern(o.search);
  }
  const w = where.join(' AND ');
  const total = (db.prepare(`SELECT COUNT(DISTINCT question_id) AS n FROM samples WHERE ${w}`).get(params) as { n: number }).n;
  const rows = db
    .prepare(
      `SELECT question_id, MIN(question) AS question, MIN(gold) AS gold, COUNT(*) AS candidates, SUM(correct) AS correct
       FROM samples WHERE ${w} GROUP BY question_id ORDER BY question_id LIMIT @limit OFFSET @offset`,
    )
    .all({ ...params, limit: o.limit ?? 100, offset: o.offset ?? 0 }) as {
    question_id: string;
    question: string;
    gold: string;
    candidates: number;
    correct: number;
  }[];
  return {
    ok: true,
    iteration: pick.iteration,
    total,
    rows: rows.map((r) => ({
      questionId: r.question_id,
      question: r.question,
      gold: r.gold,
      candidates: r.candidates,
      correct: r.correct,
    })),
  };
}

/**
 * One question's candidates ranked by the scorer, highest first; equal scores keep storage
 * order and candidates without the score come last (in storage order). Ranks are 1-based.
 */
export function rankedCandidates(
  db: DB,
  runId: string,
  o: { iteration?: number; questionId: string; scorer: Scorer },
): { ok: true; iteration: number; questionId: string; question: string; gold: string; candidates: RankedCandidate[] } | Fail {
  const key = CURVE_SCORERS[o.scorer];
  if (!key) return { ok: false, message: `unknown scorer ${String(o.scorer)} (known: ${Object.keys(CURVE_SCORERS).join(', ')})` };
  const pick = pickIteration(db, runId, o.iteration);
  if ('ok' in pick) return pick;
  const rows = db
    .prepare(
      `SELECT question, gold, text, answer, correct, scores_json FROM samples
       WHERE run_id = ? AND iteration = ? AND kind = 'candidate' AND question_id = ? ORDER BY id`,
    )
    .all(runId, pick.iteration, o.questionId) as {
    question: string;
    gold: string;
    text: string;
    answer: string | null;
    correct: number;
    scores_json: string | null;
  }[];
  if (rows.length === 0)
    return { ok: false, message: `question ${o.questionId} has no candidates in run ${runId} at iteration ${pick.iteration}` };
  const items = rows.map((r, i) => {
    const scores = parseScores(r.scores_json);
    return { i, score: scoreOf(scores, key), r, scores };
  });
  // Array.prototype.sort is stable, so ties keep storage order.
  items.sort((a, b) => (a.score === null ? (b.score === null ? 0 : 1) : b.score === null ? -1 : b.score - a.score));
  return {
    ok: true,
    iteration: pick.iteration,
    questionId: o.questionId,
    question: rows[0]!.question,
    gold: rows[0]!.gold,
    candidates: items.map((it, k) => ({
      rank: k + 1,
      text: it.r.text,
      answer: it.r.answer,
      correct: it.r.correct === 1,
      scores: it.scores,
    })),
  };
}

function parseScores(text: string | null): Record<string, number> | null {
  if (text == null) return null;
  try {
    const v: unknown = JSON.parse(text);
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, number>) : null;
  } catch {
    return null;
  }
}
