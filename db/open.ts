/** Opening the database: pragmas, migrations (PRAGMA user_version), integrity check. */
import { mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { basename, dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrations, SCHEMA_VERSION } from './migrations/index';

export type DB = Database.Database;

export interface OpenOptions {
  /**
   * Check the file before using it (PRAGMA quick_check and foreign_key_check) and throw a
   * DatabaseDamagedError when it fails. It reads the whole file: ~4-6 s for 590 MiB (10^6
   * samples). 'auto': only when the file is at most SYNC_CHECK_MAX_BYTES (well under 0.5 s);
   * a caller checking a larger file does it with checkIntegrityInBackground.
   */
  check?: boolean | 'auto';
  readonly?: boolean;
}

export function openDatabase(file: string, opts: OpenOptions = {}): DB {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { readonly: opts.readonly ?? false });
  try {
    db.pragma('busy_timeout = 5000');
    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    if (opts.check === true || (opts.check === 'auto' && fileSize(file) <= SYNC_CHECK_MAX_BYTES)) checkIntegrity(db, file);
    if (!opts.readonly) migrate(db);
    else if (schemaVersion(db) !== SCHEMA_VERSION) throw new Error(`database ${file} is at schema v${schemaVersion(db)}, expected v${SCHEMA_VERSION}`);
    return db;
  } catch (e) {
    db.close();
    // a file SQLite cannot read as a database is damaged too, whether or not a check was asked for
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^SQLITE_(CORRUPT|NOTADB)/.test(code)) throw new DatabaseDamagedError(file, [(e as Error).message]);
    throw e;
  }
}

export function schemaVersion(db: DB): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Apply pending migrations, each in its own transaction together with its user_version bump. */
export function migrate(db: DB): { from: number; to: number } {
  const from = schemaVersion(db);
  if (from > SCHEMA_VERSION) {
    throw new Error(`database schema v${from} is newer than this version of STaR Lab understands (v${SCHEMA_VERSION}); upgrade the app`);
  }
  for (let v = from; v < SCHEMA_VERSION; v++) {
    const m = migrations[v]!;
    db.transaction(() => {
      // Re-check inside the write lock: another process may have migrated meanwhile.
      if (schemaVersion(db) !== v) return;
      if (typeof m.up === 'string') db.exec(m.up);
      else m.up(db);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  return { from, to: schemaVersion(db) };
}

/** A database file that failed its integrity check; the message tells the user what to do. */
export class DatabaseDamagedError extends Error {
  override name = 'DatabaseDamagedError';
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super(
      `the database ${file} is damaged (${problems.slice(0, 3).join('; ')}${problems.length > 3 ? `; ${problems.length - 3} more` : ''}). ` +
        'STaR Lab will not use it, so as not to make it worse. To recover: quit STaR Lab, move the damaged file ' +
        `(and any ${basename(file)}-wal / -shm next to it) away, and copy your latest backup (made with \`starlab backup FILE\`) ` +
        `to ${file}; runs exported with \`starlab bundle export\` can then be imported again. The run directories next to it are not affected.`,
    );
  }
}

/**
 * What is wrong with the database: PRAGMA quick_check (b-tree structure, page and record
 * format, NOT NULL/CHECK; not the index contents, which integrity_check would verify at several
 * times the cost) and foreign_key_check. Empty when it is fine. A file too damaged to read
 * at all counts as one problem.
 */
export function integrityProblems(db: DB): string[] {
  try {
    const rows = db.pragma('quick_check') as { quick_check: string }[];
    const problems = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
    const fk = db.pragma('foreign_key_check') as { table: string; rowid: number | null; parent: string }[];
    for (const r of fk.slice(0, 5)) problems.push(`row ${r.rowid ?? '?'} of ${r.table} refers to a missing row of ${r.parent}`);
    if (fk.length > 5) problems.push(`${fk.length - 5} more rows refer to missing rows`);
    return problems;
  } catch (e) {
    return [(e as Error).message];
  }
}

/** Throw a DatabaseDamagedError naming `file` when integrityProblems finds anything. */
export function checkIntegrity(db: DB, file: string = db.name): void {
  const problems = integrityProblems(db);
  if (problems.length) throw new DatabaseDamagedError(file, problems);
}

/** Up to this size `check: 'auto'` checks on open (quick_check reads ~100-150 MiB/s). */
export const SYNC_CHECK_MAX_BYTES = 32 * 2 ** 20;

function fileSize(file: string): number {
  try {
    return file === ':memory:' ? 0 : statSync(file).size;
  } catch {
    return 0;
  }
}

/**
 * integrityProblems on a read-only connection in a worker thread, so that a large database is
 * checked while the app is already usable (better-sqlite3 blocks the thread it runs on).
 * Resolves to the problems (empty: fine); a file SQLite cannot read resolves to one problem.
 */
export function checkIntegrityInBackground(file: string): Promise<string[]> {
  // (import.meta.url in the ESM build; a CommonJS bundle has __filename)
  const from = typeof __filename === 'string' ? __filename : import.meta.url;
  const modulePath = createRequire(from).resolve('better-sqlite3');
  // An eval'd CommonJS worker: no separate file to bundle. Same checks as integrityProblems.
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const Database = require(workerData.modulePath);
    let problems;
    try {
      const db = new Database(workerData.file, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 5000');
      try {
        problems = db.pragma('quick_check').map((r) => r.quick_check).filter((m) => m !== 'ok');
        const fk = db.pragma('foreign_key_check');
        for (const r of fk.slice(0, 5)) problems.push('row ' + (r.rowid ?? '?') + ' of ' + r.table + ' refers to a missing row of ' + r.parent);
        if (fk.length > 5) problems.push((fk.length - 5) + ' more rows refer to missing rows');
      } finally {
        db.close();
      }
    } catch (e) {
      problems = [String(e && e.message || e)];
    }
    parentPort.postMessage(problems);
  `;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { file, modulePath } });
    w.once('message', (m: string[]) => resolve(m));
    w.once('error', reject);
    w.once('exit', (c) => c !== 0 && reject(new Error(`the integrity check of ${file} stopped (exit code ${c})`)));
  });
}
