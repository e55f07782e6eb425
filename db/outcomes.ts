/**
 * Per-question outcomes (schema v4, see db/migrations/004-question-outcomes.ts). Triggers on
 * samples keep question_outcomes, question_summary, question_counts and the search index
 * samples_fts right for every writer; this module has the set-wise paths: dropping the
 * iterations after a checkpoint (resume), and rebuilding everything from the samples.
 *
 * "Solved" at an iteration = a correct trace sample without the hint; "hinted" = correct
 * through the hint. Trace samples are the kinds direct, rationalized and eval (V-STaR's
 * test-time candidates are not traces).
 */
import type { DB } from './open';

export const TRACE_KINDS: readonly string[] = ['direct', 'rationalized', 'eval'];
/** The SQL condition selecting trace samples; it must read exactly so to use the partial index samples_trace. */
export const TRACE_KIND_SQL = "kind IN ('direct', 'rationalized', 'eval')";

/**
 * The largest iteration whose samples are stored: question_summary.cells holds one character
 * per iteration, so an absurd iteration number would make every question's row huge.
 */
export const MAX_ITERATION = 10_000;

/** question_summary.cells' characters, as the solve matrix shows them (shared/analysis SolveCell). */
const CELL_CHARS: Record<string, string> = { '0': '.', '1': 'W', '2': 'H', '3': 'S' };

/** One solve-matrix cell per entry of `iterations`, read from a question_summary.cells string. */
export function cellsAt(cells: string, iterations: readonly number[]): string {
  let out = '';
  for (const it of iterations) out += CELL_CHARS[cells[it] ?? '0'] ?? '.';
  return out;
}

/** The stored cell character of a row of question_outcomes. */
const OUTCOME_CELL = "CASE WHEN solved = 1 THEN '3' WHEN hinted = 1 THEN '2' ELSE '1' END";

/**
 * Delete a run's samples of the iterations after `iteration` (-1: all of them) and update the
 * outcomes set-wise: the search index entries by id in one statement, the outcome and count rows of those
 * iterations by range, the touched questions' summaries by truncating their cells. The delete
 * trigger skips these rows (outcome_bulk_delete), which would otherwise redo a question's
 * outcomes per deleted sample. Returns the number of samples deleted. Runs in a transaction
 * (a savepoint when called inside one).
 */
export function dropIterationsAfter(db: DB, runId: string, iteration: number): number {
  if (!Number.isInteger(iteration) || iteration < -1)
    throw new Error(`dropIterationsAfter: iteration must be an integer >= -1, got ${iteration}`);
  const p = { run: runId, it: iteration };
  return db.transaction(() => {
    db.prepare(
      `DELETE FROM samples_fts WHERE rowid IN (SELECT id FROM samples WHERE run_id = @run AND iteration > @it AND ${TRACE_KIND_SQL})`,
    ).run(p);
    db.prepare('INSERT INTO outcome_bulk_delete (run_id, after_iteration) VALUES (@run, @it)').run(p);
    const n = db.prepare('DELETE FROM samples WHERE run_id = @run AND iteration > @it').run(p).changes;
    db.prepare('DELETE FROM outcome_bulk_delete WHERE run_id = @run').run(p);
    db.prepare('DELETE FROM question_outcomes WHERE run_id = @run AND iteration > @it').run(p);
    db.prepare('DELETE FROM question_counts WHERE run_id = @run AND iteration > @it').run(p);
    // cells never end in '0', so a question was attempted after `it` iff its cells are longer.
    db.prepare(
      `UPDATE question_summary SET cells = rtrim(substr(cells, 1, @it + 1), '0'),
         (ever_hinted, samples) = (SELECT coalesce(MAX(o.hinted), 0), coalesce(SUM(o.samples), 0) FROM question_outcomes o
                                   WHERE o.run_id = question_summary.run_id AND o.split = question_summary.split AND o.question_id = question_summary.question_id)
       WHERE run_id = @run AND length(cells) > @it + 1`,
    ).run(p);
    db.prepare('DELETE FROM question_summary WHERE run_id = @run AND samples = 0').run(p);
    return n;
  })();
}

/**
 * Recompute all outcomes, summaries, counts and the search index from the samples table (the
 * migration's backfill; also a check of the triggers' upkeep).
 */
export function rebuildOutcomes(db: DB): void {
  db.exec(/* sql */ `
    DELETE FROM question_outcomes;
    DELETE FROM question_summary;
    DELETE FROM question_counts;
    INSERT INTO question_outcomes (run_id, split, question_id, iteration, solved, hinted, samples)
      SELECT run_id, split, question_id, iteration,
             MAX(correct = 1 AND hint_used = 0), MAX(correct = 1 AND hint_used = 1), count(*)
      FROM samples WHERE ${TRACE_KIND_SQL}
      GROUP BY run_id, split, question_id, iteration;
    -- cells: per outcome row, as many '0's as iterations skipped since the previous one, then its cell
    INSERT INTO question_summary (run_id, split, question_id, question, difficulty, cells, ever_hinted, samples)
      SELECT o.run_id, o.split, o.question_id,
             (SELECT s.question FROM samples s
               WHERE s.run_id = o.run_id AND s.split = o.split AND s.question_id = o.question_id AND s.${TRACE_KIND_SQL}
               ORDER BY s.id LIMIT 1),
             (SELECT s.difficulty FROM samples s
               WHERE s.run_id = o.run_id AND s.split = o.split AND s.question_id = o.question_id AND s.${TRACE_KIND_SQL}
                 AND s.difficulty IS NOT NULL
               ORDER BY s.id LIMIT 1),
             group_concat(substr(hex(zeroblob(o.gap)), 1, o.gap) || o.cell, '' ORDER BY o.iteration),
             MAX(o.hinted), SUM(o.samples)
      FROM (SELECT run_id, split, question_id, iteration, hinted, samples, ${OUTCOME_CELL} AS cell,
                   iteration - 1 - coalesce(lag(iteration) OVER (PARTITION BY run_id, split, question_id ORDER BY iteration), -1) AS gap
            FROM question_outcomes) o
      GROUP BY o.run_id, o.split, o.question_id;
    INSERT INTO question_counts (run_id, split, iteration, solved, hinted, wrong)
      SELECT run_id, split, iteration, SUM(solved), SUM(solved = 0 AND hinted = 1), SUM(solved = 0 AND hinted = 0)
      FROM question_outcomes GROUP BY run_id, split, iteration;
    INSERT INTO samples_fts (samples_fts) VALUES ('delete-all');
    INSERT INTO samples_fts (rowid, text) SELECT id, text FROM samples WHERE ${TRACE_KIND_SQL};
  `);
}
