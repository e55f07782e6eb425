/**
 * The rows ingest writes for most lines, cheaply: metrics rows many per statement with their
 * events' gate spans (db/event-gate.ts), and the line hash that tells a repeated seq from the
 * same line read again (db/ingest.ts applies the events).
 */
import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { SpanWriter } from './event-gate';
import type { DB } from './open';

/**
 * 48 bits identifying the line an event came from (trimmed): tells a repeated seq with other
 * content from the same line read twice. Two 32-bit multiply-xor lanes (cyrb53's mixing) fed
 * two UTF-16 units a step; a chance match of two different lines is about 2^-48.
 */
export function lineHash(text: string): number {
  const s = text.trim();
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const c = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  // the odd unit out, and the length, so "ab" and "ab\0" differ
  const last = (i < n ? s.charCodeAt(i) : 0) ^ (n << 16);
  h1 = Math.imul(h1 ^ last, 2654435761);
  h2 = Math.imul(h2 ^ last, 1597334677);
  return finish(h1, h2);
}

function finish(h1: number, h2: number): number {
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 & 0xffff) * 2 ** 32 + (h1 >>> 0);
}

/**
 * The hashes earlier versions stored for this line (one UTF-16 unit a step, before schema v10;
 * 48 bits of sha1 before that): a line such a database holds, read again, is still the same line.
 */
export function earlierLineHashes(text: string): number[] {
  const s = text.trim();
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  return [finish(h1, h2), createHash('sha1').update(s).digest().readUIntBE(0, 6)];
}

/** Rows per multi-row INSERT: few statement calls per batch, well under SQLite's 32,766 parameters. */
const ROWS_PER_INSERT = 64;

/**
 * The metrics rows of batched metrics events, written ROWS_PER_INSERT rows per statement (a
 * statement call per row was most of ingest's cost beside raw inserts), and their gate spans.
 */
export class PendingWrites {
  private spans = new SpanWriter();
  private metrics: (string | number)[] = [];
  constructor(
    private db: DB,
    private runId: string,
  ) {}
  /** A metrics event through the gate (its seq joins a span). */
  event(seq: number, t: number, hash: number): void {
    this.spans.add(seq, t, hash);
  }
  metric(seq: number, name: string, iteration: number, step: number, value: number, t: number): void {
    this.metrics.push(this.runId, seq, name, iteration, step, value, t);
  }
  flush(): void {
    this.spans.flush(this.db, this.runId);
    if (this.metrics.length) writeRows(this.db, this.metrics);
    this.metrics = [];
  }
}

const HEAD = 'INSERT OR IGNORE INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES ';
const ROW = '(?, ?, ?, ?, ?, ?, ?)';
const WIDTH = 7;
const multiRowCache = new WeakMap<DB, Map<number, Statement>>();

function writeRows(db: DB, values: (string | number)[]): void {
  let cache = multiRowCache.get(db);
  if (!cache) multiRowCache.set(db, (cache = new Map()));
  const rows = values.length / WIDTH;
  for (let at = 0; at < rows; at += ROWS_PER_INSERT) {
    const n = Math.min(ROWS_PER_INSERT, rows - at);
    let stmt = cache.get(n);
    if (!stmt) cache.set(n, (stmt = db.prepare(HEAD + Array(n).fill(ROW).join(', '))));
    stmt.run(values.slice(at * WIDTH, (at + n) * WIDTH));
  }
}
