/**
 * What ingest could not interpret or would not apply for a run, so the run page can show it
 * rather than only count it: malformed lines (skipped, kept in rejected_lines with the
 * reason), events of an unknown type or a newer protocol version (kept whole in
 * run_events.payload), and events kept but not applied (run_events.note: after the run's
 * run_end, a run_start of another run; rejected_lines of kind 'conflict': a line repeating an
 * ingested seq with other content).
 */
import type { DB } from './open';
import type { EventIssues } from '../shared/contract';

const TEXT_MAX = 2_000;

export function eventIssues(db: DB, runId: string, limit = 100): EventIssues {
  const malformed = db
    .prepare("SELECT line_no AS lineNo, reason, text FROM rejected_lines WHERE run_id = ? AND kind = 'malformed' ORDER BY line_no LIMIT ?")
    .all(runId, limit) as { lineNo: number; reason: string; text: string }[];
  const malformedTotal = (
    db.prepare("SELECT count(*) AS n FROM rejected_lines WHERE run_id = ? AND kind = 'malformed'").get(runId) as { n: number }
  ).n;
  // Kept lines can be megabytes each: only their head leaves SQLite (clipped, with the length).
  const rows = db
    .prepare(
      `SELECT seq, type, t, substr(payload, 1, ${TEXT_MAX}) AS payload, length(payload) AS len,
              CASE WHEN json_valid(payload) THEN json_extract(payload, '$.v') END AS v
       FROM run_events WHERE run_id = ? AND payload IS NOT NULL AND note IS NULL ORDER BY seq LIMIT ?`,
    )
    .all(runId, limit) as { seq: number; type: string; t: number; payload: string; len: number; v: unknown }[];
  const unknownTotal = (
    db.prepare('SELECT count(*) AS n FROM run_events WHERE run_id = ? AND payload IS NOT NULL AND note IS NULL').get(runId) as { n: number }
  ).n;
  const byKind = db
    .prepare(
      `SELECT type, json_extract(payload, '$.v') AS v, count(*) AS n FROM run_events
       WHERE run_id = ? AND payload IS NOT NULL AND note IS NULL AND json_valid(payload) GROUP BY 1, 2 ORDER BY n DESC, type`,
    )
    .all(runId) as { type: string; v: unknown; n: number }[];
  const notes = db
    .prepare(
      `SELECT seq, type, note, substr(payload, 1, ${TEXT_MAX}) AS payload, length(payload) AS len FROM run_events WHERE run_id = ? AND note IS NOT NULL ORDER BY seq LIMIT ?`,
    )
    .all(runId, limit) as { seq: number; type: string; note: string; payload: string | null; len: number | null }[];
  const conflicts = db
    .prepare("SELECT line_no AS lineNo, reason, text FROM rejected_lines WHERE run_id = ? AND kind = 'conflict' ORDER BY line_no LIMIT ?")
    .all(runId, limit) as { lineNo: number; reason: string; text: string }[];
  const ignoredTotal =
    (db.prepare('SELECT count(*) AS n FROM run_events WHERE run_id = ? AND note IS NOT NULL').get(runId) as { n: number }).n +
    (db.prepare("SELECT count(*) AS n FROM rejected_lines WHERE run_id = ? AND kind = 'conflict'").get(runId) as { n: number }).n;
  return {
    ignoredTotal,
    ignored: [
      ...notes.map((n) => ({ seq: n.seq, lineNo: null, type: n.type, reason: n.note, raw: clip(n.payload ?? '', n.len ?? 0) })),
      ...conflicts.map((c) => ({ seq: null, lineNo: c.lineNo, type: null, reason: c.reason, raw: clip(c.text) })),
    ].slice(0, limit),
    malformedTotal,
    malformed: malformed.map((m) => ({ ...m, text: clip(m.text) })),
    unknownTotal,
    unknownKinds: byKind.map((k) => ({ type: k.type, version: typeof k.v === 'number' ? k.v : null, count: k.n })),
    unknown: rows.map((r) => ({
      seq: r.seq,
      type: r.type,
      t: r.t,
      version: typeof r.v === 'number' ? r.v : null,
      raw: clip(r.payload, r.len),
    })),
  };
}

/** The first TEXT_MAX characters, saying how long the whole was. */
const clip = (s: string, length = s.length): string => (length > TEXT_MAX ? `${s.slice(0, TEXT_MAX)}… (${length} characters)` : s);
