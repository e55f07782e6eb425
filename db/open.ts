/** Opening the database: pragmas, migrations (PRAGMA user_version), integrity check. */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { migrations, SCHEMA_VERSION } from './migrations/index';
import { integrityProblems } from './integrity';
import type { IntegrityWorkerData } from './integrity-worker';

export { integrityProblems };

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
    else if (schemaVersion(db) !== SCHEMA_VERSION)
      throw new Error(`database ${file} is at schema v${schemaVersion(db)}, expected v${SCHEMA_VERSION}`);
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
 * integrityProblems on a read-only connection in a worker thread (db/integrity-worker.ts), so
 * that a large database is checked while the app is already usable. Resolves to the problems
 * (empty: fine); a file SQLite cannot read resolves to one problem.
 */
export function checkIntegrityInBackground(file: string): Promise<string[]> {
  const data: IntegrityWorkerData = { file };
  return new Promise((resolve, reject) => {
    const w = integrityWorker(data);
    w.once('message', (m: string[]) => resolve(m));
    w.once('error', reject);
    w.once('exit', (c) => c !== 0 && reject(new Error(`the integrity check of ${file} stopped (exit code ${c})`)));
  });
}

/**
 * The built worker is out/main/integrity-worker.js, beside the entry points (out/main/*.js) or
 * one level above the shared chunk this code may be bundled into (out/main/chunks/). From the
 * sources (vitest, tsx) the .ts entry runs through tsx's require hook, which a worker does not
 * inherit from its parent.
 */
function integrityWorker(workerData: IntegrityWorkerData): Worker {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    const tsx = createRequire(here).resolve('tsx/cjs/api');
    const entry = join(dirname(here), 'integrity-worker.ts');
    return new Worker(`require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(entry)});`, { eval: true, workerData });
  }
  for (const dir of [dirname(here), dirname(dirname(here))]) {
    const built = join(dir, 'integrity-worker.js');
    if (existsSync(built)) return new Worker(built, { workerData });
  }
  throw new Error(`the integrity-check worker (integrity-worker.js) is missing next to ${here}; rebuild the app`);
}
