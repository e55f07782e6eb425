/** Opening the database: pragmas, migrations (PRAGMA user_version), integrity check. */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { migrations, SCHEMA_VERSION } from './migrations/index';

export type DB = Database.Database;

export interface OpenOptions {
  /** Run PRAGMA quick_check and throw if the file is damaged (slow on very large files). */
  check?: boolean;
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
    if (opts.check) checkIntegrity(db);
    if (!opts.readonly) migrate(db);
    else if (schemaVersion(db) !== SCHEMA_VERSION) throw new Error(`database ${file} is at schema v${schemaVersion(db)}, expected v${SCHEMA_VERSION}`);
    return db;
  } catch (e) {
    db.close();
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

export function checkIntegrity(db: DB): void {
  const rows = db.pragma('quick_check') as { quick_check: string }[];
  const msgs = rows.map((r) => r.quick_check).filter((m) => m !== 'ok');
  if (msgs.length) throw new Error(`database integrity check failed: ${msgs.slice(0, 5).join('; ')}`);
}
