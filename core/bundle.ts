/**
 * Run bundles: one portable file holding runs' database rows and their run directories, to
 * move runs between machines or keep them; and the database backup.
 *
 * A bundle is a plain tar file (core/tar.ts):
 *   tables/<table>.jsonl   the runs' rows of every table that holds run rows (db/bundle-rows.ts),
 *                          one JSON object per line; experiment_groups has the runs' groups
 *   runs/<run id>/…        each run's directory (config.json, events.jsonl, logs, artifacts/,
 *                          checkpoint/ unless exported with checkpoints: false; never
 *                          checkpoint.tmp/, a checkpoint still being written)
 *   manifest.json          last (it holds the checksums of what precedes it): format and
 *                          schema versions, the run ids, row counts and a sha256 per file
 * Derived tables (question outcomes, the search index) are not in it: the import inserts the
 * samples through the samples table, whose triggers rebuild them.
 *
 * Import checks everything before writing anything: entry paths (no absolute paths, no "..",
 * only files and directories), the manifest's versions (a newer format or schema is refused),
 * every file's size and sha256, the run ids. Then it unpacks the new runs' directories into a
 * staging directory and, in one transaction, inserts all rows and renames the directories into
 * place (a failed rename moves the others back and rolls the rows back). Runs already present (same id) are skipped with all their rows and files, so
 * importing a bundle twice adds nothing the second time; groups are merged by id.
 */
import { closeSync, constants, existsSync, fstatSync, fsyncSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, realpathSync, renameSync, rmSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { version as APP_VERSION } from '../package.json';
import { SCHEMA_VERSION } from '../db/migrations/index';
import { integrityProblems, schemaVersion, type DB } from '../db/open';
import { encodeRow, groupRows, rowInserter, runRows, runTables, type Row } from '../db/bundle-rows';
import { RUN_ID_RE, runsDir } from './paths';
import { NotRegularFileError, TarWriter, forEachChunk, looksLikeTar, openRegularFile, readEntry, readTarEntries, sha256OfEntry, type TarEntry } from './tar';
import { describeFsError, fsErrorMessage } from './fs-errors';
import { checkOutputTarget, commitTemp, createTempBeside, removeTemp } from './safe-write';
import { createHash } from 'node:crypto';

export const BUNDLE_FORMAT = 'starlab-run-bundle';
export const BUNDLE_FORMAT_VERSION = 1;
/** Run directories left out by `checkpoints: false` (experiments/starlab/checkpoint.py's). */
export const CHECKPOINT_DIRS: readonly string[] = ['checkpoint', 'checkpoint.old', 'checkpoint.tmp'];
/** checkpoint.py writes the next checkpoint here and renames it into place when complete: never exported. */
const CHECKPOINT_TMP = 'checkpoint.tmp';
/** Directories the runner deletes while it runs (checkpoint.py's swap): files vanishing from them are reported, not fatal. */
const VOLATILE_DIRS: readonly string[] = ['checkpoint.old', CHECKPOINT_TMP];
/** The largest manifest.json read (it is parsed in memory; a real one is a few hundred bytes per file). */
export const MAX_MANIFEST_BYTES = 64 << 20;

/** A bundle that cannot be written or read: the message says what is wrong and where. */
export class BundleError extends Error {
  override name = 'BundleError';
}

/**
 * A file-system error met while writing `target` (a bundle, a backup) as a BundleError with
 * one sentence (core/fs-errors.ts); errors about other paths (a run's file being read) name
 * those. Anything else is returned unchanged.
 */
function asBundleError(e: unknown, action: string, target: string, temp: string | null, opts: { suggest?: string; force?: string } = {}): unknown {
  if (e instanceof BundleError) return e;
  const own = (e as NodeJS.ErrnoException | null)?.path;
  // the target itself, its temporary file (createTempBeside's name) or SQLite's sidecars of it
  const ours = (p: string) => p === target || p.startsWith(join(dirname(target), `.${basename(target)}.tmp-`)) || (temp !== null && p.startsWith(temp));
  const other = typeof own === 'string' && !ours(own);
  const sentence = describeFsError(e, { action, path: other ? own : target, mode: other ? 'read' : 'write', want: 'file', ...opts });
  return sentence ? new BundleError(sentence, { cause: e }) : e;
}

const manifestSchema = z.object({
  format: z.string(),
  formatVersion: z.number().int(),
  appVersion: z.string(),
  schemaVersion: z.number().int(),
  createdAt: z.string(),
  runIds: z.array(z.string()),
  groupIds: z.array(z.string()),
  checkpoints: z.boolean(),
  /** Each run's directory where it was exported from (artifact paths under it are rewritten). */
  runDirs: z.record(z.string(), z.string()),
  tables: z.record(z.string(), z.object({ file: z.string(), rows: z.number().int().nonnegative() })),
  files: z.record(z.string(), z.object({ size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) })),
});
export type BundleManifest = z.infer<typeof manifestSchema>;

export interface ExportOptions {
  /** Include the checkpoint directories (model weights; can be GBs). Default true: a bundle is the whole run and can be resumed. */
  checkpoints?: boolean;
  /** Replace `outFile` if it exists (default: refuse). A link or a non-regular file there is refused regardless. */
  overwrite?: boolean;
  /** The option that allows overwriting, named in the refusal (the CLI's "--force"). */
  forceOption?: string;
}

export interface ExportReport {
  file: string;
  runIds: string[];
  groupIds: string[];
  rows: Record<string, number>;
  files: number;
  bytes: number;
  /** Runs whose directory was not found (only their rows are in the bundle). */
  missingDirs: string[];
  /** Entries of run directories left out: symbolic links and other non-regular files. */
  skippedFiles: string[];
  /** What else was left out, and why (files a running run deleted meanwhile, a checkpoint it kept replacing). */
  warnings: string[];
}

export interface ImportReport {
  file: string;
  imported: string[];
  skipped: { id: string; reason: string }[];
  groupsAdded: string[];
  /** Rows inserted per table (derived tables not counted: the triggers rebuild them). */
  rows: Record<string, number>;
  files: number;
  bytes: number;
}

function writeAll(fd: number, data: string | Buffer): void {
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let off = 0;
  while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
}

const isENOENT = (e: unknown) => (e as NodeJS.ErrnoException).code === 'ENOENT';

interface Walk {
  dirs: string[];
  files: string[];
  /** Symlinks and specials. */
  skipped: string[];
  /** Directories under VOLATILE_DIRS that vanished while being listed. */
  vanished: string[];
}

/** Files of a run directory, relative paths with '/', sorted; top-level names `leave` says are left out. */
function walkRunDir(root: string, leave: (topName: string) => boolean): Walk {
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
function dirIdentity(path: string): string | null {
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
function openCheckpoint(dir: string, tries = 5): OpenCheckpoint | null {
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
 * Write the runs `runIds` (their rows, groups and directories) to one bundle file. The rows
 * are read in one read transaction (a consistent snapshot while runs write); a running run's
 * files are taken as they are at that moment.
 */
export function exportBundle(db: DB, dataDir: string, runIds: string[], outFile: string, opts: ExportOptions = {}): ExportReport {
  const checkpoints = opts.checkpoints ?? true;
  const ids = [...new Set(runIds)];
  if (!ids.length) throw new BundleError('no runs to export');
  // import refuses these (they become directory names): a bundle holding one would be useless
  const badIds = ids.filter((id) => !RUN_ID_RE.test(id));
  if (badIds.length)
    throw new BundleError(`run id${badIds.length > 1 ? 's' : ''} ${badIds.map((id) => JSON.stringify(id)).join(', ')} cannot be exported: a bundle's run ids must be 1–200 letters, digits, ".", "_" or "-" (not "." or ".."), or no import would accept it`);
  const out = resolve(outFile);
  const target = { overwrite: opts.overwrite, force: opts.forceOption, suggest: 'runs.tar' };
  try {
    // a link, a folder, a FIFO or a device there is refused, with or without overwrite
    checkOutputTarget(out, target);
  } catch (e) {
    throw asBundleError(e, 'write the bundle', out, null, target);
  }
  const tables = runTables(db);
  const rowCounts: Record<string, number> = {};
  const runDirs: Record<string, string> = {};
  let partial: string | null = null;
  let work: string | null = null;
  try {
    work = mkdtempSync(join(tmpdir(), 'starlab-bundle-'));
    // 1. the rows, in one snapshot, to temp JSONL files
    let groupIds: string[] = [];
    db.transaction(() => {
      const get = db.prepare('SELECT id, group_id, run_dir FROM runs WHERE id = ?');
      const found = ids.map((id) => get.get(id) as { id: string; group_id: string | null; run_dir: string } | undefined);
      const missing = ids.filter((_, i) => !found[i]);
      if (missing.length) throw new BundleError(`no run ${missing.map((m) => `"${m}"`).join(', ')} in this database`);
      for (const r of found) runDirs[r!.id] = r!.run_dir;
      groupIds = [...new Set(found.map((r) => r!.group_id).filter((g): g is string => g !== null))].sort();
      const dump = (name: string, rows: Iterable<Row>) => {
        const fd = openSync(join(work!, `${name}.jsonl`), 'w');
        let n = 0;
        let buf = '';
        try {
          for (const row of rows) {
            buf += JSON.stringify(encodeRow(row)) + '\n';
            n++;
            if (buf.length > 1 << 20) {
              writeAll(fd, buf);
              buf = '';
            }
          }
          writeAll(fd, buf);
        } finally {
          closeSync(fd);
        }
        rowCounts[name] = n;
      };
      dump('experiment_groups', groupRows(db, groupIds));
      for (const t of tables) dump(t.name, (function* () { for (const id of ids) yield* runRows(db, t, id); })());
    })();

    // 2. the archive: tables, run directories, manifest
    const files: BundleManifest['files'] = {};
    // a new temporary file beside `out` (O_EXCL|O_NOFOLLOW), renamed into place when complete
    const temp = createTempBeside(out);
    partial = temp.tmp;
    const fd = temp.fd;
    const missingDirs: string[] = [];
    const skippedFiles: string[] = [];
    const warnings: string[] = [];
    let nFiles = 0;
    try {
      const tar = new TarWriter(fd);
      tar.addDir('tables');
      for (const name of Object.keys(rowCounts)) {
        const path = `tables/${name}.jsonl`;
        files[path] = tar.addFile(path, join(work!, `${name}.jsonl`));
      }
      tar.addDir('runs');
      for (const id of ids) {
        const where = locateRunDir(dataDir, id, runDirs[id]!);
        if ('refused' in where) {
          warnings.push(`runs/${id} left out: ${where.refused}; only the run's database rows are in the bundle`);
          continue;
        }
        if ('missing' in where) {
          missingDirs.push(id);
          continue;
        }
        const dir = where.dir;
        // a checkpoint/ that is a link (or not a folder) is left out, never followed
        const ckStat = lstatSync(join(dir, 'checkpoint'), { throwIfNoEntry: false });
        if (checkpoints && ckStat && !ckStat.isDirectory()) skippedFiles.push(`runs/${id}/checkpoint`);
        // checkpoint/ is opened whole before anything is streamed (one iteration, see openCheckpoint)
        const w = walkRunDir(dir, (name) => name === CHECKPOINT_TMP || (!checkpoints && CHECKPOINT_DIRS.includes(name)) || (checkpoints && name === 'checkpoint'));
        const hasCheckpoint = checkpoints && dirIdentity(join(dir, 'checkpoint')) !== null;
        const ck = hasCheckpoint ? openCheckpoint(join(dir, 'checkpoint')) : null;
        if (hasCheckpoint && !ck) warnings.push(`runs/${id}/checkpoint left out: the run kept replacing it while it was being exported (export again, or once the run has ended)`);
        try {
          tar.addDir(`runs/${id}`);
          for (const d of w.dirs) tar.addDir(`runs/${id}/${d}`);
          for (const v of w.vanished) warnings.push(`runs/${id}/${v} vanished while it was being exported (the run removed it); left out`);
          for (const f of w.files) {
            const p = `runs/${id}/${f}`;
            try {
              files[p] = tar.addFile(p, join(dir, ...f.split('/')));
            } catch (e) {
              // swapped for a link or a special file after it was listed: left out, not followed
              if (e instanceof NotRegularFileError) {
                skippedFiles.push(p);
                continue;
              }
              // the runner deletes checkpoint.old/ as it saves; addFile writes nothing before its file is open
              if (!isENOENT(e) || !VOLATILE_DIRS.includes(f.split('/')[0]!)) throw e;
              warnings.push(`${p} vanished while it was being exported (the run removed it); left out`);
              continue;
            }
            nFiles++;
          }
          skippedFiles.push(...w.skipped.map((s) => `runs/${id}/${s}`));
          if (ck) {
            tar.addDir(`runs/${id}/checkpoint`);
            for (const d of ck.walk.dirs) tar.addDir(`runs/${id}/checkpoint/${d}`);
            for (const [f, cfd] of ck.fds) {
              const p = `runs/${id}/checkpoint/${f}`;
              files[p] = tar.addFd(p, cfd, join(dir, 'checkpoint', ...f.split('/')));
              nFiles++;
            }
            skippedFiles.push(...ck.walk.skipped.map((s) => `runs/${id}/checkpoint/${s}`));
          }
        } finally {
          if (ck) for (const cfd of ck.fds.values()) closeSync(cfd);
        }
      }
      const manifest: BundleManifest = {
        format: BUNDLE_FORMAT,
        formatVersion: BUNDLE_FORMAT_VERSION,
        appVersion: APP_VERSION,
        schemaVersion: schemaVersion(db),
        createdAt: new Date().toISOString(),
        runIds: ids,
        groupIds,
        checkpoints,
        runDirs,
        tables: Object.fromEntries(Object.entries(rowCounts).map(([name, rows]) => [name, { file: `tables/${name}.jsonl`, rows }])),
        files,
      };
      tar.addBuffer('manifest.json', Buffer.from(JSON.stringify(manifest, null, 1) + '\n'));
      tar.finish();
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    const bytes = statSync(partial).size;
    commitTemp(partial, out, target);
    partial = null;
    return { file: out, runIds: ids, groupIds, rows: rowCounts, files: nFiles, bytes, missingDirs, skippedFiles, warnings };
  } catch (e) {
    if (partial) removeTemp(partial);
    throw asBundleError(e, 'write the bundle', out, partial, target);
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Where run `id`'s directory is, for an export: its recorded run_dir, else <dataDir>/runs/<id>.
 * A directory that is a symbolic link, or that lies outside <dataDir>/runs once links in its
 * path are resolved, is refused (never followed: it could lead anywhere, /etc or another
 * user's files); the reason says why.
 */
function locateRunDir(dataDir: string, id: string, recorded: string): { dir: string } | { missing: true } | { refused: string } {
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

/** Why an archive path is unsafe or unexpected in a bundle, or null when it is fine. */
function badEntryPath(p: string): string | null {
  if (p === '' || p.includes('\0') || p.includes('\\')) return 'an empty path or one with NUL or backslash';
  if (p.startsWith('/') || /^[A-Za-z]:/.test(p)) return 'an absolute path';
  const parts = p.split('/');
  if (parts.some((s) => s === '..' || s === '.' || s === '')) return 'a path with "..", "." or an empty segment';
  if (p === 'manifest.json' || p === 'tables' || p === 'runs') return null;
  if (parts[0] === 'tables' && parts.length === 2 && /^[A-Za-z0-9_]+\.jsonl$/.test(parts[1]!)) return null;
  if (parts[0] === 'runs' && parts.length >= 2) return RUN_ID_RE.test(parts[1]!) ? null : 'a run directory whose name is not a run id';
  return 'a path outside manifest.json, tables/ and runs/';
}

/** Lines of an entry (JSONL), read in chunks. */
function* entryLines(fd: number, entry: TarEntry): Generator<string> {
  const chunks: Buffer[] = [];
  const lines: string[] = [];
  const take = (c: Buffer) => {
    let start = 0;
    for (let i = c.indexOf(0x0a); i >= 0; i = c.indexOf(0x0a, start)) {
      chunks.push(c.subarray(start, i));
      lines.push(Buffer.concat(chunks).toString('utf8'));
      chunks.length = 0;
      start = i + 1;
    }
    if (start < c.length) chunks.push(Buffer.from(c.subarray(start)));
  };
  // forEachChunk is push-based; collect per chunk and yield between chunks
  const CH = 1 << 20;
  for (let off = 0; off < entry.size; off += CH) {
    forEachChunk(fd, { ...entry, dataOffset: entry.dataOffset + off, size: Math.min(CH, entry.size - off) }, take);
    yield* lines.splice(0);
  }
  if (chunks.length) yield Buffer.concat(chunks).toString('utf8');
}

interface ReadBundle {
  fd: number;
  manifest: BundleManifest;
  entries: TarEntry[];
  byPath: Map<string, TarEntry>;
}

/** Read and check a bundle completely: paths, manifest, versions, sizes and checksums. Writes nothing. */
function readBundle(file: string): ReadBundle {
  // Until the manifest says this is a bundle, no message quotes anything read from the file
  // (entry names, header fields, manifest values): importRunBundle takes any path over HTTP,
  // and its errors must not hand out pieces of files that are not bundles.
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO given as the bundle must not hang the open
    fd = openSync(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    throw new BundleError(fsErrorMessage(e, { action: 'read the bundle', path: file, mode: 'read' }));
  }
  try {
    const st = fstatSync(fd);
    if (st.isDirectory()) throw new BundleError(`${file} is a folder, not a bundle file; give the path of a .tar file made by \`starlab bundle export\``);
    if (!st.isFile()) throw new BundleError(`${file} is not a regular file, so not a STaR Lab run bundle`);
    if (!looksLikeTar(fd)) throw new BundleError(`${file} is not a valid bundle: it is not a tar archive, so not a STaR Lab run bundle`);
    let entries: TarEntry[];
    try {
      entries = [...readTarEntries(fd)];
    } catch (e) {
      // (core/tar.ts's messages give byte offsets and field names, never the bytes themselves)
      throw new BundleError(`${file} is not a valid bundle: ${(e as Error).message}`);
    }
    const me = entries.find((e) => e.path === 'manifest.json');
    if (!me || me.type !== 'file') throw new BundleError(`${file} is not a STaR Lab run bundle (no manifest.json)`);
    if (me.size > MAX_MANIFEST_BYTES) throw new BundleError(`${file} is refused: its manifest.json is ${me.size} bytes; at most ${MAX_MANIFEST_BYTES} are allowed`);
    let raw: unknown;
    try {
      raw = JSON.parse(readEntry(fd, me).toString('utf8'));
    } catch {
      throw new BundleError(`${file}: manifest.json is not valid JSON (the bundle is damaged)`);
    }
    const head = raw as { format?: unknown; formatVersion?: unknown; schemaVersion?: unknown; appVersion?: unknown };
    if (head?.format !== BUNDLE_FORMAT) throw new BundleError(`${file} is not a STaR Lab run bundle (its manifest.json is not a bundle manifest)`);
    const byPath = new Map<string, TarEntry>();
    for (const e of entries) {
      const bad = badEntryPath(e.path);
      if (bad) throw new BundleError(`${file} is refused: entry "${e.path}" has ${bad}`);
      if (byPath.has(e.path)) throw new BundleError(`${file} is refused: entry "${e.path}" appears twice`);
      byPath.set(e.path, e);
    }
    if (typeof head.formatVersion === 'number' && head.formatVersion > BUNDLE_FORMAT_VERSION)
      throw new BundleError(`${file} was made by a newer STaR Lab (${String(head.appVersion)}, bundle format v${head.formatVersion}); this version (${APP_VERSION}) reads format v${BUNDLE_FORMAT_VERSION} and older: upgrade STaR Lab to import it`);
    if (typeof head.schemaVersion === 'number' && head.schemaVersion > SCHEMA_VERSION)
      throw new BundleError(`${file} was made by a newer STaR Lab (${String(head.appVersion)}, database schema v${head.schemaVersion}); this version (${APP_VERSION}) has schema v${SCHEMA_VERSION}: upgrade STaR Lab to import it`);
    const parsed = manifestSchema.safeParse(raw);
    if (!parsed.success) throw new BundleError(`${file}: manifest.json is invalid: ${parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const manifest = parsed.data;
    for (const id of manifest.runIds) if (!RUN_ID_RE.test(id)) throw new BundleError(`${file} is refused: run id "${id}" is not a valid run id`);
    for (const [path, want] of Object.entries(manifest.files)) {
      const e = byPath.get(path);
      if (!e || e.type !== 'file') throw new BundleError(`${file} is damaged: ${path} is listed in the manifest but missing`);
      if (e.size !== want.size) throw new BundleError(`${file} is damaged: ${path} has ${e.size} bytes, the manifest says ${want.size}`);
      if (sha256OfEntry(fd, e) !== want.sha256) throw new BundleError(`${file} is damaged: ${path} does not match its checksum`);
    }
    for (const e of entries) {
      if (e.type === 'file' && e.path !== 'manifest.json' && !manifest.files[e.path]) throw new BundleError(`${file} is refused: ${e.path} is not listed in the manifest`);
      const parts = e.path.split('/');
      if (parts[0] === 'runs' && parts[1] && !manifest.runIds.includes(parts[1])) throw new BundleError(`${file} is refused: ${e.path} belongs to no run of the manifest`);
    }
    for (const [name, t] of Object.entries(manifest.tables)) {
      if (t.file !== `tables/${name}.jsonl` || !manifest.files[t.file]) throw new BundleError(`${file} is damaged: table ${name}'s file ${t.file} is missing`);
    }
    if (!manifest.tables.runs) throw new BundleError(`${file} is damaged: it has no runs table`);
    return { fd, manifest, entries, byPath };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Read and check a bundle without importing it (what `bundle import` would refuse, it throws). */
export function inspectBundle(file: string): BundleManifest {
  const b = readBundle(resolve(file));
  closeSync(b.fd);
  return b.manifest;
}

/**
 * Import a bundle into the database and data directory. Throws a BundleError, having written
 * nothing, when the bundle is damaged, unsafe or newer than this version, or when a new run's
 * directory already exists.
 */
export function importBundle(db: DB, dataDir: string, file: string): ImportReport {
  const path = resolve(file);
  const b = readBundle(path);
  const { fd, manifest } = b;
  const root = runsDir(dataDir);
  let staging: string | null = null;
  try {
    const exists = db.prepare('SELECT 1 FROM runs WHERE id = ?');
    const present = new Set(manifest.runIds.filter((id) => exists.get(id)));
    const fresh = manifest.runIds.filter((id) => !present.has(id));
    for (const id of fresh) {
      if (existsSync(join(root, id))) throw new BundleError(`cannot import run ${id}: its directory ${join(root, id)} exists but the database has no such run; move that directory away and import again`);
    }
    const local = new Map(runTables(db).map((t) => [t.name, t]));
    for (const name of Object.keys(manifest.tables)) {
      if (name !== 'experiment_groups' && !local.has(name)) throw new BundleError(`${path}: table ${name} holds no run rows in this database`);
    }

    // 1. unpack the new runs' directories into a staging directory next to runs/ (same file system: renames are atomic)
    mkdirSync(root, { recursive: true });
    staging = mkdtempSync(join(root, '.import-'));
    let nFiles = 0;
    let bytes = 0;
    for (const id of fresh) mkdirSync(join(staging, id), { recursive: true });
    for (const e of b.entries) {
      const parts = e.path.split('/');
      if (parts[0] !== 'runs' || parts.length < 3 || !fresh.includes(parts[1]!)) continue;
      const dest = join(staging, ...parts.slice(1));
      // (paths were checked; this guards the join itself)
      if (relative(staging, dest).startsWith('..')) throw new BundleError(`${path} is refused: entry "${e.path}" leaves the run directory`);
      if (e.type === 'dir') {
        mkdirSync(dest, { recursive: true });
        continue;
      }
      mkdirSync(dirname(dest), { recursive: true });
      const out = openSync(dest, 'wx', e.mode & 0o777 ? e.mode & 0o777 : 0o644);
      const hash = createHash('sha256');
      try {
        forEachChunk(fd, e, (c) => {
          hash.update(c);
          writeAll(out, c);
        });
      } finally {
        closeSync(out);
      }
      if (hash.digest('hex') !== manifest.files[e.path]!.sha256) throw new BundleError(`${path} changed while it was being imported (${e.path})`);
      nFiles++;
      bytes += e.size;
    }

    // 2. the rows, in one transaction
    const rows: Record<string, number> = {};
    const imported: string[] = [];
    const groupsAdded: string[] = [];
    const endedAt = Date.parse(manifest.createdAt) / 1000;
    // run directories renamed into place so far; moved back when the transaction does not commit
    const moved: string[] = [];
    const moveBack = () => {
      for (const id of moved.splice(0).reverse()) {
        try {
          renameSync(join(root, id), join(staging!, id));
        } catch {
          rmSync(join(root, id), { recursive: true, force: true }); // it did not exist before this import
        }
      }
    };
    try {
      db.transaction(() => {
        // re-check under the write lock: another import may have added some meanwhile
        for (const id of fresh) if (exists.get(id)) present.add(id);
        const wanted = new Set(manifest.runIds);
        const each = (table: string, fn: (row: Row, where: string) => void) => {
          const t = manifest.tables[table];
          if (!t) return;
          let n = 0;
          let lineNo = 0;
          for (const line of entryLines(fd, b.byPath.get(t.file)!)) {
            lineNo++;
            if (line === '') continue;
            const where = `${t.file} line ${lineNo}`;
            let row: Row;
            try {
              row = JSON.parse(line) as Row;
            } catch {
              throw new BundleError(`${path}: ${where} is not valid JSON`);
            }
            if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new BundleError(`${path}: ${where} is not a row object`);
            fn(row, where);
            n++;
          }
          if (n !== t.rows) throw new BundleError(`${path} is damaged: ${t.file} has ${n} rows, the manifest says ${t.rows}`);
        };
        const groupExists = db.prepare('SELECT 1 FROM experiment_groups WHERE id = ?');
        const insGroup = rowInserter(db, 'experiment_groups');
        each('experiment_groups', (row, where) => {
          if (typeof row.id !== 'string') throw new BundleError(`${path}: ${where} has no group id`);
          if (groupExists.get(row.id)) return;
          insGroup(row, where);
          groupsAdded.push(row.id);
        });
        const insRun = rowInserter(db, 'runs');
        each('runs', (row, where) => {
          const id = row.id;
          if (typeof id !== 'string' || !wanted.has(id)) throw new BundleError(`${path}: ${where} is a run (${String(id)}) the manifest does not list`);
          if (present.has(id)) return;
          const fixed: Row = { ...row, run_dir: join(root, id), pid: null, pid_start_time: null };
          // an imported run has no process here: one in progress when exported must not look alive
          if (row.status === 'running') {
            Object.assign(fixed, { status: 'failed', status_reason: 'imported while running: the bundle was made before the run ended', ended_at: row.ended_at ?? row.last_event_at ?? endedAt });
          } else if (row.status === 'queued') {
            Object.assign(fixed, { status: 'stopped', status_reason: 'imported while queued: never started here (retry it to run it)', ended_at: endedAt });
          }
          insRun(fixed, where);
          imported.push(id);
          rows.runs = (rows.runs ?? 0) + 1;
        });
        for (const name of Object.keys(manifest.tables)) {
          if (name === 'runs' || name === 'experiment_groups') continue;
          const t = local.get(name)!;
          const ins = rowInserter(db, name);
          rows[name] = 0;
          each(name, (row, where) => {
            const id = row[t.runColumn];
            if (typeof id !== 'string' || !wanted.has(id)) throw new BundleError(`${path}: ${where} belongs to a run (${String(id)}) the manifest does not list`);
            if (present.has(id)) return;
            const old = manifest.runDirs[id];
            if (name === 'artifacts' && old && typeof row.path === 'string' && (row.path === old || row.path.startsWith(old + sep) || row.path.startsWith(old + '/')))
              row = { ...row, path: join(root, id, row.path.slice(old.length + 1)) };
            ins(row, where);
            rows[name]!++;
          });
        }

        // 3. the directories into place, before the commit: when one fails, the rows roll back
        // and the ones moved go back, so rows and directories arrive together or not at all
        try {
          for (const id of imported) {
            const to = join(root, id);
            // (a rename would silently replace an empty directory)
            if (existsSync(to)) throw new BundleError(`cannot import run ${id}: its directory ${to} exists (it appeared during the import) but the database has no such run; move that directory away and import again`);
            renameSync(join(staging!, id), to);
            moved.push(id);
          }
        } catch (e) {
          moveBack();
          throw e;
        }
      }).immediate();
    } catch (e) {
      moveBack(); // the COMMIT itself failed
      throw e;
    }
    const skipped = manifest.runIds.filter((id) => present.has(id)).map((id) => ({ id, reason: 'already present' }));
    return { file: path, imported, skipped, groupsAdded, rows, files: nFiles, bytes };
  } finally {
    try {
      if (staging) rmSync(staging, { recursive: true, force: true });
    } finally {
      closeSync(fd);
    }
  }
}

export interface BackupReport {
  file: string;
  bytes: number;
  schemaVersion: number;
  seconds: number;
}

/** `p` with its symbolic links resolved (its folder's, when `p` itself does not exist). */
function realPath(p: string): string {
  try {
    return realpathSync(p);
  } catch {
    try {
      return join(realpathSync(dirname(p)), basename(p));
    } catch {
      return p;
    }
  }
}

/** Throws when `out` is the live database file or one of its -wal/-shm/-journal files (a rename onto it would destroy it). */
function refuseLiveDatabase(db: DB, out: string): void {
  if (db.memory || !db.name) return;
  const live = realPath(resolve(db.name));
  const target = realPath(out);
  const sidecars = ['', '-wal', '-shm', '-journal'];
  let same = sidecars.some((s) => target === live + s);
  if (!same && existsSync(out)) {
    // a hard link to one of them
    const o = statSync(out);
    same = sidecars.some((s) => {
      const l = statSync(live + s, { throwIfNoEntry: false });
      return !!l && l.dev === o.dev && l.ino === o.ino;
    });
  }
  if (same) throw new BundleError(`${out} is the live database (${live}) or one of its files; back up to another file`);
}

/**
 * Copy the database to `outFile` with SQLite's online backup (a consistent copy while runs
 * keep writing), as a self-contained file (rollback journal, no -wal), then check the copy
 * (quick_check, foreign_key_check) before it takes its name. The run directories are not in
 * it: `exportBundle` of all runs carries those.
 *
 * The copy is one backup step after the first: SQLite restarts a backup whenever another
 * connection writes the source between steps, so many small steps never finish while a run
 * writes. One step reads one snapshot (WAL: the writers go on meanwhile) and blocks this
 * thread for its length (about a second per few hundred MiB).
 */
export async function backupDatabase(db: DB, outFile: string, opts: { overwrite?: boolean; forceOption?: string } = {}): Promise<BackupReport> {
  const out = resolve(outFile);
  const target = { overwrite: opts.overwrite, force: opts.forceOption, suggest: 'starlab-backup.db' };
  refuseLiveDatabase(db, out);
  let partial: string | null = null;
  const t0 = performance.now();
  try {
    // a link, a folder, a FIFO or a device there is refused, even with overwrite (it would be replaced by, or written through to, a regular file)
    checkOutputTarget(out, target);
    mkdirSync(dirname(out), { recursive: true });
    // reserve a new temporary name (O_EXCL|O_NOFOLLOW: not a link planted there); SQLite fills the empty file
    const temp = createTempBeside(out);
    closeSync(temp.fd);
    partial = temp.tmp;
    await db.backup(partial, { progress: () => 0x7fffffff });
    const copy = new Database(partial);
    let version: number;
    try {
      copy.pragma('journal_mode = DELETE');
      const problems = integrityProblems(copy);
      if (problems.length) throw new BundleError(`the backup copy failed its integrity check (${problems.slice(0, 3).join('; ')}); ${out} was not written`);
      version = schemaVersion(copy);
    } finally {
      copy.close();
    }
    // an older database's journal or WAL left beside `out` would be applied to the new file
    for (const f of [`${out}-wal`, `${out}-shm`, `${out}-journal`]) rmSync(f, { force: true });
    const bytes = statSync(partial).size;
    commitTemp(partial, out, target);
    partial = null;
    return { file: out, bytes, schemaVersion: version, seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    if (partial) for (const f of [partial, `${partial}-journal`, `${partial}-wal`, `${partial}-shm`]) if (existsSync(f)) unlinkSync(f);
    throw asBundleError(e, 'write the backup', out, partial, target);
  }
}
