/**
 * Keeping the data: the database's health and what the data dir holds, backups, run bundles
 * (export and import), reindexing run directories the database lost, and datasets.
 *
 * The backup and bundle commands exist twice: at a path the caller names (backupTo,
 * exportBundleTo, importBundleFrom: the CLI's `backup` and `bundle`) and at the data dir's own
 * folders (the contract's backupNow, exportRunBundle, importRunBundle: the app). Both go
 * through the same functions here, so their warnings and errors are worded in one place.
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { DataFile } from '../../shared/contract';
import { DATASETS, DATASET_LABELS, SYNTHETIC_DATASETS } from '../../shared/experiment-config';
import * as q from '../../db/queries';
import { backupDatabase, exportBundle, importBundle, type ExportOptions } from '../bundle';
import { importDataset, locateDataset } from '../datasets';
import { fsErrorMessage, type FsErrorContext } from '../fs-errors';
import { adoptAnnouncedRuns } from '../inbox';
import { reindexRuns as reindexRunDirs, unindexedRunDirs } from '../reindex';
import { syncRunDirs } from '../run-sync';
import { fileSize, type ServiceContext } from './context';
import type { DataFileCommands, ServiceCommands } from './types';

export type DataCommands = Pick<
  ServiceCommands,
  | 'getDatabaseHealth'
  | 'getDataInfo'
  | 'listDatasets'
  | 'importDataset'
  | 'reindexRuns'
  | 'backupNow'
  | 'exportRunBundle'
  | 'importRunBundle'
> &
  DataFileCommands;

/** 2026-11-26T18-20-05Z: sortable, and valid in file names everywhere. */
const fileStamp = (): string =>
  new Date()
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/:/g, '-');

function dataFile(file: string): DataFile {
  const st = statSync(file, { throwIfNoEntry: false });
  return { file, bytes: st?.size ?? 0, modifiedAt: st ? Math.floor(st.mtimeMs / 1000) : 0 };
}

/** The regular files with this extension in dir, newest first. */
function dataFiles(dir: string, ext: string): DataFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(ext))
    .map((n) => dataFile(join(dir, n)))
    .filter((f) => f.modifiedAt > 0)
    .sort((a, b) => b.modifiedAt - a.modifiedAt || b.file.localeCompare(a.file));
}

export function dataCommands(ctx: ServiceContext): DataCommands {
  const { db, dataDir, dbPath } = ctx;
  const backupsDir = join(dataDir, 'backups');
  const exportsDir = join(dataDir, 'exports');
  let reindexing = false;

  /** A backup of the database to `file`; what goes wrong is said in `where`'s terms (core/bundle.ts words its own). */
  const backup = async (
    file: string,
    o: { overwrite?: boolean; forceOption?: string },
    where: FsErrorContext,
  ): ReturnType<DataFileCommands['backupTo']> => {
    try {
      return { ok: true, report: await backupDatabase(db, file, o) };
    } catch (e) {
      return { ok: false, message: fsErrorMessage(e, where) };
    }
  };

  /** A bundle of the runs `ids` written to `file`, with what was left out as one list of warnings. */
  const writeBundle = (
    ids: string[],
    file: string,
    o: ExportOptions,
    where: FsErrorContext,
  ): ReturnType<DataFileCommands['exportBundleTo']> => {
    try {
      const report = exportBundle(db, dataDir, ids, file, o);
      const warnings = [
        ...report.missingDirs.map((id) => `run ${id} has no run directory; only its database rows are in the bundle`),
        ...report.skippedFiles.map((f) => `${f} left out (not a regular file)`),
        ...report.warnings,
      ];
      return { ok: true, report, warnings };
    } catch (e) {
      return { ok: false, message: fsErrorMessage(e, where) };
    }
  };

  /** Import the bundle `file` (refused on a damaged database, and, for a path given over the contract, unless absolute). */
  const importFrom = (file: string, o: { absoluteOnly: boolean }): ReturnType<DataFileCommands['importBundleFrom']> => {
    const damaged = ctx.damaged();
    if (damaged) return { ok: false, message: damaged };
    if (o.absoluteOnly && !isAbsolute(file))
      return { ok: false, message: `give the bundle's absolute path (on the machine STaR Lab runs on), not "${file}"` };
    try {
      const report = importBundle(db, dataDir, file);
      if (report.imported.length) ctx.emit('runsChanged', { ids: report.imported });
      return { ok: true, report };
    } catch (e) {
      // (a bundle that cannot be read is a BundleError naming it; what is left is writing runs/ or the database)
      const own = (e as NodeJS.ErrnoException | null)?.path;
      return {
        ok: false,
        message: fsErrorMessage(e, {
          action: 'import the bundle',
          path: typeof own === 'string' ? own : join(dataDir, 'runs'),
          again: 'import again',
        }),
      };
    }
  };

  return {
    getDatabaseHealth: () => ctx.health(),
    getDataInfo: () => ({
      dataDir,
      database: { ...dataFile(dbPath), walBytes: fileSize(`${dbPath}-wal`) },
      health: ctx.health(),
      backups: dataFiles(backupsDir, '.db'),
      bundles: dataFiles(exportsDir, '.tar'),
      unindexedRuns: (() => {
        const ids = unindexedRunDirs(db, dataDir);
        return { total: ids.length, ids: ids.slice(0, 100) };
      })(),
    }),

    listDatasets: () =>
      DATASETS.filter((d) => !SYNTHETIC_DATASETS.includes(d)).map((id) => ({
        id,
        label: DATASET_LABELS[id],
        ...locateDataset(id, { dataDir }),
      })),
    importDataset: (spec) => importDataset(ctx.python(), ctx.root, join(dataDir, 'datasets'), spec),

    async reindexRuns() {
      const damaged = ctx.damaged();
      if (damaged) return { ok: false, message: damaged };
      if (reindexing) return { ok: false, message: 'a reindex is already running' };
      reindexing = true;
      try {
        const r = await reindexRunDirs(db, dataDir, {
          onRun: (id) => ctx.emit('runsChanged', { ids: [id] }),
          jobAlive: (h) => ctx.supervisor.jobAlive(h),
        });
        return { ok: true, ...r };
      } finally {
        reindexing = false;
      }
    },

    adoptAnnouncedRuns: () => adoptAnnouncedRuns(db, dataDir),
    async syncRuns(paths) {
      const damaged = ctx.damaged();
      if (damaged) return { ok: false, message: damaged };
      const report = await syncRunDirs(db, dataDir, paths);
      const ids = [...report.added, ...report.updated.map((u) => u.id)];
      if (ids.length) ctx.emit('runsChanged', { ids });
      return { ok: true, report };
    },

    backupTo: (file, o = {}) =>
      backup(resolve(file), o, {
        action: 'write the backup',
        path: resolve(file),
        want: 'file',
        suggest: 'starlab-backup.db',
        force: o.forceOption,
      }),
    async backupNow() {
      const r = await backup(
        join(backupsDir, `starlab-${fileStamp()}.db`),
        {},
        { action: 'write the backup', path: backupsDir, want: 'folder' },
      );
      return r.ok ? { ok: true, file: r.report.file, bytes: r.report.bytes, seconds: r.report.seconds } : r;
    },

    exportBundleTo: (ids, file, o = {}) =>
      writeBundle(ids, resolve(file), o, {
        action: 'write the bundle',
        path: resolve(file),
        want: 'file',
        suggest: 'runs.tar',
        force: o.forceOption,
      }),
    exportRunBundle(ids, o) {
      const missing = ids.filter((id) => !q.getRunRow(db, id));
      if (missing.length) return { ok: false, message: `no run ${missing.map((id) => `"${id}"`).join(', ')}` };
      const where: FsErrorContext = { action: 'write the bundle', path: exportsDir, want: 'folder' };
      try {
        mkdirSync(exportsDir, { recursive: true });
      } catch (e) {
        return { ok: false, message: fsErrorMessage(e, where) };
      }
      // Synchronous: checkpoints (GBs) are left out unless asked for, so the service stays responsive.
      const r = writeBundle(ids, join(exportsDir, `runs-${fileStamp()}.tar`), { checkpoints: o.checkpoints ?? false }, where);
      return r.ok
        ? {
            ok: true,
            file: r.report.file,
            runs: r.report.runIds.length,
            files: r.report.files,
            bytes: r.report.bytes,
            warnings: r.warnings,
          }
        : r;
    },

    importBundleFrom: (file) => importFrom(file, { absoluteOnly: false }),
    importRunBundle(file) {
      const r = importFrom(file, { absoluteOnly: true });
      if (!r.ok) return r;
      const { report } = r;
      const rows = Object.values(report.rows).reduce((a, b) => a + b, 0);
      return {
        ok: true,
        file: report.file,
        imported: report.imported,
        skipped: report.skipped,
        rows,
        files: report.files,
        bytes: report.bytes,
      };
    },
  };
}
