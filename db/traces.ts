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
 */
import type { DB } from './open';
import type { SampleDbRow } from './queries';
import type { TraceFilter, TraceQuery, TraceRow } from '../shared/contract';

const FILTER_SQL: Record<TraceFilter, string> = {
  'newly-solved': 'p.solved = 1 AND p.iteration = qs.first_solved',
  forgotten: 'p.solved = 0 AND qs.first_solved IS NOT NULL AND p.iteration > qs.first_solved',
  'never-solved': 'qs.first_solved IS NULL',
  'rationalized-only': 'qs.first_solved IS NULL AND qs.ever_hinted = 1',
};

/** LIKE pattern for a substring, with LIKE's own wildcards escaped. */
function likePattern(s: string): string {
  return `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** The matching rows (ordered by split, question, iteration) and how many match in all. */
export function queryTraces(db: DB, runId: string, o: TraceQuery = {}): { total: number; rows: TraceRow[] } {
  const where = ["s.run_id = @run", "s.kind IN ('direct', 'rationalized', 'eval')"];
  const params: Record<string, unknown> = { run: runId };
  if (o.filter) where.push(FILTER_SQL[o.filter]);
  if (o.iteration !== undefined) (where.push('s.iteration = @iteration'), (params['iteration'] = o.iteration));
  if (o.split) (where.push('s.split = @split'), (params['split'] = o.split));
  if (o.difficulty !== undefined) (where.push('s.difficulty = @difficulty'), (params['difficulty'] = o.difficulty));
  if (o.search) {
    where.push("(s.question LIKE @search ESCAPE '\\' OR s.text LIKE @search ESCAPE '\\')");
    params['search'] = likePattern(o.search);
  }
  const from = `
    WITH per AS (
      SELECT split, question_id, iteration,
             MAX(correct = 1 AND hint_used = 0) AS solved,
             MAX(correct = 1 AND hint_used = 1) AS hinted
      FROM samples WHERE run_id = @run AND kind IN ('direct', 'rationalized', 'eval')
      GROUP BY split, question_id, iteration
    ), qs AS (
      SELECT split, question_id, MIN(CASE WHEN solved = 1 THEN iteration END) AS first_solved, MAX(hinted) AS ever_hinted
      FROM per GROUP BY split, question_id
    )
    SELECT %COLS% FROM samples s
    JOIN per p ON p.split = s.split AND p.question_id = s.question_id AND p.iteration = s.iteration
    JOIN qs ON qs.split = s.split AND qs.question_id = s.question_id
    WHERE ${where.join(' AND ')}`;
  const total = (db.prepare(from.replace('%COLS%', 'count(*) AS n')).get(params) as { n: number }).n;
  const rows = db
    .prepare(
      `${from.replace('%COLS%', 's.id, s.question_id, s.split, s.iteration, s.kind, s.question, s.text, s.answer, s.gold, s.correct, s.hint_used, s.kept, s.difficulty')}
       ORDER BY s.split, s.question_id, s.iteration, s.id LIMIT @limit OFFSET @offset`,
    )
    .all({ ...params, limit: o.limit ?? 100, offset: o.offset ?? 0 }) as Omit<SampleDbRow, 'scores_json'>[];
  return {
    total,
    rows: rows.map((r) => ({
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
    })),
  };
}
