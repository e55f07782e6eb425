/**
 * The check of a data dir without opening the service (`starlab check`): opening migrates and
 * a damaged database refuses to open, so this reads the file as it is, read-only.
 */
import { existsSync } from 'node:fs';
import { checkIntegrityInBackground } from '../../db/open';
import { openRunIndex } from '../../db/run-index';
import { databasePath } from '../paths';
import { unindexedRunDirs } from '../reindex';

export interface DataDirCheck {
  /** The database exists, passed its integrity check, and knows every run directory. */
  ok: boolean;
  file: string;
  exists: boolean;
  /** What PRAGMA quick_check and foreign_key_check found (empty: none). */
  problems: string[];
  /** Run directories the database has no row for (all of them when there is no database); not looked for in a damaged one. */
  unindexedRuns: string[];
  seconds: number;
}

export async function checkDataDir(dataDir: string): Promise<DataDirCheck> {
  const file = databasePath(dataDir);
  const started = Date.now();
  const exists = existsSync(file);
  const problems = exists ? await checkIntegrityInBackground(file) : [];
  const seconds = (Date.now() - started) / 1000;
  let unindexed: string[] = [];
  if (!problems.length) {
    const db = openRunIndex(file, exists);
    try {
      unindexed = unindexedRunDirs(db, dataDir);
    } finally {
      db.close();
    }
  }
  return { ok: exists && problems.length === 0 && unindexed.length === 0, file, exists, problems, unindexedRuns: unindexed, seconds };
}
