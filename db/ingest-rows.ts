/**
 * The rows ingest writes for most lines, cheaply: the (run, seq) gate's lookup of a whole batch
 * in one query, run_events and metrics rows many per statement, and the line hash that tells a
 * repeated seq from the same line read again (db/ingest.ts applies the events).
 */
import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { ParsedLine } from '../shared/protocol';
import type { DB } from './open';

const knownCache = new WeakMap<DB, Statement>();
function knownStmt(db: DB): Statement {
  let st = knownCache.get(db);
  if (!st)
    knownCache.set(
      db,
      (st = db.prepare('SELECT seq, hash, type FROM run_events WHERE run_id = ? AND seq IN (SELECT value FROM json_each(?))')),
    );
  return st;
}

/**
 * 48 bits identifying the line an event came from (trimmed): tells a repeated seq with other
 * content from the same line read twice. A 2 × 32-bit multiply-xor hash (cyrb53's mixing),
 * several times cheaper than sha1 per line; a chance match of two different lines is 2^-48.
 */
export function lineHash(text: string): number {
  const s = text.trim();
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h2 & 0xffff) * 2 ** 32 + (h1 >>> 0);
}

/** The hash databases stored before lineHash (48 bits of sha1): a line they hold read again is still the same line. */
export function legacyLineHash(text: string): number {
  return createHash('sha1').update(text.trim()).digest().readUIntBE(0, 6);
}

/** The seqs of these items already in run_events, with the hash and type of the line each came from. */
export function knownSeqs(db: DB, runId: string, items: { parsed: ParsedLine }[]): Map<number, { hash: number | null; type: string }> {
  const seqs: number[] = [];
  for (const { parsed: p } of items) if (p.kind !== 'malformed') seqs.push(p.kind === 'event' ? p.event.seq : p.envelope.seq);
  const known = new Map<number, { hash: number | null; type: string }>();
  if (!seqs.length) return known;
  for (const r of knownStmt(db).all(runId, JSON.stringify(seqs)) as { seq: number; hash: number | null; type: string }[])
    known.set(r.seq, { hash: r.hash, type: r.type });
  return known;
}

/** Rows per multi-row INSERT: few statement calls per batch, well under SQLite's 32,766 parameters. */
const ROWS_PER_INSERT = 64;

/**
 * The run_events and metrics rows of batched metrics events, written ROWS_PER_INSERT rows per
 * statement (a statement call per row was most of ingest's cost beside raw inserts).
 */
export class PendingWrites {
  private events: (string | number)[] = [];
  private metrics: (string | number)[] = [];
  constructor(
    private db: DB,
    private runId: string,
  ) {}
  event(seq: number, type: string, t: number, hash: number): void {
    this.events.push(this.runId, seq, type, t, hash);
  }
  metric(seq: number, name: string, iteration: number, step: number, value: number, t: number): void {
    this.metrics.push(this.runId, seq, name, iteration, step, value, t);
  }
  flush(): void {
    if (this.events.length) writeRows(this.db, 'events', this.events);
    if (this.metrics.length) writeRows(this.db, 'metrics', this.metrics);
    this.events = [];
    this.metrics = [];
  }
}

const ROW_SQL = {
  events: {
    head: 'INSERT INTO run_events (run_id, seq, type, t, payload, hash, note) VALUES ',
    row: '(?, ?, ?, ?, NULL, ?, NULL)',
    width: 5,
  },
  metrics: {
    head: 'INSERT OR IGNORE INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES ',
    row: '(?, ?, ?, ?, ?, ?, ?)',
    width: 7,
  },
} as const;
const multiRowCache = new WeakMap<DB, Map<string, Statement>>();

function writeRows(db: DB, table: keyof typeof ROW_SQL, values: (string | number)[]): void {
  const { head, row, width } = ROW_SQL[table];
  let cache = multiRowCache.get(db);
  if (!cache) multiRowCache.set(db, (cache = new Map()));
  const rows = values.length / width;
  for (let at = 0; at < rows; at += ROWS_PER_INSERT) {
    const n = Math.min(ROWS_PER_INSERT, rows - at);
    const key = `${table}:${n}`;
    let stmt = cache.get(key);
    if (!stmt) cache.set(key, (stmt = db.prepare(head + Array(n).fill(row).join(', '))));
    stmt.run(values.slice(at * width, (at + n) * width));
  }
}
