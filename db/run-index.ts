/** The database opened only to ask which runs it knows (`starlab check`): never migrated, never written. */
import Database from 'better-sqlite3';
import type { DB } from './open';

/**
 * The database at `file` opened read-only, or an in-memory stand-in when there is no file; one
 * without a runs table (an empty or new file) gets an empty temporary one: it knows no run.
 * The caller closes it.
 */
export function openRunIndex(file: string, exists: boolean): DB {
  const db = exists ? new Database(file, { readonly: true, fileMustExist: true }) : new Database(':memory:');
  try {
    if (!exists || db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'runs'").get() === undefined)
      db.exec('CREATE TEMP TABLE runs (id TEXT PRIMARY KEY)');
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
