/**
 * Where a run is asked to run: this machine (the default) or a Slurm cluster, with the job's
 * resources. Validated before anything is submitted; stored on the run (runs.executor_json) so
 * a queued run starts, and a resumed run is resubmitted, as it was asked for.
 */
import { z } from 'zod';

const slurmName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." and "-" only (at most 64)');

export const slurmOptionsSchema = z
  .object({
    partition: slurmName.optional(),
    account: slurmName.optional(),
    qos: slurmName.optional(),
    /** Time limit as sbatch reads it: minutes, MM:SS, HH:MM:SS, D-HH or D-HH:MM:SS. */
    time: z
      .string()
      .regex(/^(\d{1,3}-)?\d{1,5}(:\d{2}){0,2}$/, 'a Slurm time limit: minutes, HH:MM:SS or D-HH:MM:SS')
      .optional(),
    cpus: z.number().int().min(1).max(4096).optional(),
    /** GPUs of the job; with `nodes`, of each node. */
    gpus: z.number().int().min(0).max(64).optional(),
    /**
     * Nodes of the job: srun starts torchrun once on each, its ranks meeting at the job's first
     * node (runtime.nproc processes per node). Absent: one node, torchrun inside the job.
     */
    nodes: z.number().int().min(1).max(1024).optional(),
    /** Memory per node as sbatch reads it, e.g. 16G. */
    mem: z
      .string()
      .regex(/^\d{1,9}[KMGT]?$/, 'a Slurm memory size such as 16G')
      .optional(),
  })
  .strict();
export type SlurmOptions = z.infer<typeof slurmOptionsSchema>;

export const executorSpecSchema = z
  .object({
    kind: z.enum(['local', 'slurm']),
    slurm: slurmOptionsSchema.optional(),
  })
  .strict();
export type ExecutorSpec = z.infer<typeof executorSpecSchema>;
