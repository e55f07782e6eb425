/**
 * runs/<id>/run.json: what the database knows of a run that its config and events do not say
 * (its id, when it was created, its ablation group, the run it retries, where it was asked to
 * run). Written when a run is created; read by `starlab reindex`, which rebuilds the database
 * from the run directories.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { executorSpecSchema } from '../shared/executor-spec';

export const RUN_RECORD_FILE = 'run.json';

const scriptRecordSchema = z.object({
  project: z.string().max(200).nullable(),
  name: z.string().max(200).nullable(),
  pid: z.number().int().positive(),
  startTime: z.number().int().nonnegative().nullable(),
  argv: z.array(z.string().max(10_000)).max(50).optional(),
  cwd: z.string().max(10_000).optional(),
});
export type ScriptRecord = z.infer<typeof scriptRecordSchema>;

const recordSchema = z.object({
  format: z.literal(1),
  id: z.string().max(200),
  createdAt: z.number().finite(),
  group: z
    .object({
      id: z.string().max(200),
      name: z.string().max(10_000),
      createdAt: z.number().finite(),
      spec: z.string().max(1_000_000).nullable(),
    })
    .nullable(),
  retryOf: z.string().max(200).nullable(),
  /** A Slurm run's executor and options (absent: this machine), as runs.executor_json holds them. */
  executor: executorSpecSchema.optional(),
  /**
   * A run a script registered itself (experiments/starlab/lab_dir.py): its project and name,
   * and the process that writes it (pid with its start time, so a reused pid is not taken for it).
   */
  script: scriptRecordSchema.optional(),
  /** What people call and note about the run (core/run-labels.ts), as runs.name/tags_json/notes hold it. */
  labels: z
    .object({
      name: z.string().max(200).nullable(),
      tags: z.array(z.string().max(40)).max(50),
      notes: z.string().max(20_000).nullable(),
      archived: z.boolean().optional(),
    })
    .optional(),
});
export type RunRecord = z.infer<typeof recordSchema>;

export function writeRunRecord(runDir: string, r: Omit<RunRecord, 'format'>): void {
  writeFileSync(join(runDir, RUN_RECORD_FILE), JSON.stringify({ format: 1, ...r }, null, 2) + '\n');
}

/** The run's record, or null when there is none or it is not one (a reindex then does without). */
export function readRunRecord(runDir: string): RunRecord | null {
  try {
    const r = recordSchema.safeParse(JSON.parse(readFileSync(join(runDir, RUN_RECORD_FILE), 'utf8')));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}
