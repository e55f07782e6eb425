/**
 * The (run, seq) gate: which events of a run are ingested. An event is in when its seq has a
 * run_events row or lies inside one of its run's event_spans (migration 010): metrics events
 * applied in a stretch of consecutive seqs share a span, every other event keeps its own row.
 * Whatever asks "is this seq in", "how many events", or "since when" asks here, so the two
 * tables stay one gate.
 */
import type { Statement } from 'better-sqlite3';
import type { DB } from './open';

/** Seqs per span at most (the table's CHECK says the same): the spans covering a seq are one key range. */
export const MAX_SPAN = 4096;
const HASH_BYTES = 6;

export interface KnownSeq {
  /** The line hash it came from (null: stored before hashes, not compared). */
  hash: number | null;
  type: string;
}

interface SpanRow {
  first_seq: number;
  last_seq: number;
  hashes: Buffer;
}

const cache = new WeakMap<DB, ReturnType<typeof prepare>>();
function stmts(db: DB) {
  let s = cache.get(db);
  if (!s) cache.set(db, (s = prepare(db)));
  return s;
}

function prepare(db: DB) {
  return {
    // two seeks: run_events' key (run_id, seq) and the last span by first_seq (spans do not overlap)
    top: db
      .prepare(
        `SELECT max(coalesce((SELECT max(seq) FROM run_events WHERE run_id = @run), 0),
                    coalesce((SELECT last_seq FROM event_spans WHERE run_id = @run ORDER BY first_seq DESC LIMIT 1), 0))`,
      )
      .pluck() as Statement<{ run: string }, number>,
    rows: db.prepare('SELECT seq, hash, type FROM run_events WHERE run_id = ? AND seq IN (SELECT value FROM json_each(?))'),
    spans: db.prepare(
      'SELECT first_seq, last_seq, hashes FROM event_spans WHERE run_id = ? AND first_seq BETWEEN ? AND ? AND last_seq >= ? ORDER BY first_seq',
    ),
    insertSpan: db.prepare('INSERT INTO event_spans (run_id, first_seq, last_seq, t_min, t_max, hashes) VALUES (?, ?, ?, ?, ?, ?)'),
    count: db
      .prepare(
        `SELECT (SELECT count(*) FROM run_events WHERE run_id = @run)
              + coalesce((SELECT sum(last_seq - first_seq + 1) FROM event_spans WHERE run_id = @run), 0)`,
      )
      .pluck() as Statement<{ run: string }, number>,
    times: db.prepare(
      `SELECT min(first) AS first, max(last) AS last FROM (
         SELECT min(t) AS first, max(t) AS last FROM run_events WHERE run_id = @run
         UNION ALL SELECT min(t_min), max(t_max) FROM event_spans WHERE run_id = @run)`,
    ),
    rowSeqs: db.prepare('SELECT seq FROM run_events WHERE run_id = ?').pluck(),
    spanBounds: db.prepare('SELECT first_seq, last_seq FROM event_spans WHERE run_id = ?'),
  };
}

/**
 * Which of these seqs are already ingested for the run, with the hash and type of the line
 * each came from. A batch that starts past every ingested seq (a file read on from its cursor)
 * costs two index seeks; otherwise one lookup of the rows and one key range of the spans.
 */
export function knownSeqs(db: DB, runId: string, seqs: number[]): Map<number, KnownSeq> {
  const known = new Map<number, KnownSeq>();
  if (!seqs.length) return known;
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of seqs) {
    if (s < lo) lo = s;
    if (s > hi) hi = s;
  }
  const st = stmts(db);
  if (lo > st.top.get({ run: runId })!) return known;
  for (const r of st.rows.all(runId, JSON.stringify(seqs)) as { seq: number; hash: number | null; type: string }[])
    known.set(r.seq, { hash: r.hash, type: r.type });
  const spans = st.spans.all(runId, lo - MAX_SPAN + 1, hi, lo) as SpanRow[];
  if (!spans.length) return known;
  for (const seq of seqs) {
    // the last span starting at or before seq (spans are sorted by first_seq and do not overlap)
    let a = 0;
    let b = spans.length - 1;
    while (a < b) {
      const m = (a + b + 1) >> 1;
      if (spans[m]!.first_seq <= seq) a = m;
      else b = m - 1;
    }
    const s = spans[a]!;
    if (s.first_seq <= seq && seq <= s.last_seq)
      known.set(seq, { hash: s.hashes.readUIntBE((seq - s.first_seq) * HASH_BYTES, HASH_BYTES), type: 'metrics' });
  }
  return known;
}

/**
 * The spans of one batch's metrics events: consecutive seqs extend the open span, any other
 * seq (or a full span) starts the next. Written when the batch's other writes are flushed.
 */
export class SpanWriter {
  private first = 0;
  private hashes: number[] = [];
  private tMin = Infinity;
  private tMax = -Infinity;
  private done: [number, number, number, number, Buffer][] = [];

  add(seq: number, t: number, hash: number): void {
    const n = this.hashes.length;
    if (n && (seq !== this.first + n || n === MAX_SPAN)) this.close();
    if (!this.hashes.length) this.first = seq;
    this.hashes.push(hash);
    if (t < this.tMin) this.tMin = t;
    if (t > this.tMax) this.tMax = t;
  }

  flush(db: DB, runId: string): void {
    this.close();
    const ins = stmts(db).insertSpan;
    for (const [first, last, tMin, tMax, hashes] of this.done) ins.run(runId, first, last, tMin, tMax, hashes);
    this.done = [];
  }

  private close(): void {
    const n = this.hashes.length;
    if (!n) return;
    const buf = Buffer.allocUnsafe(n * HASH_BYTES);
    for (let i = 0; i < n; i++) buf.writeUIntBE(this.hashes[i]!, i * HASH_BYTES, HASH_BYTES);
    this.done.push([this.first, this.first + n - 1, this.tMin, this.tMax, buf]);
    this.hashes = [];
    this.tMin = Infinity;
    this.tMax = -Infinity;
  }
}

/** Events ingested for the run (applied, unknown and kept-not-applied alike). */
export function eventCount(db: DB, runId: string): number {
  return stmts(db).count.get({ run: runId })!;
}

/** The times of the run's first and last ingested events (null: none). */
export function eventTimes(db: DB, runId: string): { first: number | null; last: number | null } {
  return stmts(db).times.get({ run: runId }) as { first: number | null; last: number | null };
}

/** Every ingested seq of the run, a seq held twice listed twice (for checks: the faults suite, tests). */
export function ingestedSeqs(db: DB, runId: string): number[] {
  const st = stmts(db);
  const seqs = st.rowSeqs.all(runId) as number[];
  for (const s of st.spanBounds.all(runId) as { first_seq: number; last_seq: number }[])
    for (let q = s.first_seq; q <= s.last_seq; q++) seqs.push(q);
  return seqs;
}
