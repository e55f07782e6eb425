/**
 * File-system and storage errors as one sentence a user can act on: "cannot write the backup:
 * /x is a folder; give a file name such as /x/starlab-backup.db" instead of a raw
 * "EISDIR: illegal operation on a directory, rename …". Used by the CLI, the service's data
 * commands (backup, bundle export and import) and the supervisor's launch.
 *
 * The sentence names the path and what to do; the errno code appears at most in parentheses.
 */
import { join } from 'node:path';

export interface FsErrorContext {
  /** What was being done, completing "cannot …": "write the backup", "start the run". */
  action: string;
  /** The path the user named (or the folder involved); the error's own path when absent. */
  path?: string;
  /** Whether the path is read or written (changes the advice for permissions and missing paths). */
  mode?: 'read' | 'write';
  /** What the path should be: a file (a folder there gets "give a file name such as …") or a folder. */
  want?: 'file' | 'folder';
  /** A file name to suggest inside a folder given where a file was wanted. */
  suggest?: string;
  /** How to retry, completing "free space and …" (default "try again"). */
  again?: string;
  /** The option that allows replacing an existing file, if any ("--force"). */
  force?: string;
}

/** An error already phrased for the user (a refusal or a described file-system error); `code` is the errno it stands for, if any. */
export class FsProblem extends Error {
  override name = 'FsProblem';
  constructor(
    message: string,
    readonly code?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

interface ErrnoLike {
  code?: unknown;
  path?: unknown;
  message?: unknown;
}

const SQLITE_FULL = /database or disk is full/i;
const SQLITE_IO = /disk I\/O error/i;

/** The errno-style code of `e` ('ENOSPC', 'SQLITE_FULL', …), or null when it is not a file-system or storage error. */
export function fsErrorCode(e: unknown): string | null {
  if (!e || typeof e !== 'object') return null;
  const { code, message } = e as ErrnoLike;
  if (typeof code === 'string' && /^(E[A-Z0-9]+|SQLITE_(FULL|IOERR|READONLY|CANTOPEN|PERM)\w*)$/.test(code)) return code;
  if (typeof message === 'string') {
    if (SQLITE_FULL.test(message)) return 'SQLITE_FULL';
    if (SQLITE_IO.test(message)) return 'SQLITE_IOERR';
  }
  return null;
}

/**
 * One sentence for a file-system or storage error: "cannot <action>: <what is wrong with the
 * path>; <what to do>". Null when `e` is not such an error (the caller keeps its message).
 */
export function describeFsError(e: unknown, ctx: FsErrorContext): string | null {
  if (e instanceof FsProblem) return e.message.startsWith('cannot ') ? e.message : `cannot ${ctx.action}: ${e.message}`;
  const code = fsErrorCode(e);
  if (!code) return null;
  const own = (e as ErrnoLike).path;
  const path = ctx.path ?? (typeof own === 'string' ? own : 'the path');
  const again = ctx.again ?? 'try again';
  const reading = ctx.mode === 'read';
  let what: string;
  switch (code.startsWith('SQLITE_IOERR') ? 'SQLITE_IOERR' : code) {
    case 'ENOENT':
      what = reading
        ? `${path} does not exist; check the path`
        : `a folder on the way to ${path} does not exist (or vanished meanwhile); create it or choose another location`;
      break;
    case 'EISDIR':
      what =
        ctx.want === 'folder'
          ? `${path} is a folder where a file was expected; choose another location`
          : `${path} is a folder; give a file name${ctx.suggest ? ` such as ${join(path, ctx.suggest)}` : ' inside it'}`;
      break;
    case 'EEXIST':
      what =
        ctx.want === 'folder'
          ? `${path} exists and is not a folder; give a folder (it is created if missing) or remove that file`
          : `${path} already exists; choose another name${ctx.force ? `, or pass ${ctx.force} to replace it` : ' or remove it first'}`;
      break;
    case 'ENOTDIR':
      what = `a part of ${path} is a file, not a folder; choose another location`;
      break;
    case 'ENOTEMPTY':
      what = `${path} is a folder that is not empty; choose another location`;
      break;
    case 'EACCES':
    case 'EPERM':
    case 'SQLITE_PERM':
      what = reading
        ? `permission denied reading ${path}; check its permissions`
        : `permission denied writing ${path}; choose a location you can write to`;
      break;
    case 'EROFS':
    case 'SQLITE_READONLY':
      what = `${path} is on a read-only file system; choose another location`;
      break;
    case 'ENOSPC':
    case 'SQLITE_FULL':
      what = `the disk holding ${path} is full (${code === 'SQLITE_FULL' ? 'database or disk is full' : code}); free space and ${again}`;
      break;
    case 'EDQUOT':
      what = `your disk quota on the disk holding ${path} is used up (EDQUOT); free space and ${again}`;
      break;
    case 'EIO':
    case 'SQLITE_IOERR':
      what = `the disk holding ${path} reported an I/O error (${code === 'EIO' ? 'EIO' : 'disk I/O error'}); check the disk and ${again}`;
      break;
    case 'ENAMETOOLONG':
      what = `the name ${path} is too long; choose a shorter one`;
      break;
    case 'ELOOP':
      what = `${path} is a symbolic link (or a loop of links), which STaR Lab does not follow here; remove it or choose another name`;
      break;
    case 'EMFILE':
    case 'ENFILE':
      what = `too many files are open to use ${path} (${code}); close other programs and ${again}`;
      break;
    case 'EBUSY':
    case 'ETXTBSY':
      what = `${path} is in use by another program (${code}); ${again} once it is free`;
      break;
    case 'EXDEV':
      what = `${path} is on another file system than its temporary copy (EXDEV); choose another location`;
      break;
    case 'SQLITE_CANTOPEN':
      what = `the database at ${path} cannot be opened; check that its folder exists and is writable`;
      break;
    default: {
      const msg = typeof (e as ErrnoLike).message === 'string' ? ((e as ErrnoLike).message as string) : code;
      what = `${path}: ${msg}`;
    }
  }
  return `cannot ${ctx.action}: ${what}`;
}

/** `describeFsError`'s sentence, or the error's own message when it is not a file-system error. */
export function fsErrorMessage(e: unknown, ctx: FsErrorContext): string {
  return describeFsError(e, ctx) ?? (e instanceof Error ? e.message : String(e));
}

/** `e` as an FsProblem carrying the sentence (the original as its cause), or `e` itself when it is not a file-system error. */
export function asFsProblem(e: unknown, ctx: FsErrorContext): unknown {
  if (e instanceof FsProblem) return e;
  const sentence = describeFsError(e, ctx);
  return sentence ? new FsProblem(sentence, fsErrorCode(e) ?? undefined, { cause: e }) : e;
}
