/**
 * A run's directory as an export reads it, never following a link: where it is (locateRunDir),
 * its files (walkRunDir) and its checkpoint/, opened whole as one iteration (openCheckpoint).
 */
import { closeSync, lstatSync, readdirSync, realpathSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { runsDir } from './paths';
import { NotRegularFileError, openRegularFile } from './tar';
import { isENOENT } from './bundle-io';

/** Run directories left out by `checkpoints: false` (experiments/starlab/checkpoint.py's). */
export const CHECKPOINT_DIRS: readonly string[] = ['checkpoint', 'checkpoint.old', 'checkpoint.tmp'];
/** checkpoint.py writes the next checkpoint here and renames it into place when complete: never exported. */
export const CHECKPOINT_TMP = 'checkpoint.tmp';
/** Directories the runner deletes while it runs (checkpoint.py's swap): files vanishing from them are reported, not fatal. */
export const VOLATILE_DIRS: readonly string[] = ['checkpoint.old', CHECKPOINT_TMP];

interface Walk {
  dirs: string[];
  files: string[];
  /** Symlinks and specials. */
  skipped: string[];
  /** Directories under VOLATILE_DIRS that vanished while being listed. */
  vanished: string[];
}

/** Files of a run directory, relative paths with '/', sorted; top-level names `leave` says are left out. */
export function walkRunDir(root: string, leave: (topName: string) => boolean): Walk {
  const w: Walk = { dirs: [], files: [], skipped: [], vanished: [] };
  const walk = (rel: string) => {
    let entries;
    try {
      // a directory swapped for a link after it was listed is not followed
      if (rel && !lstatSync(join(root, rel)).isDirectory()) {
        w.dirs.splice(w.dirs.indexOf(rel), 1);
        w.skipped.push(rel);
        return;
      }
      entries = readdirSync(join(root, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (e) {
      if (rel && isENOENT(e) && VOLATILE_DIRS.includes(rel.split('/')[0]!)) {
        w.vanished.push(rel);
        return;
      }
      throw e;
    }
    for (const e of entries) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (!rel && leave(e.name)) continue;
      if (e.isDirectory()) {
        w.dirs.push(r);
        walk(r);
      } else if (e.isFile()) w.files.push(r);
      else w.skipped.push(r);
    }
  };
  walk('');
  return w;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A directory's identity: a rename into its place or an entry added or removed changes it. Null for a link (never followed). */
export function dirIdentity(path: string): string | null {
  try {
    const st = lstatSync(path);
    return st.isDirectory() ? `${st.dev}:${st.ino}:${st.ctimeMs}:${st.mtimeMs}` : null;
  } catch (e) {
    if (isENOENT(e)) return null;
    throw e;
  }
}

interface OpenCheckpoint {
  walk: Walk;
  fds: Map<string, number>;
}

/**
 * Every file of `dir` (a run's checkpoint/) opened at once, all of one iteration: a running run
 * replaces the directory by renames (checkpoint.py's _swap_in) and never changes files in it,
 * so files opened while the directory kept its identity belong together, and stay readable
 * after a swap. Walked again when it changed meanwhile; null when it kept changing (or vanished).
 */
export function openCheckpoint(dir: string, tries = 5): OpenCheckpoint | null {
  for (let attempt = 0; attempt < tries; attempt++) {
    if (attempt) sleepSync(20 * attempt);
    const fds = new Map<string, number>();
    try {
      const before = dirIdentity(dir);
      if (before === null) continue; // between the two renames of a swap
      const walk = walkRunDir(dir, () => false);
      for (const f of walk.files) {
        try {
          fds.set(f, openRegularFile(join(dir, ...f.split('/'))));
        } catch (e) {
          if (!(e instanceof NotRegularFileError)) throw e;
          walk.skipped.push(f); // became a link or a special file after it was listed
        }
      }
      if (dirIdentity(dir) === before) return { walk, fds };
    } catch (e) {
      if (!isENOENT(e)) {
        for (const fd of fds.values()) closeSync(fd);
        throw e;
      }
    }
    for (const fd of fds.values()) closeSync(fd);
  }
  return null;
}

/**
 * Where run `id`'s directory is, for an export: its recorded run_dir, else <dataDir>/runs/<id>.
 * A directory that is a symbolic link, or that lies outside <dataDir>/runs once links in its
 * path are resolved, is refused (never followed: it could lead anywhere, /etc or another
 * user's files); the reason says why.
 */
export function locateRunDir(dataDir: string, id: string, recorded: string): { dir: string } | { missing: true } | { refused: string } {
  const runsRoot = runsDir(dataDir);
  let rootReal: string;
  try {
    rootReal = realpathSync(runsRoot);
  } catch {
    rootReal = resolve(runsRoot);
  }
  const inside = (p: string) => {
    const r = relative(rootReal, p);
    return r !== '' && !r.startsWith('..') && !isAbsolute(r);
  };
  let refused: string | null = null;
  for (const candidate of [...new Set([resolve(recorded), join(runsRoot, id)])]) {
    let st;
    try {
      st = lstatSync(candidate);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw e;
    }
    if (st.isSymbolicLink()) {
      refused ??= `its run directory ${candidate} is a symbolic link, which a bundle does not follow`;
      continue;
    }
    if (!st.isDirectory()) continue;
    const real = realpathSync(candidate);
    if (!inside(real)) {
      refused ??= `its run directory ${candidate} is outside ${runsRoot} (a link on its path leads elsewhere), and a bundle takes only run directories inside it`;
      continue;
    }
    return { dir: real };
  }
  return refused ? { refused } : { missing: true };
}
