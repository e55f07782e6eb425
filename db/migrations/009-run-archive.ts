/**
 * Schema v9: runs.archived, 1 for a run put out of the runs table's way (shown again with "Show
 * archived"; nothing of it is removed). Kept in run.json's `labels` too (core/run-labels.ts),
 * so a reindex restores it.
 */
export const sql = /* sql */ `
ALTER TABLE runs ADD COLUMN archived INTEGER NOT NULL DEFAULT 0;
`;
