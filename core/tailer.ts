/**
 * Follows a run's events.jsonl from the byte cursor stored in ingest_cursors, and its
 * stdout.log / stderr.log into the logs table. Only complete lines are consumed: a torn
 * last line (no newline yet) waits for its newline. Each batch is read and committed inside
 * one IMMEDIATE transaction together with the new cursor, so two processes following the
 * same run (the server and a CLI) never apply a line twice.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { addLog, nowS } from '../db/queries';
import { getCursor, ingestLines, setCursor, type IngestStats, type RawLine } from '../db/ingest';
import type { DB } from '../db/open';

export const DEFAULT_MAX_LINES = 2000;
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
/** Longest single line kept in memory; longer ones are consumed (and rejected as malformed). */
const MAX_LINE_BYTES = 64 * 1024 * 1024;
const SCAN_CHUNK = 1024 * 1024;

export interface ReadResult {
  lines: RawLine[];
  /** Offset and line number after the consumed lines. */
  offset: number;
  lineNo: number;
  /** File size, or null if the file does not exist (yet). */
  size: number | null;
  /** The file is shorter than the cursor. */
  truncated: boolean;
  /** Complete lines remain after this read. */
  more: boolean;
}

/** Read up to maxLines complete lines (about maxBytes) starting at a byte offset. */
export function readCompleteLines(
  file: string,
  offset: number,
  lineNo: number,
  opts: { maxLines?: number; maxBytes?: number } = {},
): ReadResult {
  const maxLines = opts.maxLines ?? DEFAULT_MAX_LINES;
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
  const none = (size: number | null, truncated = false): ReadResult => ({ lines: [], offset, lineNo, size, truncated, more: false });
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return none(null);
    throw e;
  }
  try {
    const size = fstatSync(fd).size;
    if (size < offset) return none(size, true);
    const avail = size - offset;
    if (avail === 0) return none(size);
    const want = Math.min(avail, maxBytes);
    let buf = Buffer.allocUnsafe(want);
    const n = readSync(fd, buf, 0, want, offset);
    buf = buf.subarray(0, n);
    let last = buf.lastIndexOf(0x0a);
    if (last < 0) {
      if (n >= avail) return none(size); // torn last line: wait for its newline
      // One line longer than maxBytes: scan on for its end.
      const found = scanLongLine(fd, buf, offset + n, size);
      if (!found) return none(size);
      const text = found.kept.toString('utf8', 0, Math.max(0, found.kept.length - 1)).replace(/\r$/, '');
      return {
        lines: [{ lineNo: lineNo + 1, text }],
        offset: found.end,
        lineNo: lineNo + 1,
        size,
        truncated: false,
        more: found.end < size,
      };
    }
    const lines: RawLine[] = [];
    let start = 0;
    let ln = lineNo;
    while (start <= last && lines.length < maxLines) {
      const nl = buf.indexOf(0x0a, start);
      let end = nl;
      if (end > start && buf[end - 1] === 0x0d) end--;
      lines.push({ lineNo: ++ln, text: buf.toString('utf8', start, end) });
      start = nl + 1;
    }
    const newOffset = offset + start;
    return { lines, offset: newOffset, lineNo: ln, size, truncated: false, more: start <= last || newOffset < size && n < avail };
  } finally {
    closeSync(fd);
  }
}

function scanLongLine(fd: number, head: Buffer, pos: number, size: number): { kept: Buffer; end: number } | null {
  const chunks: Buffer[] = [head];
  let keptBytes = head.length;
  while (pos < size) {
    const b = Buffer.allocUnsafe(Math.min(SCAN_CHUNK, size - pos));
    const n = readSync(fd, b, 0, b.length, pos);
    if (n <= 0) return null;
    const nl = b.subarray(0, n).indexOf(0x0a);
    const part = nl >= 0 ? b.subarray(0, nl + 1) : b.subarray(0, n);
    if (keptBytes + part.length <= MAX_LINE_BYTES) {
      chunks.push(part);
      keptBytes += part.length;
    }
    pos += part.length;
    if (nl >= 0) return { kept: Buffer.concat(chunks), end: pos };
  }
  return null;
}

export interface TailStats extends IngestStats {
  batches: number;
  /** The file was found shorter than the cursor (and re-read from the start). */
  truncated: boolean;
  /** Complete lines are left for a later call (maxBatches reached). */
  more: boolean;
}

/**
 * Ingest new complete lines of a run's events file, batch by batch, each batch in one
 * transaction with its cursor. Stops after maxBatches (pass Infinity to drain).
 */
export function ingestEventsFile(
  db: DB,
  runId: string,
  file: string,
  opts: { maxLines?: number; maxBytes?: number; maxBatches?: number } = {},
): TailStats {
  const total: TailStats = { applied: 0, duplicates: 0, malformed: 0, unknown: 0, runEnd: null, batches: 0, truncated: false, more: false };
  const maxBatches = opts.maxBatches ?? 5;
  for (let b = 0; b < maxBatches; b++) {
    let again = false;
    db.transaction(() => {
      const c = getCursor(db, runId);
      const r = readCompleteLines(file, c.offset, c.lineNo, opts);
      if (r.truncated) {
        if (total.truncated) return; // at most one reset per call
        total.truncated = true;
        addLog(
          db,
          runId,
          'supervisor',
          'warning',
          `events.jsonl is ${r.size} bytes, shorter than the ingest cursor (${c.offset} bytes): the file was truncated or replaced; re-reading it from the start (events already ingested are skipped)`,
        );
        setCursor(db, runId, { offset: 0, lineNo: 0 });
        again = true;
        return;
      }
      if (!r.lines.length) return;
      const st = ingestLines(db, runId, r.lines, { offset: r.offset, lineNo: r.lineNo });
      total.batches++;
      total.applied += st.applied;
      total.duplicates += st.duplicates;
      total.malformed += st.malformed;
      total.unknown += st.unknown;
      if (st.runEnd) total.runEnd = st.runEnd;
      again = r.more;
    }).immediate();
    if (!again) {
      total.more = false;
      return total;
    }
    total.more = true;
  }
  return total;
}

const TEXT_LINE_MAX = 4000;

/**
 * Copy new lines of stdout.log / stderr.log into the logs table. Carriage-return progress
 * bars keep only their last state. flush consumes a final line without newline too.
 * Returns the number of log rows added.
 */
export function ingestTextLog(
  db: DB,
  runId: string,
  file: string,
  stream: 'stdout' | 'stderr',
  opts: { flush?: boolean; maxBytes?: number } = {},
): number {
  const maxBytes = opts.maxBytes ?? 1024 * 1024;
  let added = 0;
  db.transaction(() => {
    const c = getCursor(db, runId);
    let offset = stream === 'stdout' ? c.stdoutOffset : c.stderrOffset;
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch {
      return;
    }
    try {
      const size = fstatSync(fd).size;
      if (size < offset) offset = 0;
      if (size === offset) return;
      const want = Math.min(size - offset, maxBytes);
      const buf = Buffer.allocUnsafe(want);
      const n = readSync(fd, buf, 0, want, offset);
      let end = buf.subarray(0, n).lastIndexOf(0x0a) + 1;
      if (end === 0 && (opts.flush || n === maxBytes)) end = n; // no newline: take all if flushing or the line is huge
      if (opts.flush && n === size - offset) end = n;
      if (end === 0) return;
      const text = buf.toString('utf8', 0, end);
      const t = nowS();
      for (let line of text.split('\n')) {
        if (line.includes('\r')) {
          const parts = line.split('\r').filter((p) => p.trim() !== '');
          line = parts[parts.length - 1] ?? '';
        }
        if (line.trim() === '') continue;
        if (line.length > TEXT_LINE_MAX) line = line.slice(0, TEXT_LINE_MAX) + '…';
        addLog(db, runId, stream, 'info', line, t);
        added++;
      }
      setCursor(db, runId, stream === 'stdout' ? { stdoutOffset: offset + end } : { stderrOffset: offset + end });
    } finally {
      closeSync(fd);
    }
  }).immediate();
  return added;
}
