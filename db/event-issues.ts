/**
 * What ingest could not interpret for a run, so the run page can show it rather than only
 * count it: malformed lines (skipped, kept in rejected_lines with the reason) and events of
 * an unknown type or a newer protocol version (kept whole in run_events.payload).
 */
import type { DB } from './open';
import type { EventIssues } from '../shared/contract';

const TEXT_MAX = 2_000;

export function eventIssues(db: DB, runId: string, limit = 100): EventIssues {
  const malformed = db
    .prepare('SELECT line_no AS lineNo, reason, text FROM rejected_lines WHERE run_id = ? ORDER BY line_no LIMIT ?')
    .all(runId, limit) as { lineNo: number; reason: string; text: string }[];
  const malformedTotal = (db.prepare('SELECT count(*) AS n FROM rejected_lines WHERE run_id = ?').get(runId) as { n: number }).n;
  const rows = db
    .prepare('SELECT seq, type, t, payload FROM run_events WHERE run_id = ? AND payload IS NOT NULL ORDER BY seq LIMIT ?')
    .all(runId, limit) as { seq: number; type: string; t: number; payload: string }[];
  const unknownTotal = (db.prepare('SELECT count(*) AS n FROM run_events WHERE run_id = ? AND payload IS NOT NULL').get(runId) as { n: number }).n;
  const byKind = db
    .prepare(
      `SELECT type, json_extract(payload, '$.v') AS v, count(*) AS n FROM run_events
       WHERE run_id = ? AND payload IS NOT NULL AND json_valid(payload) GROUP BY 1, 2 ORDER BY n DESC, type`,
    )
    .all(runId) as { type: string; v: unknown; n: number }[];
  return {
    malformedTotal,
    malformed: malformed.map((m) => ({ ...m, text: clip(m.text) })),
    unknownTotal,
    unknownKinds: byKind.map((k) => ({ type: k.type, version: typeof k.v === 'number' ? k.v : null, count: k.n })),
    unknown: rows.map((r) => ({ seq: r.seq, type: r.type, t: r.t, version: versionOf(r.payload), raw: clip(r.payload) })),
  };
}

function versionOf(payload: string): number | null {
  try {
    const v = (JSON.parse(payload) as { v?: unknown }).v;
    return typeof v === 'number' ? v : null;
  } catch {
    return null;
  }
}

const clip = (s: string): string => (s.length > TEXT_MAX ? `${s.slice(0, TEXT_MAX)}… (${s.length} characters)` : s);
