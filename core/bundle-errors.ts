/** The error run bundles and the database backup throw, worded for the file they write or read. */
import { basename, dirname, join } from 'node:path';
import { describeFsError } from './fs-errors';

/** A bundle that cannot be written or read: the message says what is wrong and where. */
export class BundleError extends Error {
  override name = 'BundleError';
}

/**
 * A file-system error met while writing `target` (a bundle, a backup) as a BundleError with
 * one sentence (core/fs-errors.ts); errors about other paths (a run's file being read) name
 * those. Anything else is returned unchanged.
 */
export function asBundleError(
  e: unknown,
  action: string,
  target: string,
  temp: string | null,
  opts: { suggest?: string; force?: string } = {},
): unknown {
  if (e instanceof BundleError) return e;
  const own = (e as NodeJS.ErrnoException | null)?.path;
  // the target itself, its temporary file (createTempBeside's name) or SQLite's sidecars of it
  const ours = (p: string) =>
    p === target || p.startsWith(join(dirname(target), `.${basename(target)}.tmp-`)) || (temp !== null && p.startsWith(temp));
  const other = typeof own === 'string' && !ours(own);
  const sentence = describeFsError(e, { action, path: other ? own : target, mode: other ? 'read' : 'write', want: 'file', ...opts });
  return sentence ? new BundleError(sentence, { cause: e }) : e;
}
