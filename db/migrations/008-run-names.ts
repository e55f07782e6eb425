/**
 * Schema v8: what people call and note about a run.
 * - runs.name: the name its author gave it (a script's `starlab.init(name=…)`, or edited);
 *   NULL shows the name made from its variant, dataset and seed (shared/run-name.ts).
 * - runs.tags_json: its tags, a JSON array of strings; runs.notes: free text.
 * run.json keeps the same under `labels` (core/run-labels.ts), so a reindex restores them.
 * runs.executor gains the value 'script': a run a script registered itself
 * (experiments/starlab/lab_dir.py), which the lab watches but never starts, resumes or retries.
 */
export const sql = /* sql */ `
ALTER TABLE runs ADD COLUMN name TEXT;
ALTER TABLE runs ADD COLUMN tags_json TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runs ADD COLUMN notes TEXT;
`;
