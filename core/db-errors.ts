/** What a better-sqlite3 error means for a caller that may wait it out or must refuse. */

/** better-sqlite3's error for a database locked by another connection (SQLITE_BUSY and its extended codes). */
export function isBusyError(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/**
 * Why a database error is worth waiting out (another process holds a lock; the disk is full
 * or failing for now), or null when it is not. better-sqlite3 reports the SQLite result code.
 */
export function transientDbError(e: unknown): string | null {
  const code = (e as { code?: unknown })?.code;
  if (typeof code !== 'string') return null;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'the database is locked by another process';
  if (code === 'SQLITE_FULL' || code === 'ENOSPC') return 'the disk holding the database is full';
  if (code.startsWith('SQLITE_IOERR')) return `the database cannot be written (${code})`;
  return null;
}

/**
 * A launch refused because another process held the database locked past the busy timeout
 * while the run's row was written: nothing was started and the run directory was removed.
 */
export class DatabaseLockedError extends Error {
  readonly field = 'database';
  constructor(readonly sqliteError: Error) {
    super(
      `the database is locked by another process (${sqliteError.message}: a write waited past the busy timeout); ` +
        'nothing was started: try again when the other process has finished',
    );
    this.name = 'DatabaseLockedError';
  }
}
