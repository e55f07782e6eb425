/**
 * Schema v7: where a run's process lives.
 * - runs.executor: 'local' (a process group on this machine, identified by pid and start time)
 *   or 'slurm' (a batch job, identified by its job id).
 * - runs.job_id: the Slurm job id (NULL for local runs, and until sbatch answered).
 * - runs.executor_json: the options the run was submitted with (partition, time limit, …), so a
 *   queued run starts, and a resumed run is resubmitted, as it was asked for.
 */
export const sql = /* sql */ `
ALTER TABLE runs ADD COLUMN executor TEXT NOT NULL DEFAULT 'local';
ALTER TABLE runs ADD COLUMN job_id TEXT;
ALTER TABLE runs ADD COLUMN executor_json TEXT;
`;
