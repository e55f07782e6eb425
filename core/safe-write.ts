/**
 * Writing the files a user asked for (figure exports, the ratings CSV, bundles, backups, files
 * saved from the desktop app) without being turned against them:
 *
 *  - a symbolic link where the file goes is never written through (it could point at
 *    ~/.bashrc): it is refused, even when overwriting is allowed;
 *  - anything there that is not a regular file (a folder, FIFO, device, socket) is refused;
 *  - an existing file is replaced only when the caller allows it (`overwrite`, the CLI's --force);
 *  - the data goes to a temporary file created beside the target (O_CREAT|O_EXCL|O_NOFOLLOW:
 *    never an existing file or link), synced, then renamed into place: a crash leaves the old
 *    file or the new one, never half a file, and the rename replaces a link planted meanwhile
 *    instead of following it. Without `overwrite` the temporary file is hard-linked into place
 *    (fails if the name was taken meanwhile), falling back to a checked rename where the file
 *    system has no hard links.
 *
 * The folder the user named may itself be a link they made: only the names written inside it
 * are guarded. Refusals throw FsProblem (core/fs-errors.ts) with a sentence naming the path.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FsProblem } from './fs-errors';

/** 0 where the platform has no such flag (O_NOFOLLOW: Windows). */
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;

export interface SafeWriteOptions {
  /** Replace an existing regular file (default: refuse). Links and non-regular files are refused regardless. */
  overwrite?: boolean;
  /** The option that allows overwriting, named in the refusal ("--force"). */
  force?: string;
  /** A file name to suggest when the target is a folder. */
  suggest?: string;
  /** Permission bits of a new file (before the umask); default 0o666. */
  mode?: number;
}

/** What a non-regular file is, in words. */
function kindOf(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link';
  if (st.isDirectory()) return 'a folder';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Check what is at `path` before writing it: nothing (returns false), or a regular file that
 * may be replaced (returns true). Throws FsProblem for a link, a folder, a FIFO, a device or a
 * socket (always), and for an existing file without `overwrite`.
 */
export function checkOutputTarget(path: string, opts: SafeWriteOptions = {}): boolean {
  let st: Stats;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
  if (st.isSymbolicLink())
    throw new FsProblem(`${path} is a symbolic link; STaR Lab does not write through links: remove it or choose another name`, 'ELOOP');
  if (st.isDirectory())
    throw new FsProblem(
      `${path} is a folder; give a file name${opts.suggest ? ` such as ${join(path, opts.suggest)}` : ' inside it'}`,
      'EISDIR',
    );
  if (!st.isFile()) throw new FsProblem(`${path} is ${kindOf(st)}, not a regular file; choose another name`, 'ENOTREG');
  if (!opts.overwrite)
    throw new FsProblem(
      `${path} already exists; choose another name${opts.force ? `, or pass ${opts.force} to replace it` : ' or remove it first'}`,
      'EEXIST',
    );
  return true;
}

/** The folder `dir` (created if missing), checked to be a folder (following a link the user named). */
export function ensureOutputFolder(dir: string): void {
  let st: Stats | undefined;
  try {
    st = statSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (st && !st.isDirectory())
    throw new FsProblem(`${dir} exists and is not a folder; give a folder (it is created if missing) or remove that file`, 'EEXIST');
  if (!st) mkdirSync(dir, { recursive: true });
}

/**
 * A new, empty temporary file beside `path` (same folder, so the final rename is atomic), made
 * with O_EXCL|O_NOFOLLOW: never an existing file or a link. Its name starts with a dot and does
 * not end like the target, so listings of backups or bundles do not show it.
 */
export function createTempBeside(path: string, mode = 0o666): { fd: number; tmp: string } {
  for (let attempt = 0; ; attempt++) {
    const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(6).toString('hex')}`);
    try {
      const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, mode);
      return { fd, tmp };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 10) throw e;
    }
  }
}

/** Remove a temporary file, ignoring a missing one. */
export function removeTemp(tmp: string): void {
  try {
    unlinkSync(tmp);
  } catch {
    // already gone (or never created)
  }
}

/**
 * Move the finished temporary file `tmp` to `path`: refused (tmp removed) when `path` became a
 * link or a non-regular file, or exists without `overwrite`. The rename replaces the name, so
 * a link put there meanwhile is replaced, never followed.
 */
export function commitTemp(tmp: string, path: string, opts: SafeWriteOptions = {}): void {
  try {
    if (!opts.overwrite) {
      checkOutputTarget(path, opts);
      try {
        // atomic no-clobber: fails if anything (a file, a link) took the name since the check
        linkSync(tmp, path);
        unlinkSync(tmp);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') checkOutputTarget(path, opts); // throws the refusal naming what is there
        // no hard links on this file system (FAT, some network shares): a checked rename
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EXDEV' && code !== 'EMLINK')
          throw e;
      }
    }
    checkOutputTarget(path, { ...opts, overwrite: opts.overwrite ?? false });
    renameSync(tmp, path);
  } catch (e) {
    removeTemp(tmp);
    throw e;
  }
}

function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/**
 * Write `data` to `path` safely (see the module comment): refuses links and non-regular files,
 * refuses an existing file unless `overwrite`, never leaves a partial file or its temporary
 * file behind.
 */
export function writeFileSafely(path: string, data: Buffer | string, opts: SafeWriteOptions = {}): void {
  checkOutputTarget(path, opts);
  const { fd, tmp } = createTempBeside(path, opts.mode);
  try {
    try {
      writeAll(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    removeTemp(tmp);
    throw e;
  }
  commitTemp(tmp, path, opts);
}

/**
 * Write several files into the folder `dir` (created if missing; the folder itself may be a
 * link the user named). Every target is checked before the first is written, so a refusal
 * (an existing file without `overwrite`, a planted link) writes nothing. Returns the paths.
 */
export function writeFilesSafely(
  dir: string,
  files: readonly { name: string; data: Buffer | string }[],
  opts: SafeWriteOptions = {},
): string[] {
  for (const f of files)
    if (f.name !== basename(f.name) || f.name === '.' || f.name === '..')
      throw new FsProblem(`"${f.name}" is not a plain file name`, 'EINVAL');
  ensureOutputFolder(dir);
  const paths = files.map((f) => join(dir, f.name));
  for (const p of paths) checkOutputTarget(p, opts);
  files.forEach((f, i) => writeFileSafely(paths[i]!, f.data, opts));
  return paths;
}
