/**
 * Importing a checked bundle (core/bundle-read.ts): the new runs' directories are unpacked into
 * a staging directory and, in one transaction, all rows are inserted and the directories
 * renamed into place (a failed rename moves the others back and rolls the rows back). Runs
 * already present (same id) are skipped with all their rows and files, so importing a bundle
 * twice adds nothing the second time; groups are merged by id.
 */
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { DB } from '../db/open';
import { rowInserter, runTables, type Row } from '../db/bundle-rows';
import { runsDir } from './paths';
import { forEachChunk } from './tar';
import { BundleError } from './bundle-errors';
import { writeAll } from './bundle-io';
import { entryLines, readBundle } from './bundle-read';

export interface ImportReport {
  file: string;
  imported: string[];
  skipped: { id: string; reason: string }[];
  groupsAdded: string[];
  /** Rows inserted per table (derived tables not counted: the triggers rebuild them). */
  rows: Record<string, number>;
  files: number;
  bytes: number;
}

/**
 * Import a bundle into the database and data directory. Throws a BundleError, having written
 * nothing, when the bundle is damaged, unsafe or newer than this version, or when a new run's
 * directory already exists.
 */
export function importBundle(db: DB, dataDir: string, file: string): ImportReport {
  const path = resolve(file);
  const b = readBundle(path);
  const { fd, manifest } = b;
  const root = runsDir(dataDir);
  let staging: string | null = null;
  try {
    const exists = db.prepare('SELECT 1 FROM runs WHERE id = ?');
    const present = new Set(manifest.runIds.filter((id) => exists.get(id)));
    const fresh = manifest.runIds.filter((id) => !present.has(id));
    for (const id of fresh) {
      if (existsSync(join(root, id)))
        throw new BundleError(
          `cannot import run ${id}: its directory ${join(root, id)} exists but the database has no such run; move that directory away and import again`,
        );
    }
    const local = new Map(runTables(db).map((t) => [t.name, t]));
    for (const name of Object.keys(manifest.tables)) {
      if (name !== 'experiment_groups' && !local.has(name))
        throw new BundleError(`${path}: table ${name} holds no run rows in this database`);
    }

    // 1. unpack the new runs' directories into a staging directory next to runs/ (same file system: renames are atomic)
    mkdirSync(root, { recursive: true });
    staging = mkdtempSync(join(root, '.import-'));
    let nFiles = 0;
    let bytes = 0;
    for (const id of fresh) mkdirSync(join(staging, id), { recursive: true });
    for (const e of b.entries) {
      const parts = e.path.split('/');
      if (parts[0] !== 'runs' || parts.length < 3 || !fresh.includes(parts[1]!)) continue;
      const dest = join(staging, ...parts.slice(1));
      // (paths were checked; this guards the join itself)
      if (relative(staging, dest).startsWith('..')) throw new BundleError(`${path} is refused: entry "${e.path}" leaves the run directory`);
      if (e.type === 'dir') {
        mkdirSync(dest, { recursive: true });
        continue;
      }
      mkdirSync(dirname(dest), { recursive: true });
      const out = openSync(dest, 'wx', e.mode & 0o777 ? e.mode & 0o777 : 0o644);
      const hash = createHash('sha256');
      try {
        forEachChunk(fd, e, (c) => {
          hash.update(c);
          writeAll(out, c);
        });
      } finally {
        closeSync(out);
      }
      if (hash.digest('hex') !== manifest.files[e.path]!.sha256)
        throw new BundleError(`${path} changed while it was being imported (${e.path})`);
      nFiles++;
      bytes += e.size;
    }

    // 2. the rows, in one transaction
    const rows: Record<string, number> = {};
    const imported: string[] = [];
    const groupsAdded: string[] = [];
    const endedAt = Date.parse(manifest.createdAt) / 1000;
    // run directories renamed into place so far; moved back when the transaction does not commit
    const moved: string[] = [];
    const moveBack = () => {
      for (const id of moved.splice(0).reverse()) {
        try {
          renameSync(join(root, id), join(staging!, id));
        } catch {
          rmSync(join(root, id), { recursive: true, force: true }); // it did not exist before this import
        }
      }
    };
    try {
      db.transaction(() => {
        // re-check under the write lock: another import may have added some meanwhile
        for (const id of fresh) if (exists.get(id)) present.add(id);
        const wanted = new Set(manifest.runIds);
        const each = (table: string, fn: (row: Row, where: string) => void) => {
          const t = manifest.tables[table];
          if (!t) return;
          let n = 0;
          let lineNo = 0;
          for (const line of entryLines(fd, b.byPath.get(t.file)!)) {
            lineNo++;
            if (line === '') continue;
            const where = `${t.file} line ${lineNo}`;
            let row: Row;
            try {
              row = JSON.parse(line) as Row;
            } catch {
              throw new BundleError(`${path}: ${where} is not valid JSON`);
            }
            if (typeof row !== 'object' || row === null || Array.isArray(row))
              throw new BundleError(`${path}: ${where} is not a row object`);
            fn(row, where);
            n++;
          }
          if (n !== t.rows) throw new BundleError(`${path} is damaged: ${t.file} has ${n} rows, the manifest says ${t.rows}`);
        };
        const groupExists = db.prepare('SELECT 1 FROM experiment_groups WHERE id = ?');
        const insGroup = rowInserter(db, 'experiment_groups');
        each('experiment_groups', (row, where) => {
          if (typeof row.id !== 'string') throw new BundleError(`${path}: ${where} has no group id`);
          if (groupExists.get(row.id)) return;
          insGroup(row, where);
          groupsAdded.push(row.id);
        });
        const insRun = rowInserter(db, 'runs');
        each('runs', (row, where) => {
          const id = row.id;
          if (typeof id !== 'string' || !wanted.has(id))
            throw new BundleError(`${path}: ${where} is a run (${String(id)}) the manifest does not list`);
          if (present.has(id)) return;
          const fixed: Row = { ...row, run_dir: join(root, id), pid: null, pid_start_time: null, job_id: null };
          // an imported run has no process here: one in progress when exported must not look alive
          if (row.status === 'running') {
            Object.assign(fixed, {
              status: 'failed',
              status_reason: 'imported while running: the bundle was made before the run ended',
              ended_at: row.ended_at ?? row.last_event_at ?? endedAt,
            });
          } else if (row.status === 'queued') {
            Object.assign(fixed, {
              status: 'stopped',
              status_reason: 'imported while queued: never started here (retry it to run it)',
              ended_at: endedAt,
            });
          }
          insRun(fixed, where);
          imported.push(id);
          rows.runs = (rows.runs ?? 0) + 1;
        });
        for (const name of Object.keys(manifest.tables)) {
          if (name === 'runs' || name === 'experiment_groups') continue;
          const t = local.get(name)!;
          const ins = rowInserter(db, name);
          rows[name] = 0;
          each(name, (row, where) => {
            const id = row[t.runColumn];
            if (typeof id !== 'string' || !wanted.has(id))
              throw new BundleError(`${path}: ${where} belongs to a run (${String(id)}) the manifest does not list`);
            if (present.has(id)) return;
            const old = manifest.runDirs[id];
            if (
              name === 'artifacts' &&
              old &&
              typeof row.path === 'string' &&
              (row.path === old || row.path.startsWith(old + sep) || row.path.startsWith(old + '/'))
            )
              row = { ...row, path: join(root, id, row.path.slice(old.length + 1)) };
            ins(row, where);
            rows[name]!++;
          });
        }

        // 3. the directories into place, before the commit: when one fails, the rows roll back
        // and the ones moved go back, so rows and directories arrive together or not at all
        try {
          for (const id of imported) {
            const to = join(root, id);
            // (a rename would silently replace an empty directory)
            if (existsSync(to))
              throw new BundleError(
                `cannot import run ${id}: its directory ${to} exists (it appeared during the import) but the database has no such run; move that directory away and import again`,
              );
            renameSync(join(staging!, id), to);
            moved.push(id);
          }
        } catch (e) {
          moveBack();
          throw e;
        }
      }).immediate();
    } catch (e) {
      moveBack(); // the COMMIT itself failed
      throw e;
    }
    const skipped = manifest.runIds.filter((id) => present.has(id)).map((id) => ({ id, reason: 'already present' }));
    return { file: path, imported, skipped, groupsAdded, rows, files: nFiles, bytes };
  } finally {
    try {
      if (staging) rmSync(staging, { recursive: true, force: true });
    } finally {
      closeSync(fd);
    }
  }
}
