/**
 * Follows a run's events.jsonl from the byte cursor stored in ingest_cursors, and its
 * stdout.log / stderr.log into the logs table. Only complete lines are consumed: a torn
 * last line (no newline yet) waits for its newline. Each batch is read and committed inside
 * one IMMEDIATE transaction together with the new cursor, so two processes following the
 * same run (the server and a CLI) never apply a line twice.
 */
import { closeSync, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import { addLog, nowS } from '../db/queries';
import { getCursor, ingestLines, setCursor, type IngestStats, type RawLine } from '../db/ingest';
import type { DB } from '../db/open';
import { MAX_EVENT_LINE_BYTES } from '../shared/protocol';

export const DEFAULT_MAX_LINES = 2000;
export const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
/**
 * Bytes of a line longer than a batch that one call scans for its end (the rest on the next
 * calls, each a batch of the tick): a few ms of reading and searching (1-10 ms measured from
 * the page cache, transaction included), so a 1 GB line never blocks the loop in one pass.
 * Only a line within MAX_EVENT_LINE_BYTES is then read whole; a longer one is skipped, its
 * first bytes kept for the malformed-line report.
 */
export const DEFAULT_MAX_SCAN_BYTES = 8 * 1024 * 1024;
const SCAN_CHUNK = 1024 * 1024;
/** Bytes of a skipped over-long line kept for the report (rejected_lines keeps 2,000 characters). */
const SKIPPED_HEAD_BYTES = 4096;

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
  opts: { maxLines?: number; maxBytes?: number; maxScanBytes?: number } = {},
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
    const st = fstatSync(fd);
    const size = st.size;
    if (size < offset) return none(size, true);
    const avail = size - offset;
    if (avail === 0) return none(size);
    const want = Math.min(avail, maxBytes);
    let buf = Buffer.allocUnsafe(want);
    const n = readSync(fd, buf, 0, want, offset);
    buf = buf.subarray(0, n);
    const last = buf.lastIndexOf(0x0a);
    if (last < 0) {
      if (n >= avail) return none(size); // torn last line: wait for its newline
      // One line longer than maxBytes: scan on for its end, a bounded stretch per call.
      const nl = scanLongLine(fd, file, st, offset, offset + n, size, opts.maxScanBytes ?? DEFAULT_MAX_SCAN_BYTES);
      // not found yet: `more` while unscanned bytes remain (the caller's next batch scans on)
      if (typeof nl !== 'number') return { ...none(size), more: nl.scanned < size };
      let end = nl;
      if (end > offset) {
        const cr = Buffer.alloc(1);
        readSync(fd, cr, 0, 1, end - 1);
        if (cr[0] === 0x0d) end--;
      }
      const bytes = end - offset;
      let line: RawLine;
      if (bytes > MAX_EVENT_LINE_BYTES) {
        // never held: its head only, for the report
        line = { lineNo: lineNo + 1, text: buf.toString('utf8', 0, Math.min(n, SKIPPED_HEAD_BYTES)), overLimitBytes: bytes };
      } else {
        const whole = Buffer.allocUnsafe(bytes);
        const got = readSync(fd, whole, 0, bytes, offset);
        line = { lineNo: lineNo + 1, text: whole.toString('utf8', 0, got) };
      }
      return { lines: [line], offset: nl + 1, lineNo: lineNo + 1, size, truncated: false, more: nl + 1 < size };
    }
    const lines: RawLine[] = [];
    let start = 0;
    let ln = lineNo;
    while (start <= last && lines.length < maxLines) {
      const nl = buf.indexOf(0x0a, start);
      let end = nl;
      if (end > start && buf[end - 1] === 0x0d) end--;
      // a batch larger than the line limit (maxBytes over MAX_EVENT_LINE_BYTES) holds such lines whole: refuse them all the same
      if (end - start > MAX_EVENT_LINE_BYTES)
        lines.push({ lineNo: ++ln, text: buf.toString('utf8', start, start + SKIPPED_HEAD_BYTES), overLimitBytes: end - start });
      else lines.push({ lineNo: ++ln, text: buf.toString('utf8', start, end) });
      start = nl + 1;
    }
    const newOffset = offset + start;
    return { lines, offset: newOffset, lineNo: ln, size, truncated: false, more: start <= last || (newOffset < size && n < avail) };
  } finally {
    closeSync(fd);
  }
}

/**
 * Per events file: a long line starting at `offset` was scanned up to `scanned` without
 * finding its newline. The next call resumes there, so a huge line (or one a writer is still
 * writing) is read once in bounded steps, never again from its start. Lost on restart: the
 * scan then starts over, which costs time, not events.
 */
const longLineScans = new Map<string, { dev: number; ino: number; offset: number; scanned: number }>();
const MAX_TRACKED_SCANS = 1000;

/**
 * The position of the newline ending the line that starts at `offset`, searching from `from`
 * (nothing before it is a newline) for at most `budget` bytes; else how far it got. Nothing
 * of the line is kept: one SCAN_CHUNK buffer is reused.
 */
function scanLongLine(
  fd: number,
  file: string,
  st: Stats,
  offset: number,
  from: number,
  size: number,
  budget: number,
): number | { scanned: number } {
  const known = longLineScans.get(file);
  let pos = from;
  if (known && known.dev === st.dev && known.ino === st.ino && known.offset === offset && known.scanned <= size)
    pos = Math.max(pos, known.scanned);
  const stop = Math.min(size, pos + Math.max(SCAN_CHUNK, budget));
  const b = Buffer.allocUnsafe(SCAN_CHUNK);
  while (pos < stop) {
    const n = readSync(fd, b, 0, Math.min(SCAN_CHUNK, stop - pos), pos);
    if (n <= 0) break;
    const nl = b.subarray(0, n).indexOf(0x0a);
    if (nl >= 0) {
      longLineScans.delete(file);
      return pos + nl;
    }
    pos += n;
  }
  if (!longLineScans.has(file) && longLineScans.size >= MAX_TRACKED_SCANS) longLineScans.clear();
  longLineScans.set(file, { dev: st.dev, ino: st.ino, offset, scanned: pos });
  return { scanned: pos };
}

export interface TailStats extends IngestStats {
  batches: number;
  /** The file was found truncated, replaced or rewritten under the cursor (and re-read from the start). */
  truncated: boolean;
  /** Complete lines are left for a later call (maxBatches reached). */
  more: boolean;
}

/** Bytes before the cursor remembered to notice a file rewritten under it. */
const FINGERPRINT_BYTES = 64;

interface Fingerprint {
  offset: number;
  dev: number;
  ino: number;
  /** The FINGERPRINT_BYTES (or fewer) bytes just before offset. */
  before: Buffer;
}

/** Per database and run: what the file looked like at the cursor after the last batch. */
const fingerprints = new WeakMap<DB, Map<string, Fingerprint>>();
/** Runs whose events file was reported missing after events had been read (report once). */
const missingReported = new WeakMap<DB, Set<string>>();

function fingerprintsOf(db: DB): Map<string, Fingerprint> {
  let m = fingerprints.get(db);
  if (!m) fingerprints.set(db, (m = new Map()));
  return m;
}

/** Prefix of the warnings logged for events-file incidents (finalise summarises them). */
export const EVENTS_INCIDENT_PREFIX = 'events.jsonl was ';

type CursorCheck = { ok: true } | { ok: false; size: number | null; what: string };

/**
 * Is the file still the one the cursor points into? Shorter than the cursor: truncated.
 * Otherwise the byte before the cursor must be the newline of the last consumed line, and
 * (when this process read it) the file's identity and the bytes before the cursor must be
 * unchanged: a file deleted and recreated, or truncated and refilled past the cursor by a
 * fast writer, is not mistaken for the old one (reading on mid-line would lose events).
 */
function checkCursor(db: DB, runId: string, file: string, offset: number): CursorCheck {
  if (offset === 0) return { ok: true };
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: false, size: null, what: 'deleted' };
    throw e;
  }
  try {
    const st = fstatSync(fd);
    if (st.size < offset)
      return { ok: false, size: st.size, what: `truncated at byte ${st.size} (the ingest cursor was at byte ${offset})` };
    const k = Math.min(offset, FINGERPRINT_BYTES);
    const before = Buffer.alloc(k);
    readSync(fd, before, 0, k, offset - k);
    const fp = fingerprintsOf(db).get(runId);
    if (fp && fp.offset === offset && (fp.dev !== st.dev || fp.ino !== st.ino))
      return {
        ok: false,
        size: st.size,
        what: `replaced by a new file of ${st.size} bytes (deleted and recreated? the ingest cursor was at byte ${offset})`,
      };
    if (before[k - 1] !== 0x0a || (fp && fp.offset === offset && !fp.before.equals(before)))
      return { ok: false, size: st.size, what: `truncated or rewritten before the ingest cursor at byte ${offset} (now ${st.size} bytes)` };
    return { ok: true };
  } finally {
    closeSync(fd);
  }
}

function remember(db: DB, runId: string, file: string, offset: number): void {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    fingerprintsOf(db).delete(runId);
    return;
  }
  try {
    const st = fstatSync(fd);
    const k = Math.min(offset, FINGERPRINT_BYTES);
    const before = Buffer.alloc(k);
    readSync(fd, before, 0, k, Math.max(0, offset - k));
    fingerprintsOf(db).set(runId, { offset, dev: st.dev, ino: st.ino, before });
  } finally {
    closeSync(fd);
  }
}

/**
 * Ingest new complete lines of a run's events file, batch by batch, each batch in one
 * transaction with its cursor. Stops after maxBatches (pass Infinity to drain). A file
 * truncated, replaced or rewritten under the cursor is logged (a warning starting with
 * EVENTS_INCIDENT_PREFIX) and re-read from the start: the (run, seq) gate skips what was
 * already ingested, and whatever the writer appended since is taken.
 */
export function ingestEventsFile(
  db: DB,
  runId: string,
  file: string,
  opts: { maxLines?: number; maxBytes?: number; maxScanBytes?: number; maxBatches?: number } = {},
): TailStats {
  const total: TailStats = {
    applied: 0,
    duplicates: 0,
    malformed: 0,
    unknown: 0,
    ignored: 0,
    runEnd: null,
    batches: 0,
    truncated: false,
    more: false,
  };
  const maxBatches = opts.maxBatches ?? 5;
  for (let b = 0; b < maxBatches; b++) {
    let again = false;
    let consumed: number | null = null;
    db.transaction(() => {
      const c = getCursor(db, runId);
      const check = checkCursor(db, runId, file, c.offset);
      if (!check.ok) {
        if (check.size === null) {
          // Deleted: nothing to read. Say so once; a writer that reopens by path recreates it.
          let seen = missingReported.get(db);
          if (!seen) missingReported.set(db, (seen = new Set()));
          if (!seen.has(runId)) {
            seen.add(runId);
            addLog(
              db,
              runId,
              'supervisor',
              'warning',
              `${EVENTS_INCIDENT_PREFIX}deleted after ${c.offset} bytes had been ingested: events written to it and not yet read are gone; waiting for it to reappear`,
            );
          }
          return;
        }
        if (total.truncated) return; // at most one reset per call
        total.truncated = true;
        missingReported.get(db)?.delete(runId);
        addLog(
          db,
          runId,
          'supervisor',
          'warning',
          `${EVENTS_INCIDENT_PREFIX}${check.what}: re-reading it from the start (events already ingested are skipped; events that were in the lost bytes and not yet read are gone)`,
        );
        setCursor(db, runId, { offset: 0, lineNo: 0 });
        fingerprintsOf(db).delete(runId);
        longLineScans.delete(file); // a scan of the old content says nothing about the new
        again = true;
        return;
      }
      const r = readCompleteLines(file, c.offset, c.lineNo, opts);
      if (r.truncated) {
        // shrank between the check and the read: the next call re-checks
        again = false;
        return;
      }
      if (!r.lines.length) {
        again = r.more; // a long line scanned part of the way: the next batch scans on
        return;
      }
      const st = ingestLines(db, runId, r.lines, { offset: r.offset, lineNo: r.lineNo });
      consumed = r.offset;
      total.batches++;
      total.applied += st.applied;
      total.duplicates += st.duplicates;
      total.malformed += st.malformed;
      total.unknown += st.unknown;
      total.ignored += st.ignored;
      if (st.runEnd) total.runEnd = st.runEnd;
      again = r.more;
    }).immediate();
    if (consumed !== null) remember(db, runId, file, consumed);
    if (!again) {
      total.more = false;
      return total;
    }
    total.more = true;
  }
  return total;
}

/** Bytes after the cursor that do not end in a newline: a torn last line (0 if none). */
export function tornTailBytes(db: DB, runId: string, file: string): number {
  const { offset } = getCursor(db, runId);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return 0;
  }
  try {
    const size = fstatSync(fd).size;
    if (size <= offset) return 0;
    const n = Math.min(size - offset, 1024 * 1024);
    const buf = Buffer.alloc(n);
    readSync(fd, buf, 0, n, size - n);
    const nl = buf.lastIndexOf(0x0a);
    return nl < 0 ? (n === size - offset ? n : 0) : n - nl - 1;
  } finally {
    closeSync(fd);
  }
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
