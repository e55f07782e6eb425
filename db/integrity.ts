/** What is wrong with a database file: the checks shared by the open path and the background worker. */
import type Database from 'better-sqlite3';

/**
 * PRAGMA quick_check (b-tree structure, page and record format, NOT NULL/CHECK; not the index
 * contents, which integrity_check would verify at several times the cost) and
 * foreign_key_check. Empty when it is fine. A file too damaged to read at all counts as one
 * problem.
 */
export function integrityProblems(db: Database.Database): string[] {
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
