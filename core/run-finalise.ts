/**
 * A run's end, once its process is gone: ingest the rest, then the run_end event's status if
 * any; else 'stopped' if a stop was requested; else 'failed' with the reason and the tail of
 * stderr.log (the decision is core/final-status.ts). A resume that ended before its process
 * loaded the checkpoint gets the run's previous ending back instead.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { eventCount } from '../db/event-gate';
import { addLog, getRunRow, nowS, type RunRow } from '../db/queries';
import { restoreEnding, writeEnding } from '../db/run-writes';
import { decideFinalStatus, describeExit, type ExitInfo } from './final-status';
import { eventsPathOf, readTail } from './run-files';
import type { SupervisorContext } from './supervisor-context';
import { EVENTS_INCIDENT_PREFIX, ingestEventsFile, ingestTextLog, tornTailBytes } from './tailer';

/**
 * Decide a run's final status once its process is gone. Ingests everything left first.
 * Returns false if the run was not 'running' (already finalised, possibly elsewhere).
 */
export function finaliseRun(ctx: SupervisorContext, id: string, exitArg?: ExitInfo): boolean {
  const db = ctx.db;
  let exit = exitArg ?? ctx.exits.get(id);
  let done = false;
  db.transaction(() => {
    let row = getRunRow(db, id);
    if (!row || row.status !== 'running') return;
    // recorded at the child's exit by the process that spawned it (which may have closed since)
    if (!exit && (row.exit_code !== null || row.signal !== null))
      exit = { code: row.exit_code, signal: row.signal as NodeJS.Signals | null };
    ingestEventsFile(db, id, eventsPathOf(row.run_dir), { maxBatches: Infinity });
    for (const s of ['stdout', 'stderr'] as const) {
      for (let i = 0; i < 1000 && ingestTextLog(db, id, join(row.run_dir, `${s}.log`), s, { flush: true }) > 0; i++);
    }
    row = getRunRow(db, id)!;
    const t = nowS();
    if (row.resume_prev_json !== null) {
      // A resume that ended before its process loaded the checkpoint (no `resumed` event):
      // nothing was dropped, and the run gets its ending back.
      const why = [row.end_error, describeExit(exit) ?? 'the process disappeared', ...eventsAccount(ctx, row)].filter(Boolean).join('; ');
      const tail = readTail(join(row.run_dir, 'stderr.log'), 1024)?.trim().split('\n').slice(-3).join(' | ');
      if (!restoreEnding(db, id)) return;
      addLog(
        db,
        id,
        'supervisor',
        'error',
        `resume failed before the checkpoint was loaded (${why})${tail ? `; stderr: ${tail}` : ''}; nothing was dropped: the run is as it was before the resume`,
        t,
      );
      done = true;
      return;
    }
    const { status, reason, warning } = decideFinalStatus({
      endStatus: row.end_status,
      endError: row.end_error,
      stopRequested: row.stop_requested_at !== null,
      exit,
      notes: eventsAccount(ctx, row),
    });
    if (warning) addLog(db, id, 'supervisor', 'warning', warning, t);
    const tail = status === 'completed' ? null : readTail(join(row.run_dir, 'stderr.log'));
    const ended = writeEnding(db, id, {
      status,
      reason,
      endedAt: row.end_t ?? t,
      exitCode: exit?.code ?? null,
      signal: exit?.signal ?? null,
      stderrTail: tail,
    });
    if (!ended) return;
    addLog(db, id, 'supervisor', status === 'failed' ? 'error' : 'info', `run ${status}${reason ? `: ${reason}` : ''}`, t);
    done = true;
  }).immediate();
  if (done || getRunRow(db, id)?.status !== 'running') {
    ctx.lastRunning.delete(id);
    ctx.zombieSince.delete(id);
    ctx.exits.delete(id);
    ctx.diskFullAtExit.delete(id);
    ctx.pendingPids.delete(id);
  }
  return done;
}

/**
 * What happened to the run's events file, for the final status reason: no event at all, a
 * torn last line left by a killed writer, the file truncated/replaced/deleted under the run
 * (the tailer's warnings since this process started).
 */
function eventsAccount(ctx: SupervisorContext, row: RunRow): string[] {
  const notes: string[] = [];
  const file = eventsPathOf(row.run_dir);
  const events = eventCount(ctx.db, row.id);
  const since = Math.max(row.started_at ?? 0, row.resumed_at ?? 0);
  const incidents = ctx.db
    .prepare(
      `SELECT message FROM logs WHERE run_id = ? AND source = 'supervisor' AND level = 'warning' AND t >= ? AND message LIKE ? ORDER BY id`,
    )
    .all(row.id, since - 1, `${EVENTS_INCIDENT_PREFIX}%`) as { message: string }[];
  for (const i of incidents) notes.push(i.message.split(':')[0]!);
  if (events === 0 && !incidents.length)
    notes.push(existsSync(file) ? 'no complete event line was written' : 'no event was written (there is no events.jsonl)');
  const torn = tornTailBytes(ctx.db, row.id, file);
  if (torn > 0) notes.push(`events.jsonl ends with an incomplete line of ${torn} bytes (the writer died mid-line; not ingested)`);
  // A full disk also swallows the experiment's own stderr, so say it here.
  const free = ctx.diskFullAtExit.get(row.id);
  if (free !== undefined) notes.push(`the disk holding the run directory was full when the experiment exited (${free} bytes free)`);
  return notes;
}
