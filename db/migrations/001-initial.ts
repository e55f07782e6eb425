/** Schema v1. Timestamps are unix seconds (REAL). */
export const sql = /* sql */ `
CREATE TABLE experiment_groups (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  created_at  REAL NOT NULL,
  spec_json   TEXT
);

CREATE TABLE runs (
  id                 TEXT PRIMARY KEY,
  group_id           TEXT REFERENCES experiment_groups(id) ON DELETE SET NULL,
  variant            TEXT NOT NULL,
  dataset            TEXT NOT NULL,
  preset             TEXT NOT NULL,
  seed               INTEGER NOT NULL,
  model              TEXT NOT NULL,
  config_json        TEXT NOT NULL,
  config_hash        TEXT NOT NULL,
  status             TEXT NOT NULL CHECK (status IN ('queued', 'running', 'completed', 'failed', 'stopped')),
  status_reason      TEXT,
  created_at         REAL NOT NULL,
  started_at         REAL,
  ended_at           REAL,
  pid                INTEGER,
  pid_start_time     INTEGER,
  exit_code          INTEGER,
  signal             TEXT,
  stderr_tail        TEXT,
  run_dir            TEXT NOT NULL,
  python             TEXT,
  stop_requested_at  REAL,
  malformed_lines    INTEGER NOT NULL DEFAULT 0,
  unknown_events     INTEGER NOT NULL DEFAULT 0,
  env_json           TEXT,
  hashes_json        TEXT,
  start_config_json  TEXT,
  end_status         TEXT,
  end_error          TEXT,
  end_t              REAL,
  last_event_at      REAL,
  current_iteration  INTEGER,
  current_phase      TEXT,
  progress_done      INTEGER,
  progress_total     INTEGER,
  latest_accuracy    REAL
);
CREATE INDEX runs_status ON runs(status);
CREATE INDEX runs_created ON runs(created_at);
CREATE INDEX runs_group ON runs(group_id);

-- The idempotency gate: an event whose (run_id, seq) is here has been applied.
CREATE TABLE run_events (
  run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  seq      INTEGER NOT NULL,
  type     TEXT NOT NULL,
  t        REAL NOT NULL,
  payload  TEXT,               -- raw line, kept for unknown types / newer versions only
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Clustered on (run_id, name, step): reading a run's curves is one sequential range scan.
-- (run_id, seq, name) is unique too, since one metrics event has one step.
CREATE TABLE metrics (
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  name       TEXT NOT NULL,
  iteration  INTEGER NOT NULL,
  step       INTEGER NOT NULL,
  value      REAL NOT NULL,
  t          REAL NOT NULL,
  PRIMARY KEY (run_id, name, step, seq)
) WITHOUT ROWID;

CREATE TABLE samples (
  id           INTEGER PRIMARY KEY,
  run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  seq          INTEGER NOT NULL,
  idx          INTEGER NOT NULL,
  iteration    INTEGER NOT NULL,
  split        TEXT NOT NULL,
  kind         TEXT NOT NULL,
  question_id  TEXT NOT NULL,
  question     TEXT NOT NULL,
  text         TEXT NOT NULL,
  answer       TEXT,
  gold         TEXT NOT NULL,
  correct      INTEGER NOT NULL,
  hint_used    INTEGER NOT NULL,
  kept         INTEGER,
  difficulty   INTEGER,
  scores_json  TEXT,
  UNIQUE (run_id, seq, idx)
);
CREATE INDEX samples_run_iteration ON samples(run_id, iteration);
CREATE INDEX samples_run_question ON samples(run_id, question_id);

CREATE TABLE phases (
  run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  iteration   INTEGER NOT NULL,
  phase       TEXT NOT NULL,
  started_at  REAL NOT NULL,
  ended_at    REAL,
  duration_s  REAL,
  PRIMARY KEY (run_id, iteration, phase)
) WITHOUT ROWID;

CREATE TABLE artifacts (
  id         INTEGER PRIMARY KEY,
  run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  seq        INTEGER NOT NULL,
  name       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  path       TEXT NOT NULL,
  size       INTEGER,
  iteration  INTEGER,
  t          REAL NOT NULL,
  UNIQUE (run_id, seq)
);

CREATE TABLE logs (
  id       INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  t        REAL NOT NULL,
  source   TEXT NOT NULL CHECK (source IN ('event', 'stdout', 'stderr', 'supervisor')),
  level    TEXT NOT NULL,
  message  TEXT NOT NULL
);
CREATE INDEX logs_run_id ON logs(run_id, id);

-- Where ingest of a run's files has got to; committed with each batch.
CREATE TABLE ingest_cursors (
  run_id         TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  offset         INTEGER NOT NULL DEFAULT 0,
  line_no        INTEGER NOT NULL DEFAULT 0,
  last_seq       INTEGER NOT NULL DEFAULT 0,
  stdout_offset  INTEGER NOT NULL DEFAULT 0,
  stderr_offset  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE rejected_lines (
  id       INTEGER PRIMARY KEY,
  run_id   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  line_no  INTEGER NOT NULL,
  reason   TEXT NOT NULL,
  text     TEXT NOT NULL,
  UNIQUE (run_id, line_no)
);

CREATE TABLE settings (
  key    TEXT PRIMARY KEY,
  value  TEXT NOT NULL
);
`;
