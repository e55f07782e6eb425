/**
 * Rationale traces: a run's per-question samples (training: direct and rationalized; held-out:
 * eval) filtered by how each question fared across iterations. "Solved" at an iteration
 * means a correct sample without the hint there (direct or eval); one through the hint counts
 * as rationalized, not solved.
 *
 *   newly-solved       the iteration at which a question was first solved (its rows there)
 *   forgotten          iterations after the first solve at which it was not solved
 *   never-solved       questions never solved at any iteration (all their rows)
 *   rationalized-only  never solved, but right through the hint at some iteration
 *
 * V-STaR's test-time candidates are not traces (see getCurve).
 *
 * The outcomes come from question_summary / question_outcomes (kept by triggers on samples,
 * db/migrations/004-question-outcomes.ts), so a query walks only the matching questions and
 * iterations (at one iteration: that iteration's outcome rows) and reads samples through the
 * partial index samples_trace. A search (case-insensitive substring of the rationale or the
 * question, question text: question_summary) takes one of two exact paths: few matches go through
 * the trigram index samples_fts (a superset, rechecked), many (or a search under 3 characters)
 * walk the rows in order and stop at the page's end (see searchByWalk for its capped total).
 * Difficulty is the question's (tasks define it per question).
 * The joins are written CROSS JOIN to fix their order: without ANALYZE statistics SQLite
 * would start from samples and sort.
 */
import type { DB } from './open';
import type { SampleDbRow } from './queries';
import { TRACE_KIND_SQL } from './outcomes';
import type { TraceFilter, TraceQuery, TraceRow } from '../shared/contract';

/** Per filter: the condition on the question (qs) and on the iteration (o), if any. */
export const FILTER_SQL: Record<TraceFilter, { q: string; o?: string }> = {
  'newly-solved': { q: 'qs.first_solved IS NOT NULL', o: 'o.iteration = qs.first_solved' },
  forgotten: { q: 'qs.last_unsolved > qs.first_solved', o: 'o.solved = 0 AND o.iteration > qs.first_solved' },
  'never-solved': { q: 'qs.first_solved IS NULL' },
  'rationalized-only': { q: 'qs.first_solved IS NULL AND qs.ever_hinted = 1' },
};

/** LIKE pattern for a substring, with LIKE's own wildcards escaped. */
export function likePattern(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Trigram terms per search at most: enough to be selective, few doclists to intersect. */
const MAX_TRIGRAMS = 12;

/**
 * An FTS5 query for samples_fts (trigram tokenizer, detail=none: no phrases) finding a superset
 * of the samples containing `s`: an AND of its trigrams, every third one and the last (they
 * cover the string), quoted literally. Null when `s` is under 3 characters (no trigram). The
 * exact substring is rechecked against samples.text.
 */
export function trigramQuery(s: string): string | null {
  const cps = [...s];
  if (cps.length < 3) return null;
  const starts: number[] = [];
  for (let i = 0; i + 3 <= cps.length; i += 3) starts.push(i);
  if (starts[starts.length - 1] !== cps.length - 3) starts.push(cps.length - 3);
  const terms = [...new Set(starts.map((i) => cps.slice(i, i + 3).join('')))].slice(0, MAX_TRIGRAMS);
  return terms.map((t) => `"${t.replace(/"/g, '""')}"`).join(' AND ');
}

/** Columns of a trace row (the samples row s). */
const COLS =
  's.id, s.question_id, s.split, s.iteration, s.kind, s.question, s.text, s.answer, s.gold, s.correct, s.hint_used, s.kept, s.difficulty';
const JOIN_O = 'o.run_id = qs.run_id AND o.split = qs.split AND o.question_id = qs.question_id';
const JOIN_S = `s.run_id = o.run_id AND s.split = o.split AND s.question_id = o.question_id AND s.iteration = o.iteration AND s.${TRACE_KIND_SQL}`;
const ORDER = 'qs.split, qs.question_id, o.iteration, s.id';

/**
 * How a search picks its path (defaults for 10^6 samples; tests pass small ones to force a path).
 *   ftsMax      the trigram index drives while it has fewer candidates than this (counted up to
 *               it) and fewer samples than this match by their question
 *   walkBudget  otherwise the rows are walked in order, at most this many: a search matching
 *               fewer (sparse) is then driven by its matching samples (exact total)
 *   totalCap    the walk counts matches up to this many (or to the page's end if further)
 */
export interface TraceSearchTuning {
  ftsMax?: number;
  walkBudget?: number;
  totalCap?: number;
}
const TUNING: Required<TraceSearchTuning> = { ftsMax: 20_000, walkBudget: 50_000, totalCap: 10_000 };

/** A page of traces and how many match; totalCapped: more than `total` match (a lower bound). */
export interface TracePage {
  total: number;
  totalCapped?: boolean;
  rows: TraceRow[];
}

/** The matching rows (ordered by split, question, iteration, id) and how many match in all. */
export function queryTraces(db: DB, runId: string, o: TraceQuery = {}, tuning: TraceSearchTuning = {}): TracePage {
  const limit = o.limit ?? 100;
  const offset = o.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`traces: limit must be a positive integer, got ${limit}`);
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`traces: offset must be a non-negative integer, got ${offset}`);
  const tune = { ...TUNING, ...tuning };
  // Conditions on the question's key (either table's columns), on its summary, on the iteration.
  const keyConds = ['run_id = @run'];
  const summaryConds: string[] = [];
  const oConds: string[] = [];
  const params: Record<string, unknown> = { run: runId };
  if (o.split) {
    keyConds.push('split = @split');
    params['split'] = o.split;
  }
  if (o.questionId !== undefined) {
    keyConds.push('question_id = @qid');
    params['qid'] = o.questionId;
  }
  if (o.difficulty !== undefined) {
    summaryConds.push('qs.difficulty = @difficulty');
    params['difficulty'] = o.difficulty;
  }
  if (o.filter) {
    const f = FILTER_SQL[o.filter];
    summaryConds.push(f.q);
    if (f.o) oConds.push(f.o);
  }
  const qConds = [...keyConds.map((c) => `qs.${c}`), ...summaryConds];
  if (o.iteration !== undefined) params['iteration'] = o.iteration;
  const where = [...qConds, ...oConds, ...(o.iteration !== undefined ? ['o.iteration = @iteration'] : [])].join(' AND ');

  // At one iteration the outcome rows there drive (index question_outcomes_iteration, in the
  // traces' order), with the question's summary looked up only when a filter or a search needs
  // it; otherwise the matching questions drive.
  let from: string;
  let conds: string[];
  let groupKey: string;
  const atIteration = o.iteration !== undefined;
  if (atIteration) {
    // (a filter's conditions on the iteration read the summary too)
    const needQs = summaryConds.length > 0 || !!o.search;
    from = `question_outcomes o INDEXED BY question_outcomes_iteration${needQs ? ` CROSS JOIN question_summary qs ON ${JOIN_O}` : ''}`;
    conds = ['o.iteration = @iteration', ...keyConds.map((c) => `o.${c}`), ...summaryConds, ...oConds];
    groupKey = 'o.split, o.question_id';
  } else {
    from = `question_summary qs CROSS JOIN question_outcomes o ON ${JOIN_O}`;
    conds = [...qConds, ...oConds];
    groupKey = 'qs.split, qs.question_id';
  }
  const drivenWhere = conds.join(' AND ');

  // Totals from the outcome counts, without touching samples.
  const total =
    atIteration || oConds.length
      ? (db.prepare(`SELECT coalesce(SUM(o.samples), 0) AS n FROM ${from} WHERE ${drivenWhere}`).get(params) as { n: number }).n
      : (db.prepare(`SELECT coalesce(SUM(qs.samples), 0) AS n FROM question_summary qs WHERE ${where}`).get(params) as { n: number }).n;
  if (o.search) {
    if (total === 0) return { total: 0, rows: [] };
    params['search'] = likePattern(o.search);
    const tri = trigramQuery(o.search);
    // The trigram index pays while its candidates are few; a search matching many samples (or
    // under 3 characters) walks the rows in order instead and stops at the page's end, unless
    // its matches turn out sparse: then the matching samples drive after all.
    const byMatches = () => searchByMatches(db, params, tri, where, limit, offset);
    if (tri && total > tune.walkBudget && useIndex(db, params, tri, tune.ftsMax)) return byMatches();
    return searchByWalk(
      db,
      params,
      `${from} CROSS JOIN samples s INDEXED BY samples_trace ON ${JOIN_S}`,
      drivenWhere,
      `${groupKey}, o.iteration, s.id`,
      limit,
      offset,
      tune,
      byMatches,
    );
  }
  if (offset >= total) return { total, rows: [] };

  // A deep page starts at the question holding row `offset`, found from the per-question
  // counts (no sample is read to skip), so only the rest of the offset is skipped in samples.
  let skip = offset;
  const start: string[] = [];
  if (offset > 0) {
    const groups =
      atIteration || oConds.length
        ? `SELECT ${groupKey}, SUM(o.samples) FROM ${from} WHERE ${drivenWhere} GROUP BY ${groupKey} ORDER BY ${groupKey}`
        : `SELECT qs.split, qs.question_id, qs.samples FROM question_summary qs WHERE ${where} ORDER BY qs.split, qs.question_id`;
    for (const [split, qid, n] of db.prepare(groups).raw().iterate(params) as Iterable<[string, string, number]>) {
      if (skip < n) {
        start.push(`(${groupKey}) >= (@startSplit, @startQid)`);
        params['startSplit'] = split;
        params['startQid'] = qid;
        break;
      }
      skip -= n;
    }
  }
  const rows = db
    .prepare(
      `SELECT ${COLS} FROM ${from} CROSS JOIN samples s INDEXED BY samples_trace ON ${JOIN_S}
       WHERE ${[drivenWhere, ...start].join(' AND ')} ORDER BY ${groupKey}, o.iteration, s.id LIMIT @limit OFFSET @offset`,
    )
    .all({ ...params, limit, offset: skip }) as DbRow[];
  return { total, rows: rows.map(toRow) };
}

const SEARCH_TEXT = "s.text LIKE @search ESCAPE '\\'";
const SEARCH_QUESTION = "qs.question LIKE @search ESCAPE '\\'";

/**
 * Whether the trigram index has fewer than `max` candidates (any run: the index has no run
 * column) and fewer than `max` of the run's samples match by their question. Both are cheap:
 * the candidates are counted from the index alone up to `max`, the question matches from the
 * run's question summaries.
 */
function useIndex(db: DB, params: Record<string, unknown>, tri: string, max: number): boolean {
  const byQuestion = (
    db
      .prepare(`SELECT coalesce(SUM(qs.samples), 0) AS n FROM question_summary qs WHERE qs.run_id = @run AND ${SEARCH_QUESTION}`)
      .get(params) as { n: number }
  ).n;
  if (byQuestion >= max) return false;
  const candidates = (
    db.prepare('SELECT count(*) AS n FROM (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ? LIMIT ?)').get(tri, max) as { n: number }
  ).n;
  return candidates < max;
}

/**
 * Few matches: the matching samples drive (trigram candidates, rechecked; or, under 3
 * characters, a scan of the run's samples in storage order), then are sorted; the total is exact.
 */
function searchByMatches(
  db: DB,
  params: Record<string, unknown>,
  tri: string | null,
  where: string,
  limit: number,
  offset: number,
): TracePage {
  const textHits = tri
    ? `SELECT t.id FROM samples_fts f CROSS JOIN samples t ON t.id = f.rowid
       WHERE samples_fts MATCH @tri AND t.run_id = @run AND t.text LIKE @search ESCAPE '\\'`
    : `SELECT t.id FROM samples t INDEXED BY samples_run_iteration
       WHERE t.run_id = @run AND t.${TRACE_KIND_SQL} AND t.text LIKE @search ESCAPE '\\'`;
  const questionHits = `SELECT t.id FROM question_summary q CROSS JOIN samples t INDEXED BY samples_trace
       ON t.run_id = q.run_id AND t.split = q.split AND t.question_id = q.question_id AND t.${TRACE_KIND_SQL}
     WHERE q.run_id = @run AND q.question LIKE @search ESCAPE '\\'`;
  const from = `WITH hits(id) AS MATERIALIZED (${textHits} UNION ${questionHits})
    SELECT %COLS% FROM hits h CROSS JOIN samples s ON s.id = h.id
    CROSS JOIN question_outcomes o ON o.run_id = s.run_id AND o.split = s.split AND o.question_id = s.question_id AND o.iteration = s.iteration
    CROSS JOIN question_summary qs ON ${JOIN_O}
    WHERE ${where}`;
  const p = tri ? { ...params, tri } : params;
  const total = (db.prepare(from.replace('%COLS%', 'count(*) AS n')).get(p) as { n: number }).n;
  const rows = db.prepare(`${from.replace('%COLS%', COLS)} ORDER BY ${ORDER} LIMIT @limit OFFSET @offset`).all({ ...p, limit, offset });
  return { total, rows: (rows as DbRow[]).map(toRow) };
}

/**
 * Many matches (or no trigram): the rows are walked in the traces' order (through the index
 * samples_trace, as without a search), each checked, until `totalCap` matches or the page's end
 * if further; the cost is the rows walked, small for a common search. The total is exact when
 * the walk ran out of rows, else a lower bound (totalCapped). A walk that reads `walkBudget` rows
 * without getting there has sparse matches: it hands over to `sparse`.
 */
function searchByWalk(
  db: DB,
  params: Record<string, unknown>,
  from: string,
  where: string,
  order: string,
  limit: number,
  offset: number,
  tune: Required<TraceSearchTuning>,
  sparse: () => TracePage,
): TracePage {
  const upTo = Math.max(tune.totalCap, offset + limit);
  const walk = db.prepare(`SELECT s.id, (${SEARCH_TEXT} OR ${SEARCH_QUESTION}) FROM ${from} WHERE ${where} ORDER BY ${order}`).raw();
  const ids: number[] = [];
  let walked = 0;
  let tooSparse = false;
  for (const [id, hit] of walk.iterate(params) as Iterable<[number, number]>) {
    if (hit && ids.push(id) > upTo) break;
    if (++walked >= tune.walkBudget) {
      tooSparse = true;
      break;
    }
  }
  if (tooSparse) return sparse(); // (after the walk's statement is closed)
  const capped = ids.length > upTo;
  const pageIds = ids.slice(offset, offset + limit);
  const byId = new Map<number, DbRow>();
  if (pageIds.length) {
    const stmt = db.prepare(`SELECT ${COLS} FROM samples s WHERE s.id IN (SELECT value FROM json_each(?))`);
    for (const r of stmt.all(JSON.stringify(pageIds)) as DbRow[]) byId.set(r.id, r);
  }
  const rows = pageIds.map((id) => toRow(byId.get(id)!));
  return capped ? { total: upTo, totalCapped: true, rows } : { total: ids.length, rows };
}

type DbRow = Omit<SampleDbRow, 'scores_json'>;

function toRow(r: DbRow): TraceRow {
  return {
    id: r.id,
    questionId: r.question_id,
    split: r.split,
    iteration: r.iteration,
    kind: r.kind,
    question: r.question,
    text: r.text,
    answer: r.answer,
    gold: r.gold,
    correct: r.correct === 1,
    hintUsed: r.hint_used === 1,
    kept: r.kept === null ? null : r.kept === 1,
    difficulty: r.difficulty,
  };
}
