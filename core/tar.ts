/**
 * A small tar (POSIX ustar + pax) writer and reader for run bundles (core/bundle.ts).
 *
 * Written here rather than taken from npm: the `tar` package is only a dev dependency (of
 * electron-builder), and a bundle needs little: regular files and directories, long paths and
 * sizes over 8 GiB through pax records. File contents are streamed in chunks (checkpoints can
 * be several GB) and hashed (sha256) as they go through. The reader walks headers with
 * positional reads, so a caller can hash or copy one entry's data without reading the rest.
 * The files are plain tar: `tar tf bundle.tar` lists them, `tar xf` unpacks them.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync, writeSync } from 'node:fs';

const BLOCK = 512;
const CHUNK = 1 << 20;
/** The largest size a ustar header's 11 octal digits hold (8 GiB - 1); larger ones go in a pax record. */
const USTAR_MAX_SIZE = 0o77777777777;
/** The most a pax or GNU long-name header's data may hold: they are read into memory, and a bundle's need a few hundred bytes. */
export const MAX_HEADER_DATA = 1 << 20;

export type TarEntryType = 'file' | 'dir';

export interface TarEntry {
  path: string;
  type: TarEntryType;
  size: number;
  /** Byte offset of the entry's data in the archive. */
  dataOffset: number;
  mode: number;
  mtime: number;
}

function octal(n: number, width: number): string {
  // width - 1 digits, then NUL
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, type: '0' | '5' | 'x', size: number, mode: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK, 0);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(Math.min(size, USTAR_MAX_SIZE), 12), 124, 'ascii');
  h.write(octal(Math.max(0, Math.floor(mtime)), 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

/** One pax record: "<len> key=value\n", where len counts the whole record including itself. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body);
  let len = bodyLen + String(bodyLen).length;
  if (String(len).length !== String(bodyLen).length) len = bodyLen + String(len).length;
  return `${len}${body}`;
}

/** Whether `name` fits a ustar name field as is (ASCII, at most 100 bytes). */
function fitsUstar(name: string): boolean {
  return name.length <= 100 && /^[\x20-\x7e]*$/.test(name);
}

/** A file that is not a regular file where one was listed (swapped for a link, a FIFO, a device meanwhile): left out, never followed or read. */
export class NotRegularFileError extends Error {
  override name = 'NotRegularFileError';
  readonly code = 'ENOTREG';
}

/**
 * Open `path` for reading only if it is a regular file: O_NOFOLLOW (a file swapped for a link
 * between listing and opening is not followed) and O_NONBLOCK (a FIFO put there does not block
 * the open), then fstat. Throws NotRegularFileError for a link or a non-regular file.
 */
export function openRegularFile(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new NotRegularFileError(`${path} is a symbolic link`);
    throw e;
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new NotRegularFileError(`${path} is not a regular file`);
  }
  return fd;
}

/** Writes a tar archive to a file descriptor, sequentially. */
export class TarWriter {
  private pos = 0;
  constructor(private readonly fd: number) {}

  get bytesWritten(): number {
    return this.pos;
  }

  private write(buf: Buffer): void {
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    this.pos += buf.length;
  }

  private pad(size: number): void {
    const rest = size % BLOCK;
    if (rest) this.write(Buffer.alloc(BLOCK - rest, 0));
  }

  private entryHeader(name: string, type: '0' | '5', size: number, mode: number, mtime: number): void {
    const records: string[] = [];
    if (!fitsUstar(name)) records.push(paxRecord('path', name));
    if (size > USTAR_MAX_SIZE) records.push(paxRecord('size', String(size)));
    if (records.length) {
      const data = Buffer.from(records.join(''), 'utf8');
      this.write(header('PaxHeader', 'x', data.length, 0o644, mtime));
      this.write(data);
      this.pad(data.length);
    }
    // The ustar name is a placeholder when a pax path overrides it (kept ASCII and short).
    const short = fitsUstar(name) ? name : name.replace(/[^\x20-\x7e]/g, '_').slice(-100);
    this.write(header(short, type, size, mode, mtime));
  }

  addDir(name: string, mode = 0o755, mtime = Date.now() / 1000): void {
    this.entryHeader(name.endsWith('/') ? name : name + '/', '5', 0, mode, mtime);
  }

  /** Add an in-memory file; returns its sha256 (hex). */
  addBuffer(name: string, data: Buffer, mode = 0o644, mtime = Date.now() / 1000): string {
    this.entryHeader(name, '0', data.length, mode, mtime);
    this.write(data);
    this.pad(data.length);
    return createHash('sha256').update(data).digest('hex');
  }

  /**
   * Stream the file at `src` into the archive. Its size is taken once, when it is opened: a file
   * that grows meanwhile (a running run's log) is cut at that size; one that shrinks is an error.
   * Returns the size and sha256 of what was written.
   */
  addFile(name: string, src: string): { size: number; sha256: string } {
    const fd = openRegularFile(src);
    try {
      return this.addFd(name, fd, src);
    } finally {
      closeSync(fd);
    }
  }

  /** As addFile, from a file already open (`src` names it in errors); the caller closes `fd`. */
  addFd(name: string, fd: number, src: string): { size: number; sha256: string } {
    const st = fstatSync(fd);
    const size = st.size;
    this.entryHeader(name, '0', size, st.mode, st.mtimeMs / 1000);
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(size, 1)));
    let done = 0;
    while (done < size) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), done);
      if (n === 0) throw new Error(`${src} shrank while it was being written to the bundle (${done} of ${size} bytes read)`);
      const chunk = buf.subarray(0, n);
      hash.update(chunk);
      this.write(chunk);
      done += n;
    }
    this.pad(size);
    return { size, sha256: hash.digest('hex') };
  }

  /** The end-of-archive marker: two zero blocks. */
  finish(): void {
    this.write(Buffer.alloc(2 * BLOCK, 0));
  }
}

function readExactly(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done === length ? buf : buf.subarray(0, done);
}

function parseNumber(field: Buffer, what: string, at: number): number {
  // GNU base-256 (high bit of the first byte set) for values that do not fit the octal digits
  if ((field[0]! & 0x80) !== 0) {
    let n = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i]!;
    return n;
  }
  const s = field
    .toString('ascii')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (s === '') return 0;
  // (the field's bytes are not quoted: for a file that is not an archive they are its content)
  if (!/^[0-7]+$/.test(s)) throw new Error(`damaged tar header at byte ${at}: its ${what} field is not an octal number`);
  return parseInt(s, 8);
}

/** Names of the tar entry types a bundle refuses (errors name the type, never the raw header bytes). */
const ENTRY_TYPES: Record<string, string> = {
  '1': 'hard link',
  '2': 'symbolic link',
  '3': 'character device',
  '4': 'block device',
  '6': 'FIFO',
  K: 'GNU long link name',
  D: 'GNU directory dump',
  M: 'GNU multi-volume continuation',
  S: 'GNU sparse file',
  V: 'GNU volume label',
};

function cstring(field: Buffer): string {
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString('utf8');
}

function parsePax(data: Buffer, at: number): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    const len = sp < 0 ? NaN : Number(data.subarray(i, sp).toString('ascii'));
    if (!Number.isInteger(len) || len <= 0 || i + len > data.length) throw new Error(`damaged pax header at byte ${at}`);
    const rec = data.subarray(sp + 1, i + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq < 0) throw new Error(`damaged pax header at byte ${at}`);
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/**
 * The entries of the tar archive open at `fd`, in order. Headers are checked (checksum, numeric
 * fields, the data lying inside the file); a damaged or truncated archive throws. Only regular
 * files and directories are accepted: links and devices throw (a bundle never has them, and
 * unpacking them would be a way out of the target directory).
 */
export function* readTarEntries(fd: number): Generator<TarEntry> {
  const fileSize = fstatSync(fd).size;
  let pos = 0;
  let pax: Map<string, string> | null = null;
  let longName: string | null = null;
  for (;;) {
    if (pos + BLOCK > fileSize) throw new Error(`the archive is truncated (no end marker after byte ${pos})`);
    const h = readExactly(fd, BLOCK, pos);
    if (h.every((b) => b === 0)) return;
    if (!checksumMatches(h, parseNumber(h.subarray(148, 156), 'checksum', pos)))
      throw new Error(`damaged tar header at byte ${pos} (checksum mismatch)`);
    const type = String.fromCharCode(h[156]!);
    const size = parseNumber(h.subarray(124, 136), 'size', pos);
    const dataOffset = pos + BLOCK;
    const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
    if (dataOffset + size > fileSize) throw new Error(`the archive is truncated (an entry at byte ${pos} runs past its end)`);
    if (type === 'x' || type === 'g' || type === 'L') {
      // read into memory: a hostile archive must not make us allocate gigabytes
      if (size > MAX_HEADER_DATA)
        throw new Error(
          `the ${type === 'L' ? 'long-name' : 'pax'} header at byte ${pos} is ${size} bytes; at most ${MAX_HEADER_DATA} are allowed`,
        );
      const data = readExactly(fd, size, dataOffset);
      if (type === 'x') pax = parsePax(data, pos);
      else if (type === 'L') longName = cstring(data);
      pos = next;
      continue;
    }
    const prefix = h.subarray(257, 262).toString('ascii') === 'ustar' ? cstring(h.subarray(345, 500)) : '';
    let path = pax?.get('path') ?? longName ?? (prefix ? `${prefix}/${cstring(h.subarray(0, 100))}` : cstring(h.subarray(0, 100)));
    const realSize = pax?.has('size') ? Number(pax.get('size')) : size;
    if (!Number.isSafeInteger(realSize) || realSize < 0) throw new Error(`damaged pax header at byte ${pos} (size)`);
    if (realSize !== size && dataOffset + realSize > fileSize)
      throw new Error(`the archive is truncated (an entry at byte ${pos} runs past its end)`);
    pax = null;
    longName = null;
    let kind: TarEntryType;
    if (type === '0' || type === '\0' || type === '7') kind = 'file';
    else if (type === '5') kind = 'dir';
    else
      throw new Error(
        `the archive has an entry at byte ${pos} of unsupported type (${ENTRY_TYPES[type] ?? 'unknown'}): only files and directories are allowed`,
      );
    if (kind === 'dir') path = path.replace(/\/+$/, '');
    yield {
      path,
      type: kind,
      size: realSize,
      dataOffset,
      mode: parseNumber(h.subarray(100, 108), 'mode', pos),
      mtime: parseNumber(h.subarray(136, 148), 'mtime', pos),
    };
    pos = realSize === size ? next : dataOffset + Math.ceil(realSize / BLOCK) * BLOCK;
  }
}

/**
 * Whether the file open at `fd` starts like a tar archive: a first header block whose checksum
 * is right (or the end marker). Nothing of the file is kept or reported.
 */
export function looksLikeTar(fd: number): boolean {
  if (fstatSync(fd).size < BLOCK) return false;
  const h = readExactly(fd, BLOCK, 0);
  if (h.every((b) => b === 0)) return true;
  const field = h
    .subarray(148, 156)
    .toString('ascii')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
  if (!/^[0-7]{1,8}$/.test(field)) return false;
  return checksumMatches(h, parseInt(field, 8));
}

/** A header block's checksum: its bytes summed with the checksum field as spaces (unsigned, or signed as old tars wrote it). */
function checksumMatches(h: Buffer, stored: number): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i]!;
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return stored === unsigned || stored === signed;
}

/** Read an entry's data in chunks (for hashing or copying) without holding it in memory. */
export function forEachChunk(fd: number, entry: TarEntry, fn: (chunk: Buffer) => void): void {
  const buf = Buffer.allocUnsafe(Math.min(CHUNK, Math.max(entry.size, 1)));
  let done = 0;
  while (done < entry.size) {
    const n = readSync(fd, buf, 0, Math.min(buf.length, entry.size - done), entry.dataOffset + done);
    if (n === 0) throw new Error(`the archive is truncated inside ${entry.path}`);
    fn(buf.subarray(0, n));
    done += n;
  }
}

export function sha256OfEntry(fd: number, entry: TarEntry): string {
  const hash = createHash('sha256');
  forEachChunk(fd, entry, (c) => hash.update(c));
  return hash.digest('hex');
}

/** An entry's data as a Buffer (for small entries: the manifest). */
export function readEntry(fd: number, entry: TarEntry): Buffer {
  return readExactly(fd, entry.size, entry.dataOffset);
}
