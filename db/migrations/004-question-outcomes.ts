/**
 * Schema v4: per-question outcomes, so that the trace and solve-matrix queries never aggregate
 * a run's samples (10^6 rows) per request.
 *
 *   question_outcomes  one row per (run, split, question, iteration) with trace samples:
 *                      solved (a correct sample without the hint), hinted (correct through
 *                      the hint), samples (how many trace samples)
 *   question_summary   one row per (run, split, question): its text and difficulty (the first
 *                      non-null one stored), `cells` (char i+1 = the question's state at
 *                      iteration i: 0 not attempted, 1 wrong, 2 right only through the hint,
 *                      3 solved; never ends in 0), whether it was ever right through the hint,
 *                      its trace samples. first_solved, solved_count and last_unsolved are
 *                      generated from cells (forgotten = last_unsolved > first_solved).
 *   question_counts    per (run, split, iteration): how many questions are solved / right only
 *                      through the hint / wrong there (the solve matrix's columns and counts)
 *   samples_fts        trigram index of the trace samples' rationales (substring search),
 *                      by sample id; contentless: the text stays in samples
 *
 * Triggers on samples keep all four right for every writer (ingest, tests, imports): each
 * trace sample inserted is indexed and counted, each one deleted is removed by its id, and the
 * columns the outcomes and the index depend on cannot be updated. Dropping whole iterations row by row is
 * slow, so db/outcomes.ts dropIterationsAfter() registers the range in outcome_bulk_delete
 * (inside its transaction only), which the delete trigger skips, and updates the tables set-wise.
 * Existing data is backfilled here.
 */
import type { Database } from 'better-sqlite3';
import { rebuildOutcomes } from '../outcomes';

const TRACE = "('direct', 'rationalized', 'eval')";
/** A sample's cell: the max over a cell's samples is the cell's state. */
const CELL = (r: string) => `CASE WHEN ${r}.correct = 1 THEN (CASE WHEN ${r}.hint_used = 1 THEN '2' ELSE '3' END) ELSE '1' END`;
/** The cell at iteration `it` of cells `c` ('0' past the end). */
const CELL_AT = (c: string, it: string) => `coalesce(nullif(substr(${c}, ${it} + 1, 1), ''), '0')`;
/** cells `c` with the char at iteration `it` set to `ch` (padded with 0s as needed). */
const SET_CELL = (c: string, it: string, ch: string) =>
  `substr(${c} || substr(hex(zeroblob(max(0, ${it} + 1 - length(${c})))), 1, max(0, ${it} + 1 - length(${c}))), 1, ${it}) || ${ch} || substr(${c}, ${it} + 2)`;
const Q3 = (r: string) => `run_id = ${r}.run_id AND split = ${r}.split AND question_id = ${r}.question_id`;
const Q4 = (r: string) => `${Q3(r)} AND iteration = ${r}.iteration`;
/** question_counts' change for a cell going from o to n. */
const COUNT_DELTA = `(n = '3') - (o = '3'), (n = '2') - (o = '2'), (n = '1') - (o = '1')`;
const COUNT_UPSERT = `ON CONFLICT (run_id, split, iteration) DO UPDATE SET
      solved = solved + excluded.solved, hinted = hinted + excluded.hinted, wrong = wrong + excluded.wrong`;

export const sql = /* sql */ `
CREATE TABLE question_outcomes (
  run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  split        TEXT NOT NULL,
  question_id  TEXT NOT NULL,
  iteration    INTEGER NOT NULL,
  solved       INTEGER NOT NULL,
  hinted       INTEGER NOT NULL,
  samples      INTEGER NOT NULL,
  PRIMARY KEY (run_id, split, question_id, iteration)
) WITHOUT ROWID;
-- Traces at one iteration (in the traces' order), and dropping the iterations after one.
CREATE INDEX question_outcomes_iteration ON question_outcomes(run_id, iteration, split, question_id, solved, samples);

CREATE TABLE question_summary (
  run_id         TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  split          TEXT NOT NULL,
  question_id    TEXT NOT NULL,
  question       TEXT NOT NULL,
  difficulty     INTEGER,
  cells          TEXT NOT NULL DEFAULT '',
  ever_hinted    INTEGER NOT NULL DEFAULT 0,
  samples        INTEGER NOT NULL DEFAULT 0,
  first_solved   INTEGER GENERATED ALWAYS AS (nullif(instr(cells, '3'), 0) - 1) VIRTUAL,
  solved_count   INTEGER GENERATED ALWAYS AS (length(cells) - length(replace(cells, '3', ''))) VIRTUAL,
  last_unsolved  INTEGER GENERATED ALWAYS AS (nullif(length(rtrim(cells, '03')), 0) - 1) VIRTUAL,
  PRIMARY KEY (run_id, split, question_id)
) WITHOUT ROWID;
-- Filters (never solved / first solved at an iteration) and the solve matrix's sorts.
CREATE INDEX question_summary_first_solved ON question_summary(run_id, first_solved);
CREATE INDEX question_summary_solved_count ON question_summary(run_id, solved_count);
CREATE INDEX question_summary_difficulty ON question_summary(run_id, difficulty);

CREATE TABLE question_counts (
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  split      TEXT NOT NULL,
  iteration  INTEGER NOT NULL,
  solved     INTEGER NOT NULL,
  hinted     INTEGER NOT NULL,
  wrong      INTEGER NOT NULL,
  PRIMARY KEY (run_id, split, iteration)
) WITHOUT ROWID;

-- Rows here only while dropIterationsAfter() runs (in its transaction): the delete trigger
-- skips samples of these iterations, whose outcomes it updates set-wise.
CREATE TABLE outcome_bulk_delete (
  run_id           TEXT PRIMARY KEY,
  after_iteration  INTEGER NOT NULL
) WITHOUT ROWID;

-- A question's trace samples at an iteration, in the traces' order (split, question, iteration, id).
CREATE INDEX samples_trace ON samples(run_id, split, question_id, iteration)
  WHERE kind IN ${TRACE};

-- Contentless with deletes by rowid: a delete needs no text (so the index cannot be handed
-- text it did not index) and costs a tombstone, not one entry per trigram. Queries match an
-- AND of trigrams (db/traces.ts) and recheck the text in samples.
CREATE VIRTUAL TABLE samples_fts USING fts5(
  text, content = '', contentless_delete = 1, tokenize = 'trigram', detail = 'none'
);
-- Merge segments less eagerly than the default (4, 16): about 10% faster ingest, the index
-- being written ~300 trigrams per sample.
INSERT INTO samples_fts (samples_fts, rank) VALUES ('automerge', 8);
INSERT INTO samples_fts (samples_fts, rank) VALUES ('crisismerge', 32);

CREATE TRIGGER samples_trace_inserted AFTER INSERT ON samples
WHEN new.kind IN ${TRACE}
BEGIN
  INSERT INTO samples_fts (rowid, text) VALUES (new.id, new.text);
  INSERT INTO question_outcomes (run_id, split, question_id, iteration, solved, hinted, samples)
    VALUES (new.run_id, new.split, new.question_id, new.iteration,
            new.correct = 1 AND new.hint_used = 0, new.correct = 1 AND new.hint_used = 1, 1)
    ON CONFLICT (run_id, split, question_id, iteration) DO UPDATE SET
      solved = max(solved, excluded.solved), hinted = max(hinted, excluded.hinted), samples = samples + 1;
  INSERT INTO question_summary (run_id, split, question_id, question, difficulty, ever_hinted, samples)
    VALUES (new.run_id, new.split, new.question_id, new.question, new.difficulty, new.correct = 1 AND new.hint_used = 1, 1)
    ON CONFLICT (run_id, split, question_id) DO UPDATE SET
      samples = samples + 1, ever_hinted = max(ever_hinted, excluded.ever_hinted);
  -- (separate statements so that the indexed columns are written only when they change)
  UPDATE question_summary SET difficulty = new.difficulty
    WHERE ${Q3('new')} AND difficulty IS NULL AND new.difficulty IS NOT NULL;
  INSERT INTO question_counts (run_id, split, iteration, solved, hinted, wrong)
    SELECT new.run_id, new.split, new.iteration, ${COUNT_DELTA}
    FROM (SELECT o, max(o, ${CELL('new')}) AS n FROM (SELECT ${CELL_AT('cells', 'new.iteration')} AS o FROM question_summary WHERE ${Q3('new')}))
    WHERE n <> o
    ${COUNT_UPSERT};
  UPDATE question_summary SET cells = ${SET_CELL('cells', 'new.iteration', CELL('new'))}
    WHERE ${Q3('new')} AND ${CELL_AT('cells', 'new.iteration')} < ${CELL('new')};
END;

CREATE TRIGGER samples_trace_deleted AFTER DELETE ON samples
WHEN old.kind IN ${TRACE}
  AND NOT EXISTS (SELECT 1 FROM outcome_bulk_delete b WHERE b.run_id = old.run_id AND old.iteration > b.after_iteration)
BEGIN
  DELETE FROM samples_fts WHERE rowid = old.id;
  DELETE FROM question_outcomes WHERE ${Q4('old')};
  INSERT INTO question_outcomes (run_id, split, question_id, iteration, solved, hinted, samples)
    SELECT run_id, split, question_id, iteration,
           MAX(correct = 1 AND hint_used = 0), MAX(correct = 1 AND hint_used = 1), count(*)
    FROM samples
    WHERE ${Q4('old')} AND kind IN ${TRACE}
    GROUP BY run_id, split, question_id, iteration;
  INSERT INTO question_counts (run_id, split, iteration, solved, hinted, wrong)
    SELECT old.run_id, old.split, old.iteration, ${COUNT_DELTA}
    FROM (SELECT o, coalesce((SELECT CASE WHEN solved = 1 THEN '3' WHEN hinted = 1 THEN '2' ELSE '1' END
                              FROM question_outcomes WHERE ${Q4('old')}), '0') AS n
          FROM (SELECT ${CELL_AT('cells', 'old.iteration')} AS o FROM question_summary WHERE ${Q3('old')}))
    WHERE n <> o
    ${COUNT_UPSERT};
  DELETE FROM question_counts
    WHERE run_id = old.run_id AND split = old.split AND iteration = old.iteration AND solved = 0 AND hinted = 0 AND wrong = 0;
  UPDATE question_summary SET
      samples = samples - 1,
      ever_hinted = coalesce((SELECT MAX(hinted) FROM question_outcomes WHERE ${Q3('old')}), 0),
      cells = rtrim(${SET_CELL('cells', 'old.iteration', `coalesce((SELECT CASE WHEN solved = 1 THEN '3' WHEN hinted = 1 THEN '2' ELSE '1' END FROM question_outcomes WHERE ${Q4('old')}), '0')`)}, '0')
    WHERE ${Q3('old')};
  DELETE FROM question_summary WHERE ${Q3('old')} AND samples <= 0;
END;

-- The outcomes and the search index depend on these columns: changing them in place would
-- desynchronise both (delete the sample and insert it again instead).
CREATE TRIGGER samples_trace_immutable BEFORE UPDATE OF id, run_id, split, question_id, iteration, kind, text, correct, hint_used ON samples
WHEN (old.kind IN ${TRACE} OR new.kind IN ${TRACE})
  AND (old.id IS NOT new.id OR old.run_id IS NOT new.run_id OR old.split IS NOT new.split OR old.question_id IS NOT new.question_id
       OR old.iteration IS NOT new.iteration OR old.kind IS NOT new.kind OR old.text IS NOT new.text
       OR old.correct IS NOT new.correct OR old.hint_used IS NOT new.hint_used)
BEGIN
  SELECT RAISE(ABORT, 'samples: a trace sample''s id, run_id, split, question_id, iteration, kind, text, correct and hint_used cannot be updated (delete it and insert it again)');
END;
`;

export function up(db: Database): void {
  db.exec(sql);
  rebuildOutcomes(db);
}
