/**
 * Idempotent ingest of run events. A batch of lines is applied in ONE transaction together
 * with the new file cursor. Every event first goes through the (run, seq) gate
 * (db/event-gate.ts); an event already there is skipped whole, so re-reading a file after a
 * crash or restart adds nothing twice. Never throws on bad lines.
 */
import { lineTooLongReason, parseEventLine, type ParsedLine, type RunEvent } from '../shared/protocol';
import type { DB } from './open';
import { dropIterationsAfter, MAX_ITERATION } from './outcomes';
import { knownSeqs } from './event-gate';
import { earlierLineHashes, lineHash, PendingWrites } from './ingest-rows';

export { earlierLineHashes, lineHash };

export interface RawLine {
  /** 1-based line number in events.jsonl. */
  lineNo: number;
  text: string;
  /** A line over the protocol's limit that the tailer skipped: its length in bytes (text is its head only). */
  overLimitBytes?: number;
}

export interface Cursor {
  /** Byte offset just after the last consumed line. */
  offset: number;
  /** Number of lines consumed so far (= line number of the last consumed line). */
  lineNo: number;
}

export interface CursorRow extends Cursor {
  lastSeq: number;
  stdoutOffset: number;
  stderrOffset: number;
}

export interface IngestStats {
  /** Events newly applied (known and unknown types). */
  applied: number;
  /** Events skipped because their (run, seq) was already ingested. */
  duplicates: number;
  malformed: number;
  unknown: number;
  /**
   * Kept but not applied: events after the run's run_end, a run_start of another run, and
   * lines repeating an ingested seq with other content (see noteFor).
   */
  ignored: number;
  /** The run_end event, if this batch applied one. */
  runEnd: { status: string; error: string | null; t: number } | null;
}

const REJECTED_TEXT_MAX = 2000;
const LOG_MESSAGE_MAX = 20000;

export function getCursor(db: DB, runId: string): CursorRow {
  const r = db.prepare('SELECT offset, line_no, last_seq, stdout_offset, stderr_offset FROM ingest_cursors WHERE run_id = ?').get(runId) as
    { offset: number; line_no: number; last_seq: number; stdout_offset: number; stderr_offset: number } | undefined;
  if (!r) return { offset: 0, lineNo: 0, lastSeq: 0, stdoutOffset: 0, stderrOffset: 0 };
  return { offset: r.offset, lineNo: r.line_no, lastSeq: r.last_seq, stdoutOffset: r.stdout_offset, stderrOffset: r.stderr_offset };
}

export function setCursor(db: DB, runId: string, c: Partial<CursorRow>): void {
  db.prepare('INSERT OR IGNORE INTO ingest_cursors (run_id) VALUES (?)').run(runId);
  const sets: string[] = [];
  const params: Record<string, unknown> = { run_id: runId };
  const cols: [keyof CursorRow, string][] = [
    ['offset', 'offset'],
    ['lineNo', 'line_no'],
    ['lastSeq', 'last_seq'],
    ['stdoutOffset', 'stdout_offset'],
    ['stderrOffset', 'stderr_offset'],
  ];
  for (const [k, col] of cols) {
    if (c[k] === undefined) continue;
    sets.push(col === 'last_seq' ? 'last_seq = max(last_seq, @last_seq)' : `${col} = @${col}`);
    params[col] = c[k];
  }
  if (sets.length) db.prepare(`UPDATE ingest_cursors SET ${sets.join(', ')} WHERE run_id = @run_id`).run(params);
}

/** Parse and apply a batch of lines, and move the cursor, in one transaction. */
export function ingestLines(db: DB, runId: string, lines: RawLine[], cursor: Cursor | null): IngestStats {
  const parsed: { lineNo: number; text: string; parsed: ParsedLine }[] = [];
  for (const l of lines) {
    if (l.overLimitBytes !== undefined) {
      parsed.push({ lineNo: l.lineNo, text: l.text, parsed: { kind: 'malformed', reason: lineTooLongReason(l.overLimitBytes) } });
      continue;
    }
    if (isBlank(l.text)) continue;
    const p = parseEventLine(l.text);
    if (p.kind !== 'malformed') parsed.push({ lineNo: l.lineNo, text: l.text, parsed: p });
    else parsed.push(...(splitTornLine(l.lineNo, l.text) ?? [{ lineNo: l.lineNo, text: l.text, parsed: p }]));
  }
  return ingestParsed(db, runId, parsed, cursor);
}

/** Only whitespace (a line starting with `{` is not: the usual case costs one character). */
const isBlank = (text: string) => text.charCodeAt(0) !== 0x7b && text.trim() === '';

const MAX_SPLIT_CHARS = 1024 * 1024;
const MAX_SPLIT_TRIES = 4;

/** Where an event object starts: `{"v":` (JSON.stringify) or `{"v": ` (Python's json.dumps). */
const EVENT_START = /\{\s*"v"\s*:/g;

/**
 * A line that is a torn fragment followed by a whole event: what a file holds when a writer
 * died mid-line (or the file was truncated mid-line) and a writer appended again without
 * terminating the fragment. The event is kept; the fragment is rejected as malformed.
 */
export function splitTornLine(lineNo: number, text: string): { lineNo: number; text: string; parsed: ParsedLine }[] | null {
  // A torn write leaves one fragment: the event is at one of the first few candidates, and it
  // ends the line. Bounded so a long line of glued events (a writer that drops newlines) costs
  // a few parses, not one per event.
  if (text.length > MAX_SPLIT_CHARS || !text.trimEnd().endsWith('}')) return null;
  let tries = 0;
  for (const m of text.matchAll(EVENT_START)) {
    if (m.index === 0) continue;
    if (++tries > MAX_SPLIT_TRIES) break;
    const rest = text.slice(m.index);
    const p = parseEventLine(rest);
    if (p.kind === 'malformed') continue;
    const fragment = text.slice(0, m.index);
    return [
      {
        lineNo,
        text: fragment,
        parsed: {
          kind: 'malformed',
          reason: `torn fragment of ${Buffer.byteLength(fragment)} bytes before event ${p.kind === 'event' ? p.event.seq : p.envelope.seq} on the same line (a write cut off by a crash or a truncation)`,
        },
      },
      { lineNo, text: rest, parsed: p },
    ];
  }
  return null;
}

export function ingestParsed(
  db: DB,
  runId: string,
  items: { lineNo: number; text: string; parsed: ParsedLine }[],
  cursor: Cursor | null,
): IngestStats {
  const s = statements(db);
  const stats: IngestStats = { applied: 0, duplicates: 0, malformed: 0, unknown: 0, ignored: 0, runEnd: null };
  db.transaction(() => {
    let maxSeq = 0;
    const run = s.runState.get(runId) as RunState | undefined;
    const state: RunState = run ?? { end_status: null, hashes_json: null };
    // The (run, seq) gate (db/event-gate.ts): every seq of the batch already ingested, read at
    // once; what this batch takes joins it. Metrics events (most lines of a long run) are then
    // written many rows per statement, their gate as spans of consecutive seqs (PendingWrites),
    // flushed before any other event is applied, so every event still sees the tables as they
    // were after the events before it.
    const seqs: number[] = [];
    for (const { parsed: p } of items) if (p.kind !== 'malformed') seqs.push(p.kind === 'event' ? p.event.seq : p.envelope.seq);
    const seen = knownSeqs(db, runId, seqs);
    const pending = new PendingWrites(db, runId);
    let lastEventAt = -Infinity;
    let accuracy: number | null = null;
    /** A seq already taken: the same line read again, or another line reusing its seq. */
    const repeated = (lineNo: number, text: string, seq: number, type: string, hash: number) => {
      const first = seen.get(seq);
      if (first && first.hash !== null && first.hash !== hash && !earlierLineHashes(text).includes(first.hash)) {
        const reason = `seq ${seq} was already ingested from another line with different content (a ${first.type} event); this ${type} line was not applied`;
        if (s.reject.run(runId, lineNo, reason, truncate(text, REJECTED_TEXT_MAX), 'conflict').changes > 0) {
          stats.ignored++;
          s.bumpIgnored.run(runId);
          return;
        }
      }
      stats.duplicates++; // the same line read again (or a conflict already recorded)
    };
    /** The per-event gate of every event but a batched metrics one. False: the seq was taken. */
    const gate = (seq: number, type: string, t: number, payload: string | null, hash: number, note: string | null) => {
      pending.flush();
      if (s.gate.run(runId, seq, type, t, payload, hash, note).changes === 0) return false;
      seen.set(seq, { hash, type });
      return true;
    };
    for (const item of items) {
      const p = item.parsed;
      if (p.kind === 'malformed') {
        const r = s.reject.run(runId, item.lineNo, p.reason, truncate(item.text, REJECTED_TEXT_MAX), 'malformed');
        if (r.changes > 0) {
          stats.malformed++;
          s.bumpMalformed.run(runId);
        }
        continue;
      }
      const hash = lineHash(item.text);
      if (p.kind === 'unknown') {
        const e = p.envelope;
        if (seen.has(e.seq) || !gate(e.seq, e.type, e.t, p.raw, hash, null)) {
          repeated(item.lineNo, item.text, e.seq, e.type, hash);
          continue;
        }
        stats.unknown++;
        stats.applied++;
        maxSeq = Math.max(maxSeq, e.seq);
        s.bumpUnknown.run(e.t, runId);
        continue;
      }
      const ev = p.event;
      if (seen.has(ev.seq)) {
        repeated(item.lineNo, item.text, ev.seq, ev.type, hash);
        continue;
      }
      const note = noteFor(ev, runId, state);
      if (ev.type === 'metrics' && !note) {
        seen.set(ev.seq, { hash, type: ev.type });
        pending.event(ev.seq, ev.t, hash);
        for (const name in ev.values) {
          const value = ev.values[name]!;
          pending.metric(ev.seq, name, ev.iteration, ev.step, value, ev.t);
          if (name === 'eval/accuracy') accuracy = value;
        }
      } else {
        if (!gate(ev.seq, ev.type, ev.t, note ? item.text : null, hash, note)) {
          repeated(item.lineNo, item.text, ev.seq, ev.type, hash);
          continue;
        }
        if (note) {
          // kept whole in run_events (so it is read once and listed on the run page), not applied
          maxSeq = Math.max(maxSeq, ev.seq);
          stats.ignored++;
          s.bumpIgnored.run(runId);
          continue;
        }
        // a resume recomputes latest_accuracy from what is left: an accuracy before it is moot
        if (ev.type === 'resumed') accuracy = null;
        applyEvent(db, s, runId, ev, stats);
        if (ev.type === 'run_end') state.end_status = ev.status;
        if (ev.type === 'run_start') state.hashes_json = JSON.stringify(ev.hashes ?? {});
      }
      maxSeq = Math.max(maxSeq, ev.seq);
      stats.applied++;
      if (ev.t > lastEventAt) lastEventAt = ev.t;
    }
    pending.flush();
    if (lastEventAt > -Infinity) s.touch.run(lastEventAt, runId);
    if (accuracy !== null) s.accuracy.run(accuracy, runId);
    if (cursor) setCursor(db, runId, { offset: cursor.offset, lineNo: cursor.lineNo, lastSeq: maxSeq });
    else if (maxSeq) setCursor(db, runId, { lastSeq: maxSeq });
  })();
  return stats;
}

interface RunState {
  end_status: string | null;
  hashes_json: string | null;
}

/**
 * Why a well-formed event is kept but not applied, or null to apply it. After run_end the run
 * has ended (until a resume, which clears the ending): later events would overwrite what it
 * reported. A run_start naming another run (its env.run_id) or another config (hashes.config)
 * would replace this run's config and environment.
 */
export function noteFor(ev: RunEvent, runId: string, state: RunState): string | null {
  if (state.end_status !== null) return `after the run's run_end (${state.end_status}): not applied`;
  if (ev.type !== 'run_start') return null;
  const envRun = (ev.env as Record<string, unknown>)['run_id'];
  if (typeof envRun === 'string' && envRun !== '' && envRun !== runId)
    return `run_start of another run (env.run_id "${envRun.slice(0, 100)}"): not applied`;
  const had = state.hashes_json ? (JSON.parse(state.hashes_json) as Record<string, unknown>)['config'] : undefined;
  const now = ev.hashes?.['config'];
  if (typeof had === 'string' && typeof now === 'string' && had !== now)
    return `run_start with another config (hash ${now.slice(0, 12)}, the run's is ${had.slice(0, 12)}): not applied`;
  return null;
}

function applyEvent(db: DB, s: Statements, runId: string, ev: RunEvent, stats: IngestStats): void {
  switch (ev.type) {
    case 'run_start':
      s.runStart.run(JSON.stringify(ev.config), JSON.stringify(ev.env), JSON.stringify(ev.hashes ?? {}), runId);
      break;
    case 'phase_start':
      s.phaseStart.run(runId, ev.iteration, ev.phase, ev.t);
      s.position.run(ev.iteration, ev.phase, runId);
      break;
    case 'phase_end':
      s.phaseEnd.run(runId, ev.iteration, ev.phase, ev.t - ev.duration_s, ev.t, ev.duration_s);
      break;
    case 'progress':
      s.progress.run(ev.iteration, ev.phase, ev.done, ev.total, runId);
      break;
    case 'metrics':
      break; // written by ingestParsed, many rows per statement (PendingWrites)
    case 'samples':
      // Triggers on samples keep the per-question outcomes and the search index (db/outcomes.ts).
      if (ev.iteration > MAX_ITERATION) {
        s.log.run(
          runId,
          ev.t,
          'event',
          'error',
          `samples event ${ev.seq}: iteration ${ev.iteration} is over ${MAX_ITERATION}; its ${ev.items.length} samples were not stored`,
        );
        break;
      }
      ev.items.forEach((it, idx) => {
        s.sample.run({
          run_id: runId,
          seq: ev.seq,
          idx,
          iteration: ev.iteration,
          split: it.split,
          kind: it.kind,
          question_id: it.question_id,
          question: it.question,
          text: it.text,
          answer: it.answer,
          gold: it.gold,
          correct: it.correct ? 1 : 0,
          hint_used: it.hint_used ? 1 : 0,
          kept: it.kept === undefined ? null : it.kept ? 1 : 0,
          difficulty: it.difficulty ?? null,
          scores_json: it.scores ? JSON.stringify(it.scores) : null,
        });
      });
      break;
    case 'artifact':
      s.artifact.run(runId, ev.seq, ev.name, ev.kind, ev.path, ev.size ?? null, ev.iteration ?? null, ev.t);
      break;
    case 'heartbeat':
      break;
    case 'log':
      s.log.run(runId, ev.t, 'event', ev.level, truncate(ev.message, LOG_MESSAGE_MAX));
      break;
    case 'resumed': {
      // The resumed process loaded its checkpoint: what the run stored after it is redone now.
      // Samples go set-wise with their per-question outcomes (the per-row delete trigger is slow).
      const samples = dropIterationsAfter(db, runId, ev.iteration);
      let rows = samples;
      for (const del of [s.dropMetrics, s.dropPhases, s.dropArtifacts]) rows += del.run(runId, ev.iteration).changes;
      s.latestAccuracy.run(runId, runId);
      s.resumeDone.run(runId);
      s.log.run(
        runId,
        ev.t,
        'supervisor',
        'info',
        `the resumed process loaded its checkpoint of iteration ${ev.iteration}: ${rows} rows of later iterations dropped (they are redone)`,
      );
      break;
    }
    case 'run_end':
      s.runEnd.run(ev.status, ev.error ?? null, ev.t, runId);
      if (ev.status !== 'completed' && ev.error)
        s.log.run(runId, ev.t, 'event', 'error', truncate(`run ended ${ev.status}: ${ev.error}`, LOG_MESSAGE_MAX));
      stats.runEnd = { status: ev.status, error: ev.error ?? null, t: ev.t };
      break;
  }
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max) + `… [${s.length - max} more characters]`;
}

type Statements = ReturnType<typeof prepare>;
const cache = new WeakMap<DB, Statements>();

function statements(db: DB): Statements {
  let s = cache.get(db);
  if (!s) {
    s = prepare(db);
    cache.set(db, s);
  }
  return s;
}

function prepare(db: DB) {
  return {
    gate: db.prepare('INSERT OR IGNORE INTO run_events (run_id, seq, type, t, payload, hash, note) VALUES (?, ?, ?, ?, ?, ?, ?)'),
    runState: db.prepare('SELECT end_status, hashes_json FROM runs WHERE id = ?'),
    reject: db.prepare('INSERT OR IGNORE INTO rejected_lines (run_id, line_no, reason, text, kind) VALUES (?, ?, ?, ?, ?)'),
    bumpMalformed: db.prepare('UPDATE runs SET malformed_lines = malformed_lines + 1 WHERE id = ?'),
    bumpIgnored: db.prepare('UPDATE runs SET ignored_events = ignored_events + 1 WHERE id = ?'),
    dropMetrics: db.prepare('DELETE FROM metrics WHERE run_id = ? AND iteration > ?'),
    dropPhases: db.prepare('DELETE FROM phases WHERE run_id = ? AND iteration > ?'),
    dropArtifacts: db.prepare('DELETE FROM artifacts WHERE run_id = ? AND iteration > ?'),
    latestAccuracy: db.prepare(
      `UPDATE runs SET latest_accuracy = (SELECT value FROM metrics WHERE run_id = ? AND name = 'eval/accuracy' ORDER BY iteration DESC, step DESC, seq DESC LIMIT 1)
       WHERE id = ?`,
    ),
    resumeDone: db.prepare('UPDATE runs SET resume_prev_json = NULL WHERE id = ?'),
    bumpUnknown: db.prepare(
      'UPDATE runs SET unknown_events = unknown_events + 1, last_event_at = max(coalesce(last_event_at, 0), ?) WHERE id = ?',
    ),
    touch: db.prepare('UPDATE runs SET last_event_at = max(coalesce(last_event_at, 0), ?) WHERE id = ?'),
    runStart: db.prepare('UPDATE runs SET start_config_json = ?, env_json = ?, hashes_json = ? WHERE id = ?'),
    phaseStart: db.prepare(
      `INSERT INTO phases (run_id, iteration, phase, started_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (run_id, iteration, phase) DO UPDATE SET started_at = excluded.started_at, ended_at = NULL, duration_s = NULL`,
    ),
    phaseEnd: db.prepare(
      `INSERT INTO phases (run_id, iteration, phase, started_at, ended_at, duration_s) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (run_id, iteration, phase) DO UPDATE SET ended_at = excluded.ended_at, duration_s = excluded.duration_s`,
    ),
    position: db.prepare(
      'UPDATE runs SET current_iteration = ?, current_phase = ?, progress_done = NULL, progress_total = NULL WHERE id = ?',
    ),
    progress: db.prepare('UPDATE runs SET current_iteration = ?, current_phase = ?, progress_done = ?, progress_total = ? WHERE id = ?'),
    accuracy: db.prepare('UPDATE runs SET latest_accuracy = ? WHERE id = ?'),
    sample: db.prepare(
      `INSERT OR IGNORE INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold,
                                      correct, hint_used, kept, difficulty, scores_json)
       VALUES (@run_id, @seq, @idx, @iteration, @split, @kind, @question_id, @question, @text, @answer, @gold,
               @correct, @hint_used, @kept, @difficulty, @scores_json)`,
    ),
    artifact: db.prepare(
      'INSERT OR IGNORE INTO artifacts (run_id, seq, name, kind, path, size, iteration, t) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    log: db.prepare('INSERT INTO logs (run_id, t, source, level, message) VALUES (?, ?, ?, ?, ?)'),
    runEnd: db.prepare('UPDATE runs SET end_status = ?, end_error = ?, end_t = ? WHERE id = ?'),
  };
}
