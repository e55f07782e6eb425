/** The database backup: SQLite's online backup to a temporary file, checked before it takes its name. */
import { closeSync, existsSync, mkdirSync, realpathSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { integrityProblems, schemaVersion, type DB } from '../db/open';
import { checkOutputTarget, commitTemp, createTempBeside } from './safe-write';
import { BundleError, asBundleError } from './bundle-errors';

export interface BackupReport {
  file: string;
  bytes: number;
  schemaVersion: number;
  seconds: number;
}

/** `p` with its symbolic links resolved (its folder's, when `p` itself does not exist). */
function realPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    try {
      return join(realpathSync(dirname(p)), basename(p));
    } catch {
      return p;
    }
  }
}

/** Throws when `out` is the live database file or one of its -wal/-shm/-journal files (a rename onto it would destroy it). */
function refuseLiveDatabase(db: DB, out: string): void {
  if (db.memory || !db.name) return;
  const live = realPath(resolve(db.name));
  const target = realPath(out);
  const sidecars = ['', '-wal', '-shm', '-journal'];
  let same = sidecars.some((s) => target === live + s);
  if (!same && existsSync(out)) {
    // a hard link to one of them
    const o = statSync(out);
    same = sidecars.some((s) => {
      const l = statSync(live + s, { throwIfNoEntry: false });
      return !!l && l.dev === o.dev && l.ino === o.ino;
    });
  }
  if (same) throw new BundleError(`${out} is the live database (${live}) or one of its files; back up to another file`);
}

/**
 * Copy the database to `outFile` with SQLite's online backup (a consistent copy while runs
 * keep writing), as a self-contained file (rollback journal, no -wal), then check the copy
 * (quick_check, foreign_key_check) before it takes its name. The run directories are not in
 * it: `exportBundle` of all runs carries those.
 *
 * The copy is one backup step after the first: SQLite restarts a backup whenever another
 * connection writes the source between steps, so many small steps never finish while a run
 * writes. One step reads one snapshot (WAL: the writers go on meanwhile) and blocks this
 * thread for its length (about a second per few hundred MiB).
 */
export async function backupDatabase(
  db: DB,
  outFile: string,
  opts: { overwrite?: boolean; forceOption?: string } = {},
): Promise<BackupReport> {
  const out = resolve(outFile);
  const target = { overwrite: opts.overwrite, force: opts.forceOption, suggest: 'starlab-backup.db' };
  refuseLiveDatabase(db, out);
  let partial: string | null = null;
  const t0 = performance.now();
  try {
    // a link, a folder, a FIFO or a device there is refused, even with overwrite (it would be replaced by, or written through to, a regular file)
    checkOutputTarget(out, target);
    mkdirSync(dirname(out), { recursive: true });
    // reserve a new temporary name (O_EXCL|O_NOFOLLOW: not a link planted there); SQLite fills the empty file
    const temp = createTempBeside(out);
    closeSync(temp.fd);
    partial = temp.tmp;
    await db.backup(partial, { progress: () => 0x7fffffff });
    const copy = new Database(partial);
    let version: number;
    try {
      copy.pragma('journal_mode = DELETE');
      const problems = integrityProblems(copy);
      if (problems.length)
        throw new BundleError(`the backup copy failed its integrity check (${problems.slice(0, 3).join('; ')}); ${out} was not written`);
      version = schemaVersion(copy);
    } finally {
      copy.close();
    }
    // an older database's journal or WAL left beside `out` would be applied to the new file
    for (const f of [`${out}-wal`, `${out}-shm`, `${out}-journal`]) rmSync(f, { force: true });
    const bytes = statSync(partial).size;
    commitTemp(partial, out, target);
    partial = null;
    return { file: out, bytes, schemaVersion: version, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    if (partial) for (const f of [partial, `${partial}-journal`, `${partial}-wal`, `${partial}-shm`]) if (existsSync(f)) unlinkSync(f);
    throw asBundleError(e, 'write the backup', out, partial, target);
  }
}
