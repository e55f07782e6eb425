/**
 * Schema v5: blind rationale rating (the STaR paper's human evaluation).
 *
 * A task compares two sources (a run at an iteration, or each question's latest) on one split.
 * Its items are the pairs in a fixed random order with a random left/right side per item, both
 * drawn once from `seed`, so a resumed task shows the same pairs the same way.
 *
 * Ratings are human work and must outlive the runs they judge, so everything a summary or the
 * unblinded export needs is copied at creation: the source labels and run ids into the task
 * (plain text, no foreign key: the run may be deleted later), the question and both rationales
 * into the item. The items' sample ids are real foreign keys with ON DELETE SET NULL: deleting
 * a run (which cascades to its samples) only clears the link back to the sample, never leaves
 * an id pointing at nothing (sample ids can be reused) and never breaks a query. The two
 * indexes keep that SET NULL from scanning every item per deleted sample.
 *
 * A rating is one row per item (re-rating overwrites), stored as the rater saw it (left/right);
 * `a_left` maps it back to the sources.
 */
export const sql = /* sql */ `
CREATE TABLE rating_tasks (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL,
  rater         TEXT NOT NULL,
  created_at    REAL NOT NULL,
  split         TEXT NOT NULL CHECK (split IN ('train', 'eval')),
  only_correct  INTEGER NOT NULL CHECK (only_correct IN (0, 1)),
  seed          INTEGER NOT NULL,
  a_run_id      TEXT NOT NULL,
  a_iteration   INTEGER,
  a_label       TEXT NOT NULL,
  b_run_id      TEXT NOT NULL,
  b_iteration   INTEGER,
  b_label       TEXT NOT NULL
);

CREATE TABLE rating_items (
  task_id      INTEGER NOT NULL REFERENCES rating_tasks(id) ON DELETE CASCADE,
  position     INTEGER NOT NULL,
  question_id  TEXT NOT NULL,
  question     TEXT NOT NULL,
  gold         TEXT NOT NULL,
  a_left       INTEGER NOT NULL CHECK (a_left IN (0, 1)),
  a_sample_id  INTEGER REFERENCES samples(id) ON DELETE SET NULL,
  a_iteration  INTEGER NOT NULL,
  a_text       TEXT NOT NULL,
  a_answer     TEXT,
  a_correct    INTEGER NOT NULL,
  a_hint_used  INTEGER NOT NULL,
  b_sample_id  INTEGER REFERENCES samples(id) ON DELETE SET NULL,
  b_iteration  INTEGER NOT NULL,
  b_text       TEXT NOT NULL,
  b_answer     TEXT,
  b_correct    INTEGER NOT NULL,
  b_hint_used  INTEGER NOT NULL,
  PRIMARY KEY (task_id, position)
) WITHOUT ROWID;
CREATE INDEX rating_items_a_sample ON rating_items(a_sample_id);
CREATE INDEX rating_items_b_sample ON rating_items(b_sample_id);

CREATE TABLE ratings (
  task_id     INTEGER NOT NULL,
  position    INTEGER NOT NULL,
  rater       TEXT NOT NULL,
  choice      TEXT NOT NULL CHECK (choice IN ('left', 'right', 'both', 'neither')),
  flag_left   INTEGER NOT NULL CHECK (flag_left IN (0, 1)),
  flag_right  INTEGER NOT NULL CHECK (flag_right IN (0, 1)),
  rated_at    REAL NOT NULL,
  PRIMARY KEY (task_id, position),
  FOREIGN KEY (task_id, position) REFERENCES rating_items(task_id, position) ON DELETE CASCADE
) WITHOUT ROWID;
`;
