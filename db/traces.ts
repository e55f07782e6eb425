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
 * partial index samples_trace. Search goes through the trigram index samples_fts (a superset,
 * rechecked; question text: question_summary). Difficulty is the question's (tasks define it per question).
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
const COLS = 's.id, s.question_id, s.split, s.iteration, s.kind, s.question, s.text, s.answer, s.gold, s.correct, s.hint_used, s.kept, s.difficulty';
const JOIN_O = 'o.run_id = qs.run_id AND o.split = qs.split AND o.question_id = qs.question_id';
const JOIN_S = `s.run_id = o.run_id AND s.split = o.split AND s.question_id = o.question_id AND s.iteration = o.iteration AND s.${TRACE_KIND_SQL}`;
const ORDER = 'qs.split, qs.question_id, o.iteration, s.id';

/** The matching rows (ordered by split, question, iteration, id) and how many match in all. */
export function queryTraces(db: DB, runId: string, o: TraceQuery = {}): { total: number; rows: TraceRow[] } {
  const limit = o.limit ?? 100;
  const offset = o.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`traces: limit must be a positive integer, got ${limit}`);
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`traces: offset must be a non-negative integer, got ${offset}`);
  // Conditions on the question's key (either table's columns), on its summary, on the iteration.
  const keyConds = ['run_id = @run'];
  const summaryConds: string[] = [];
  const oConds: string[] = [];
  const params: Record<string, unknown> = { run: runId };
  if (o.split) (keyConds.push('split = @split'), (params['split'] = o.split));
  if (o.questionId !== undefined) (keyConds.push('question_id = @qid'), (params['qid'] = o.questionId));
  if (o.difficulty !== undefined) (summaryConds.push('qs.difficulty = @difficulty'), (params['difficulty'] = o.difficulty));
  if (o.filter) {
    const f = FILTER_SQL[o.filter];
    summaryConds.push(f.q);
    if (f.o) oConds.push(f.o);
  }
  const qConds = [...keyConds.map((c) => `qs.${c}`), ...summaryConds];
  if (o.iteration !== undefined) params['iteration'] = o.iteration;
  const where = [...qConds, ...oConds, ...(o.iteration !== undefined ? ['o.iteration = @iteration'] : [])].join(' AND ');

  if (o.search) {
    // Driven by the matching samples (few, for a selective search), then sorted.
    params['search'] = likePattern(o.search);
    const tri = trigramQuery(o.search);
    if (tri) params['tri'] = tri;
    const textHits = tri
      ? `SELECT t.id FROM samples_fts f CROSS JOIN samples t ON t.id = f.rowid
         WHERE samples_fts MATCH @tri AND t.run_id = @run AND t.text LIKE @search ESCAPE '\\'`
      : `SELECT t.id FROM samples t WHERE t.run_id = @run AND t.${TRACE_KIND_SQL} AND t.text LIKE @search ESCAPE '\\'`;
    const questionHits = `SELECT t.id FROM question_summary q CROSS JOIN samples t INDEXED BY samples_trace
         ON t.run_id = q.run_id AND t.split = q.split AND t.question_id = q.question_id AND t.${TRACE_KIND_SQL}
       WHERE q.run_id = @run AND q.question LIKE @search ESCAPE '\\'`;
    const from = `WITH hits(id) AS MATERIALIZED (${textHits} UNION ${questionHits})
      SELECT %COLS% FROM hits h CROSS JOIN samples s ON s.id = h.id
      CROSS JOIN question_outcomes o ON o.run_id = s.run_id AND o.split = s.split AND o.question_id = s.question_id AND o.iteration = s.iteration
      CROSS JOIN question_summary qs ON ${JOIN_O}
      WHERE ${where}`;
    const total = (db.prepare(from.replace('%COLS%', 'count(*) AS n')).get(params) as { n: number }).n;
    const rows = db.prepare(`${from.replace('%COLS%', COLS)} ORDER BY ${ORDER} LIMIT @limit OFFSET @offset`).all({ ...params, limit, offset });
    return { total, rows: (rows as DbRow[]).map(toRow) };
  }

  // At one iteration the outcome rows there drive (index question_outcomes_iteration, in the
  // traces' order), with the question's summary looked up only when a filter needs it;
  // otherwise the matching questions drive.
  let from: string;
  let conds: string[];
  let groupKey: string;
  const atIteration = o.iteration !== undefined;
  if (atIteration) {
    // (a filter's conditions on the iteration read the summary too)
    const needQs = summaryConds.length > 0;
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
  const total = atIteration || oConds.length
    ? (db.prepare(`SELECT coalesce(SUM(o.samples), 0) AS n FROM ${from} WHERE ${drivenWhere}`).get(params) as { n: number }).n
    : (db.prepare(`SELECT coalesce(SUM(qs.samples), 0) AS n FROM question_summary qs WHERE ${where}`).get(params) as { n: number }).n;
  if (offset >= total) return { total, rows: [] };

  // A deep page starts at the question holding row `offset`, found from the per-question
  // counts (no sample is read to skip), so only the rest of the offset is skipped in samples.
  let skip = offset;
  const start: string[] = [];
  if (offset > 0) {
    const groups = atIteration || oConds.length
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

type DbRow = Omit<SampleDbRow, 'scores_json'>;

function toRow(r: DbRow): TraceRow {
  return {
    id: r.id,
    questionId: r.question_id,
    split: r.split,
    iteration: r.iteration,
    kind: r.kind,
    question: r.question,
    rationale: r.text,
    answer: r.answer,
    gold: r.gold,
    correct: r.correct === 1,
    viaHint: r.hint_used === 1,
    kept: r.kept === null ? null : r.kept === 1,
    difficulty: r.difficulty,
  };
}
