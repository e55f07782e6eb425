/** Schema v2: resuming a run. `resumed_at` is when the latest resume claimed the run (the grace
 * period for recording its new pid counts from there), `resume_count` how often it was resumed. */
export const sql = /* sql */ `
ALTER TABLE runs ADD COLUMN resumed_at REAL;
ALTER TABLE runs ADD COLUMN resume_count INTEGER NOT NULL DEFAULT 0;
`;
