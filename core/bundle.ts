/**
 * Run bundles: one portable file holding runs' database rows and their run directories, to
 * move runs between machines or keep them; and the database backup. What a bundle holds is in
 * core/bundle-format.ts; writing one in core/bundle-export.ts; reading and checking one in
 * core/bundle-read.ts; importing it in core/bundle-import.ts; the backup in core/backup.ts.
 */
export { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, MAX_MANIFEST_BYTES, type BundleManifest } from './bundle-format';
export { BundleError } from './bundle-errors';
export { CHECKPOINT_DIRS } from './bundle-run-dir';
export { exportBundle, type ExportOptions, type ExportReport } from './bundle-export';
export { inspectBundle } from './bundle-read';
export { importBundle, type ImportReport } from './bundle-import';
export { backupDatabase, type BackupReport } from './backup';
