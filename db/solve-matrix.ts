/**
 * The solve matrix: a run's questions × iterations, one cell per question and iteration
 * (S solved, H right only through the hint, W attempted and wrong, . not attempted), read from
 * question_summary's cells and question_counts (db/migrations/004-question-outcomes.ts). A question matches a trace filter
 * when any of its rows would (db/traces.ts): newly-solved = ever solved, forgotten = not solved
 * at some iteration after its first solve, never-solved, rationalized-only.
 */
import type { DB } from './open';
import { FILTER_SQL, likePattern } from './traces';
import { cellsAt } from './outcomes';
import type { SolveMatrix, SolveMatrixQuery, SolveMatrixRow, SolveSort } from '../shared/analysis';

export const SOLVE_MATRIX_DEFAULT_LIMIT = 200;

/** ORDER BY per sort; ties (and 'question') by split and question id. Unknown values (null) go last either way. */
function orderBy(sort: SolveSort, desc: boolean): string {
  const d = desc ? 'DESC' : 'ASC';
  switch (sort) {
    case 'question':
      return `qs.split ${d}, qs.question_id ${d}`;
    case 'first-solved':
      return `qs.first_solved IS NULL, qs.first_solved ${d}, qs.split, qs.question_id`;
    case 'solved-count':
      return `qs.solved_count ${d}, qs.split, qs.question_id`;
    case 'difficulty':
      return `qs.difficulty IS NULL, qs.difficulty ${d}, qs.split, qs.question_id`;
  }
}

export function querySolveMatrix(db: DB, runId: string, o: SolveMatrixQuery = {}): SolveMatrix {
  const limit = o.limit ?? SOLVE_MATRIX_DEFAULT_LIMIT;
  const offset = o.offset ?? 0;
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`solve matrix: limit must be a positive integer, got ${limit}`);
  if (!Number.isInteger(offset) || offset < 0) throw new Error(`solve matrix: offset must be a non-negative integer, got ${offset}`);
  const sort = o.sort ?? 'question';
  if (!['question', 'first-solved', 'solved-count', 'difficulty'].includes(sort))
    throw new Error(`solve matrix: unknown sort "${String(sort)}"`);
  if (o.filter !== undefined && !(o.filter in FILTER_SQL)) throw new Error(`solve matrix: unknown filter "${String(o.filter)}"`);

  const conds = ['qs.run_id = @run'];
  const params: Record<string, unknown> = { run: runId };
  if (o.split) {
    conds.push('qs.split = @split');
    params['split'] = o.split;
  }
  const narrowed = o.filter !== undefined || o.difficulty !== undefined || !!o.search;
  if (o.filter) conds.push(FILTER_SQL[o.filter].q);
  if (o.difficulty !== undefined) {
    conds.push('qs.difficulty = @difficulty');
    params['difficulty'] = o.difficulty;
  }
  if (o.search) {
    conds.push("qs.question LIKE @search ESCAPE '\\'");
    params['search'] = likePattern(o.search);
  }
  const where = conds.join(' AND ');

  // Columns: the iterations with a counted cell (question_counts: a few rows per iteration).
  const splitCond = o.split ? ' AND split = @split' : '';
  const iterations = db
    .prepare(`SELECT DISTINCT iteration FROM question_counts WHERE run_id = @run${splitCond} ORDER BY iteration`)
    .pluck()
    .all(params) as number[];

  // Each question's cells are one string in its summary row (char i+1 = iteration i), so a
  // page needs no per-row lookups.
  const page = db
    .prepare(
      // the question's text for the hover (its first 300 characters; an index seek per row of the page)
      `SELECT qs.split, qs.question_id, qs.difficulty, qs.first_solved, qs.solved_count, qs.cells,
              (SELECT substr(s.question, 1, 300) FROM samples s
                WHERE s.run_id = @run AND s.split = qs.split AND s.question_id = qs.question_id LIMIT 1) AS question
       FROM question_summary qs
       WHERE ${where} ORDER BY ${orderBy(sort, o.descending ?? false)} LIMIT @limit OFFSET @offset`,
    )
    .all({ ...params, limit, offset }) as {
    split: string;
    question_id: string;
    difficulty: number | null;
    first_solved: number | null;
    solved_count: number;
    cells: string;
    question: string | null;
  }[];
  const rows: SolveMatrixRow[] = page.map((q) => ({
    questionId: q.question_id,
    question: q.question,
    split: q.split,
    difficulty: q.difficulty,
    firstSolved: q.first_solved,
    solvedCount: q.solved_count,
    cells: cellsAt(q.cells, iterations),
  }));

  // Per-iteration counts over all matching questions (not just the page): unnarrowed, the
  // maintained per-iteration counts; narrowed, counted from the matching questions' cells.
  const col = new Map(iterations.map((it, i) => [it, i]));
  const counts = iterations.map(() => ({ solved: 0, hinted: 0, wrong: 0 }));
  let total = 0;
  if (!narrowed) {
    total = (db.prepare(`SELECT count(*) AS n FROM question_summary qs WHERE ${where}`).get(params) as { n: number }).n;
    const sums = db.prepare(
      `SELECT iteration AS it, SUM(solved) AS s, SUM(hinted) AS h, SUM(wrong) AS w FROM question_counts
       WHERE run_id = @run${splitCond} GROUP BY iteration`,
    );
    for (const c of sums.all(params) as { it: number; s: number; h: number; w: number }[]) {
      const i = col.get(c.it);
      if (i !== undefined) counts[i] = { solved: c.s, hinted: c.h, wrong: c.w };
    }
  } else {
    for (const cells of db.prepare(`SELECT qs.cells FROM question_summary qs WHERE ${where}`).pluck().iterate(params) as Iterable<string>) {
      total++;
      iterations.forEach((it, i) => {
        const c = cells[it];
        if (c === '3') counts[i]!.solved++;
        else if (c === '2') counts[i]!.hinted++;
        else if (c === '1') counts[i]!.wrong++;
      });
    }
  }
  return { iterations, total, rows, counts };
}
