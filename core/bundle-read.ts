/**
 * Reading a bundle and checking all of it before an import writes anything: entry paths (no
 * absolute paths, no "..", only files and directories), the manifest's versions (a newer
 * format or schema is refused), every file's size and sha256, the run ids.
 */
import { closeSync, constants, fstatSync, openSync } from 'node:fs';
import { resolve } from 'node:path';
import { version as APP_VERSION } from '../package.json';
import { SCHEMA_VERSION } from '../db/migrations/index';
import { RUN_ID_RE } from './paths';
import { forEachChunk, looksLikeTar, readEntry, readTarEntries, sha256OfEntry, type TarEntry } from './tar';
import { fsErrorMessage } from './fs-errors';
import { BUNDLE_FORMAT, BUNDLE_FORMAT_VERSION, MAX_MANIFEST_BYTES, manifestSchema, type BundleManifest } from './bundle-format';
import { BundleError } from './bundle-errors';

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
export function* entryLines(fd: number, entry: TarEntry): Generator<string> {
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

export interface ReadBundle {
  fd: number;
  manifest: BundleManifest;
  entries: TarEntry[];
  byPath: Map<string, TarEntry>;
}

/** Read and check a bundle completely: paths, manifest, versions, sizes and checksums. Writes nothing. */
export function readBundle(file: string): ReadBundle {
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
    if (st.isDirectory())
      throw new BundleError(`${file} is a folder, not a bundle file; give the path of a .tar file made by \`starlab bundle export\``);
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
    if (me.size > MAX_MANIFEST_BYTES)
      throw new BundleError(`${file} is refused: its manifest.json is ${me.size} bytes; at most ${MAX_MANIFEST_BYTES} are allowed`);
    let raw: unknown;
    try {
      raw = JSON.parse(readEntry(fd, me).toString('utf8'));
    } catch {
      throw new BundleError(`${file}: manifest.json is not valid JSON (the bundle is damaged)`);
    }
    const head = raw as { format?: unknown; formatVersion?: unknown; schemaVersion?: unknown; appVersion?: unknown };
    if (head?.format !== BUNDLE_FORMAT)
      throw new BundleError(`${file} is not a STaR Lab run bundle (its manifest.json is not a bundle manifest)`);
    const byPath = new Map<string, TarEntry>();
    for (const e of entries) {
      const bad = badEntryPath(e.path);
      if (bad) throw new BundleError(`${file} is refused: entry "${e.path}" has ${bad}`);
      if (byPath.has(e.path)) throw new BundleError(`${file} is refused: entry "${e.path}" appears twice`);
      byPath.set(e.path, e);
    }
    if (typeof head.formatVersion === 'number' && head.formatVersion > BUNDLE_FORMAT_VERSION)
      throw new BundleError(
        `${file} was made by a newer STaR Lab (${String(head.appVersion)}, bundle format v${head.formatVersion}); this version (${APP_VERSION}) reads format v${BUNDLE_FORMAT_VERSION} and older: upgrade STaR Lab to import it`,
      );
    if (typeof head.schemaVersion === 'number' && head.schemaVersion > SCHEMA_VERSION)
      throw new BundleError(
        `${file} was made by a newer STaR Lab (${String(head.appVersion)}, database schema v${head.schemaVersion}); this version (${APP_VERSION}) has schema v${SCHEMA_VERSION}: upgrade STaR Lab to import it`,
      );
    const parsed = manifestSchema.safeParse(raw);
    if (!parsed.success)
      throw new BundleError(
        `${file}: manifest.json is invalid: ${parsed.error.issues
          .slice(0, 3)
          .map((i) => `${i.path.join('.')}: ${i.message}`)
          .join('; ')}`,
      );
    const manifest = parsed.data;
    for (const id of manifest.runIds)
      if (!RUN_ID_RE.test(id)) throw new BundleError(`${file} is refused: run id "${id}" is not a valid run id`);
    for (const [path, want] of Object.entries(manifest.files)) {
      const e = byPath.get(path);
      if (!e || e.type !== 'file') throw new BundleError(`${file} is damaged: ${path} is listed in the manifest but missing`);
      if (e.size !== want.size) throw new BundleError(`${file} is damaged: ${path} has ${e.size} bytes, the manifest says ${want.size}`);
      if (sha256OfEntry(fd, e) !== want.sha256) throw new BundleError(`${file} is damaged: ${path} does not match its checksum`);
    }
    for (const e of entries) {
      if (e.type === 'file' && e.path !== 'manifest.json' && !manifest.files[e.path])
        throw new BundleError(`${file} is refused: ${e.path} is not listed in the manifest`);
      const parts = e.path.split('/');
      if (parts[0] === 'runs' && parts[1] && !manifest.runIds.includes(parts[1]))
        throw new BundleError(`${file} is refused: ${e.path} belongs to no run of the manifest`);
    }
    for (const [name, t] of Object.entries(manifest.tables)) {
      if (t.file !== `tables/${name}.jsonl` || !manifest.files[t.file])
        throw new BundleError(`${file} is damaged: table ${name}'s file ${t.file} is missing`);
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
