/**
 * Writing runs to a bundle: their rows from one read snapshot, their directories without
 * following a link (core/bundle-run-dir.ts), all into a temporary file beside the target that
 * takes its name only when complete (core/safe-write.ts).
 */
import { closeSync, fsyncSync, lstatSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { version as APP_VERSION } from '../package.json';
import { schemaVersion, type DB } from '../db/open';
import { encodeRow, groupRows, runRows, runTables, type Row } from '../db/bundle-rows';
import { RUN_ID_RE } from './paths';
import { NotRegularFileError, TarWriter } from './tar';
import { checkOutputTarget, commitTemp, createTempBeside, removeTemp } from './safe-write';
import { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, type BundleManifest } from './bundle-format';
import { BundleError, asBundleError } from './bundle-errors';
import { isENOENT, writeAll } from './bundle-io';
import { CHECKPOINT_DIRS, CHECKPOINT_TMP, VOLATILE_DIRS, dirIdentity, locateRunDir, openCheckpoint, walkRunDir } from './bundle-run-dir';

export interface ExportOptions {
  /** Include the checkpoint directories (model weights; can be GBs). Default true: a bundle is the whole run and can be resumed. */
  checkpoints?: boolean;
  /** Replace `outFile` if it exists (default: refuse). A link or a non-regular file there is refused regardless. */
  overwrite?: boolean;
  /** The option that allows overwriting, named in the refusal (the CLI's "--force"). */
  forceOption?: string;
}

export interface ExportReport {
  file: string;
  runIds: string[];
  groupIds: string[];
  rows: Record<string, number>;
  files: number;
  bytes: number;
  /** Runs whose directory was not found (only their rows are in the bundle). */
  missingDirs: string[];
  /** Entries of run directories left out: symbolic links and other non-regular files. */
  skippedFiles: string[];
  /** What else was left out, and why (files a running run deleted meanwhile, a checkpoint it kept replacing). */
  warnings: string[];
}

/**
 * Write the runs `runIds` (their rows, groups and directories) to one bundle file. The rows
 * are read in one read transaction (a consistent snapshot while runs write); a running run's
 * files are taken as they are at that moment.
 */
export function exportBundle(db: DB, dataDir: string, runIds: string[], outFile: string, opts: ExportOptions = {}): ExportReport {
  const checkpoints = opts.checkpoints ?? true;
  const ids = [...new Set(runIds)];
  if (!ids.length) throw new BundleError('no runs to export');
  // import refuses these (they become directory names): a bundle holding one would be useless
  const badIds = ids.filter((id) => !RUN_ID_RE.test(id));
  if (badIds.length)
    throw new BundleError(
      `run id${badIds.length > 1 ? 's' : ''} ${badIds.map((id) => JSON.stringify(id)).join(', ')} cannot be exported: a bundle's run ids must be 1–200 letters, digits, ".", "_" or "-" (not "." or ".."), or no import would accept it`,
    );
  const out = resolve(outFile);
  const target = { overwrite: opts.overwrite, force: opts.forceOption, suggest: 'runs.tar' };
  try {
    // a link, a folder, a FIFO or a device there is refused, with or without overwrite
    checkOutputTarget(out, target);
  } catch (e) {
    throw asBundleError(e, 'write the bundle', out, null, target);
  }
  const tables = runTables(db);
  const rowCounts: Record<string, number> = {};
  const runDirs: Record<string, string> = {};
  let partial: string | null = null;
  let work: string | null = null;
  try {
    work = mkdtempSync(join(tmpdir(), 'starlab-bundle-'));
    // 1. the rows, in one snapshot, to temp JSONL files
    let groupIds: string[] = [];
    db.transaction(() => {
      const get = db.prepare('SELECT id, group_id, run_dir FROM runs WHERE id = ?');
      const found = ids.map((id) => get.get(id) as { id: string; group_id: string | null; run_dir: string } | undefined);
      const missing = ids.filter((_, i) => !found[i]);
      if (missing.length) throw new BundleError(`no run ${missing.map((m) => `"${m}"`).join(', ')} in this database`);
      for (const r of found) runDirs[r!.id] = r!.run_dir;
      groupIds = [...new Set(found.map((r) => r!.group_id).filter((g): g is string => g !== null))].sort();
      const dump = (name: string, rows: Iterable<Row>) => {
        const fd = openSync(join(work!, `${name}.jsonl`), 'w');
        let n = 0;
        let buf = '';
        try {
          for (const row of rows) {
            buf += JSON.stringify(encodeRow(row)) + '\n';
            n++;
            if (buf.length > 1 << 20) {
              writeAll(fd, buf);
              buf = '';
            }
          }
          writeAll(fd, buf);
        } finally {
          closeSync(fd);
        }
        rowCounts[name] = n;
      };
      dump('experiment_groups', groupRows(db, groupIds));
      for (const t of tables)
        dump(
          t.name,
          (function* () {
            for (const id of ids) yield* runRows(db, t, id);
          })(),
        );
    })();

    // 2. the archive: tables, run directories, manifest
    const files: BundleManifest['files'] = {};
    // a new temporary file beside `out` (O_EXCL|O_NOFOLLOW), renamed into place when complete
    const temp = createTempBeside(out);
    partial = temp.tmp;
    const fd = temp.fd;
    const missingDirs: string[] = [];
    const skippedFiles: string[] = [];
    const warnings: string[] = [];
    let nFiles = 0;
    try {
      const tar = new TarWriter(fd);
      tar.addDir('tables');
      for (const name of Object.keys(rowCounts)) {
        const path = `tables/${name}.jsonl`;
        files[path] = tar.addFile(path, join(work!, `${name}.jsonl`));
      }
      tar.addDir('runs');
      for (const id of ids) {
        const where = locateRunDir(dataDir, id, runDirs[id]!);
        if ('refused' in where) {
          warnings.push(`runs/${id} left out: ${where.refused}; only the run's database rows are in the bundle`);
          continue;
        }
        if ('missing' in where) {
          missingDirs.push(id);
          continue;
        }
        const dir = where.dir;
        // a checkpoint/ that is a link (or not a folder) is left out, never followed
        const ckStat = lstatSync(join(dir, 'checkpoint'), { throwIfNoEntry: false });
        if (checkpoints && ckStat && !ckStat.isDirectory()) skippedFiles.push(`runs/${id}/checkpoint`);
        // checkpoint/ is opened whole before anything is streamed (one iteration, see openCheckpoint)
        const w = walkRunDir(
          dir,
          (name) => name === CHECKPOINT_TMP || (!checkpoints && CHECKPOINT_DIRS.includes(name)) || (checkpoints && name === 'checkpoint'),
        );
        const hasCheckpoint = checkpoints && dirIdentity(join(dir, 'checkpoint')) !== null;
        const ck = hasCheckpoint ? openCheckpoint(join(dir, 'checkpoint')) : null;
        if (hasCheckpoint && !ck)
          warnings.push(
            `runs/${id}/checkpoint left out: the run kept replacing it while it was being exported (export again, or once the run has ended)`,
          );
        try {
          tar.addDir(`runs/${id}`);
          for (const d of w.dirs) tar.addDir(`runs/${id}/${d}`);
          for (const v of w.vanished) warnings.push(`runs/${id}/${v} vanished while it was being exported (the run removed it); left out`);
          for (const f of w.files) {
            const p = `runs/${id}/${f}`;
            try {
              files[p] = tar.addFile(p, join(dir, ...f.split('/')));
            } catch (e) {
              // swapped for a link or a special file after it was listed: left out, not followed
              if (e instanceof NotRegularFileError) {
                skippedFiles.push(p);
                continue;
              }
              // the runner deletes checkpoint.old/ as it saves; addFile writes nothing before its file is open
              if (!isENOENT(e) || !VOLATILE_DIRS.includes(f.split('/')[0]!)) throw e;
              warnings.push(`${p} vanished while it was being exported (the run removed it); left out`);
              continue;
            }
            nFiles++;
          }
          skippedFiles.push(...w.skipped.map((s) => `runs/${id}/${s}`));
          if (ck) {
            tar.addDir(`runs/${id}/checkpoint`);
            for (const d of ck.walk.dirs) tar.addDir(`runs/${id}/checkpoint/${d}`);
            for (const [f, cfd] of ck.fds) {
              const p = `runs/${id}/checkpoint/${f}`;
              files[p] = tar.addFd(p, cfd, join(dir, 'checkpoint', ...f.split('/')));
              nFiles++;
            }
            skippedFiles.push(...ck.walk.skipped.map((s) => `runs/${id}/checkpoint/${s}`));
          }
        } finally {
          if (ck) for (const cfd of ck.fds.values()) closeSync(cfd);
        }
      }
      const manifest: BundleManifest = {
        format: BUNDLE_FORMAT,
        formatVersion: BUNDLE_FORMAT_VERSION,
        appVersion: APP_VERSION,
        schemaVersion: schemaVersion(db),
        createdAt: new Date().toISOString(),
        runIds: ids,
        groupIds,
        checkpoints,
        runDirs,
        tables: Object.fromEntries(Object.entries(rowCounts).map(([name, rows]) => [name, { file: `tables/${name}.jsonl`, rows }])),
        files,
      };
      tar.addBuffer('manifest.json', Buffer.from(JSON.stringify(manifest, null, 1) + '\n'));
      tar.finish();
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const bytes = statSync(partial).size;
    commitTemp(partial, out, target);
    partial = null;
    return { file: out, runIds: ids, groupIds, rows: rowCounts, files: nFiles, bytes, missingDirs, skippedFiles, warnings };
  } catch (e) {
    if (partial) removeTemp(partial);
    throw asBundleError(e, 'write the bundle', out, partial, target);
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
}
