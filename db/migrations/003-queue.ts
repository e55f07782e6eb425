/** Schema v3: the run queue. `gpu_slot` is the CUDA_VISIBLE_DEVICES value a run was started
 * with (null: none assigned); `retry_of` links a retried run to the run it repeats. */
export const sql = /* sql */ `
ALTER TABLE runs ADD COLUMN gpu_slot TEXT;
ALTER TABLE runs ADD COLUMN retry_of TEXT;
CREATE INDEX runs_queued ON runs(status, created_at);
`;
