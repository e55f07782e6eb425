/**
 * Schema v8: a run's name, as its author gave it (a script's `starlab.init(name=…)`); NULL
 * shows the name made from its variant, dataset and seed. runs.executor gains the value
 * 'script': a run a script registered itself (experiments/starlab/lab_dir.py), which the lab
 * watches but never starts, resumes or retries.
 */
export const sql = /* sql */ `
ALTER TABLE runs ADD COLUMN name TEXT;
`;
