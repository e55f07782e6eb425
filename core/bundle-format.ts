/**
 * What a run bundle is. A bundle is a plain tar file (core/tar.ts):
 *   tables/<table>.jsonl   the runs' rows of every table that holds run rows (db/bundle-rows.ts),
 *                          one JSON object per line; experiment_groups has the runs' groups
 *   runs/<run id>/…        each run's directory (config.json, events.jsonl, logs, artifacts/,
 *                          checkpoint/ unless exported with checkpoints: false; never
 *                          checkpoint.tmp/, a checkpoint still being written)
 *   manifest.json          last (it holds the checksums of what precedes it): format and
 *                          schema versions, the run ids, row counts and a sha256 per file
 * Derived tables (question outcomes, the search index) are not in it: the import inserts the
 * samples through the samples table, whose triggers rebuild them.
 */
import { z } from 'zod';

export const BUNDLE_FORMAT = 'starlab-run-bundle';
export const BUNDLE_FORMAT_VERSION = 1;
/** The largest manifest.json read (it is parsed in memory; a real one is a few hundred bytes per file). */
export const MAX_MANIFEST_BYTES = 64 << 20;

export const manifestSchema = z.object({
  format: z.string(),
  formatVersion: z.number().int(),
  appVersion: z.string(),
  schemaVersion: z.number().int(),
  createdAt: z.string(),
  runIds: z.array(z.string()),
  groupIds: z.array(z.string()),
  checkpoints: z.boolean(),
  /** Each run's directory where it was exported from (artifact paths under it are rewritten). */
  runDirs: z.record(z.string(), z.string()),
  tables: z.record(z.string(), z.object({ file: z.string(), rows: z.number().int().nonnegative() })),
  files: z.record(z.string(), z.object({ size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});
export type BundleManifest = z.infer<typeof manifestSchema>;
