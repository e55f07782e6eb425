/**
 * Schema v10: event_spans, the (run, seq) gate of metrics events, a row per stretch of
 * consecutive seqs instead of a run_events row per event (issue 17: that row cost most of
 * what ingest paid beyond a raw insert). A seq is ingested when it is in run_events or inside
 * one of its run's spans (db/event-gate.ts); spans never overlap each other or run_events.
 * hashes: the 48-bit line hash of each seq in order, 6 bytes big-endian apiece, so a later
 * line reusing a seq with other content is still told from the same line read again.
 * t_min/t_max: the events' earliest and latest times. A span holds at most 4096 seqs, so the
 * spans that can cover a seq are found by one range of the primary key.
 */
export const sql = /* sql */ `
CREATE TABLE event_spans (
  run_id    TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  first_seq INTEGER NOT NULL,
  last_seq  INTEGER NOT NULL,
  t_min     REAL NOT NULL,
  t_max     REAL NOT NULL,
  hashes    BLOB NOT NULL,
  PRIMARY KEY (run_id, first_seq),
  CHECK (last_seq >= first_seq AND last_seq - first_seq < 4096 AND length(hashes) = 6 * (last_seq - first_seq + 1))
) WITHOUT ROWID;
`;
