/**
 * Schema v6: ingest keeps the lines it does not apply, and a resume deletes nothing until the
 * resumed process has loaded its checkpoint.
 * - run_events.hash: a 48-bit hash of the line an event came from, so a later line repeating
 *   the seq with other content is told apart from the same line read twice (NULL: ingested
 *   before v6, not compared).
 * - run_events.note: why a well-formed event was kept but not applied (it came after the
 *   run's run_end, or it is a run_start of another run); NULL for applied and unknown events.
 * - rejected_lines.kind: 'malformed' (not an event) or 'conflict' (a seq already ingested
 *   with other content).
 * - runs.ignored_events: events and lines kept but not applied (notes and conflicts).
 * - runs.resume_prev_json: the run's ending (status, reason, exit, end event) while a resume
 *   is starting; the resumed process's `resumed` event clears it, and a resume that ends
 *   before that puts the ending back.
 */
export const sql = /* sql */ `
ALTER TABLE run_events ADD COLUMN hash INTEGER;
ALTER TABLE run_events ADD COLUMN note TEXT;
ALTER TABLE rejected_lines ADD COLUMN kind TEXT NOT NULL DEFAULT 'malformed';
ALTER TABLE runs ADD COLUMN ignored_events INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN resume_prev_json TEXT;
`;
