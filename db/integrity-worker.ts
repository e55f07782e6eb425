/**
 * Worker-thread entry of checkIntegrityInBackground (db/open.ts): integrityProblems on a
 * read-only connection, so a large database is checked while the app is already usable
 * (better-sqlite3 blocks the thread it runs on). Built as out/main/integrity-worker.js.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { integrityProblems } from './integrity';

export interface IntegrityWorkerData {
  file: string;
}

function problemsOf(file: string): string[] {
  let db: Database.Database;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
  } catch (e) {
    return [(e as Error).message];
  }
  try {
    db.pragma('busy_timeout = 5000');
    return integrityProblems(db);
  } finally {
    db.close();
  }
}

parentPort?.postMessage(problemsOf((workerData as IntegrityWorkerData).file));
