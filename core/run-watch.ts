/**
 * Following running runs: a child spawned here reports its exit directly; every other run is
 * polled (events, stdout/stderr into logs, is its process still there). The process that
 * watches also answers the UI, so a tick ingests in bounded batches, one run after the other
 * (round-robin, resuming where the last tick stopped), yields to the event loop between batches
 * and stops after a time budget; a backlog is continued on the next tick.
 */
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { getCursor } from '../db/ingest';
import { addLog, getRunRow, nowS, type RunRow } from '../db/queries';
import { recordExit, recordProcess } from '../db/run-writes';
import { isBusyError } from './db-errors';
import { handleOf, type Started } from './executor';
import { DISK_FULL_BYTES, eventsPathOf, freeBytes } from './run-files';
import { finaliseRun } from './run-finalise';
import { clearKillTimer } from './run-stop';
import type { SupervisorContext } from './supervisor-context';
import { ingestEventsFile, ingestTextLog } from './tailer';

/** A child that exits with more unread events than this is finalised by the ticks once they are in, not inline. */
const INLINE_FINALISE_BYTES = 256 * 1024;
/** Text-log bytes per run and tick (stdout/stderr into logs). */
const TICK_TEXT_LOG_BYTES = 256 * 1024;
/** A zombie (exited, parent not yet reaped it) is given this long for its parent to finalise it with the exit code. */
const ZOMBIE_GRACE_MS = 1500;

type Polled = { changed: boolean; more: boolean };

/**
 * Follow a started run: where this process is its parent, its exit is reported here (and the
 * run finalised with the exit code); otherwise the ticks notice it is gone.
 */
export function watch(ctx: SupervisorContext, id: string, s: Started): void {
  if (s.child && s.pid != null) watchChild(ctx, id, s.child, s.pid);
  else {
    ctx.lastRunning.add(id);
    ctx.notify([id]);
  }
}

/** Finalise the run when its child exits, and clean up what the process group left behind. */
function watchChild(ctx: SupervisorContext, id: string, child: ChildProcess, pid: number): void {
  ctx.children.set(id, child);
  ctx.lastRunning.add(id);
  child.on('error', (e) => ctx.report(id, e));
  child.once('exit', (code, signal) => {
    ctx.children.delete(id);
    clearKillTimer(ctx, id);
    if (ctx.closed) return;
    // Kept until finalise succeeds: with the database locked or the disk full it fails now,
    // and the next poll finalises with the real exit code instead of "process disappeared".
    ctx.exits.set(id, { code, signal });
    // On the row too, so a finalise by a later process (after this one closed with a backlog
    // unread) still knows how the experiment ended.
    try {
      recordExit(ctx.db, id, code, signal);
    } catch {
      // locked or full: this process still has it in memory
    }
    // Look at the disk now: finalising may only succeed once space was freed again.
    if (code !== 0) {
      const dir = runDirOf(ctx, id);
      const free = dir ? freeBytes(dir) : null;
      if (free !== null && free < DISK_FULL_BYTES) ctx.diskFullAtExit.set(id, free);
    }
    try {
      // A big backlog is left to the budgeted ticks (they finalise once it is in, with this
      // exit code): draining it here in one go would block the event loop for seconds.
      if (!ctx.watching || unreadBytes(ctx, id) <= INLINE_FINALISE_BYTES) finaliseRun(ctx, id, { code, signal });
    } catch (e) {
      ctx.report(id, e);
    }
    ctx.executor.cleanUp({ pid, startTime: null, jobId: null }); // a child is always this machine's
    ctx.notify([id]);
  });
  if (!ctx.watching) child.unref();
  ctx.notify([id]);
}

function runDirOf(ctx: SupervisorContext, id: string): string | null {
  try {
    return getRunRow(ctx.db, id)?.run_dir ?? null;
  } catch {
    return null;
  }
}

/** Bytes of a run's events file after the ingest cursor (0 if unknown). */
function unreadBytes(ctx: SupervisorContext, id: string): number {
  const row = getRunRow(ctx.db, id);
  if (!row) return 0;
  try {
    return Math.max(0, statSync(eventsPathOf(row.run_dir)).size - getCursor(ctx.db, id).offset);
  } catch {
    return 0;
  }
}

/**
 * Ingest one running run's files; finalise it if its process is gone. Returns whether
 * anything changed. maxBatches: event batches to ingest (Infinity: all; then the text logs
 * are copied whole too). deferZombies: give an exited-but-unreaped process's parent (another
 * starlab process, which knows the exit code) a moment to finalise it first.
 */
export function pollRow(
  ctx: SupervisorContext,
  row: RunRow,
  o: { maxBatches: number; limits?: { maxLines?: number; maxBytes?: number }; deferZombies?: boolean },
): Polled {
  const { maxBatches, limits = {}, deferZombies = false } = o;
  let changed = false;
  const st = ingestEventsFile(ctx.db, row.id, eventsPathOf(row.run_dir), { ...limits, maxBatches });
  if (st.applied || st.malformed || st.ignored || st.truncated || st.duplicates) changed = true;
  const textOpts = maxBatches === Infinity ? {} : { maxBytes: TICK_TEXT_LOG_BYTES };
  if (ingestTextLog(ctx.db, row.id, join(row.run_dir, 'stdout.log'), 'stdout', textOpts) > 0) changed = true;
  if (ingestTextLog(ctx.db, row.id, join(row.run_dir, 'stderr.log'), 'stderr', textOpts) > 0) changed = true;
  const result = (c: boolean) => ({ changed: c, more: st.more });
  if (ctx.children.has(row.id)) return result(changed); // its exit event finalises it
  // Finalised only once its events are in (finalise drains the rest in one transaction; a
  // big backlog is taken batch by batch first so the drain does not block the event loop).
  if (st.more) return result(changed);
  // (a script's run followed by its heartbeat has neither: its executor says whether it goes on)
  if (row.pid == null && row.job_id == null && row.executor !== 'script') {
    // Spawned (or resumed) by another process that has not recorded the pid yet; give it a moment.
    if (ctx.pendingPids.has(row.id) || nowS() - Math.max(row.created_at, row.resumed_at ?? 0, row.started_at ?? 0) < 30)
      return result(changed);
    return result(finaliseRun(ctx, row.id) || changed);
  }
  const ex = ctx.executorOf(row);
  if (ex.alive(handleOf(row))) {
    ctx.zombieSince.delete(row.id);
    return result(changed);
  }
  if (deferZombies && ex.awaitingParent(handleOf(row))) {
    // Exited, and its parent (another process of ours) is about to report the exit code.
    const since = ctx.zombieSince.get(row.id) ?? Date.now();
    ctx.zombieSince.set(row.id, since);
    if (Date.now() - since < ZOMBIE_GRACE_MS) return result(changed);
  }
  ctx.zombieSince.delete(row.id);
  return result(finaliseRun(ctx, row.id) || changed);
}

/** Poll one run now (ingest; finalise if its process is gone). */
export function pollRunNow(ctx: SupervisorContext, id: string): boolean {
  const row = getRunRow(ctx.db, id);
  if (!row || row.status !== 'running') return false;
  return pollRow(ctx, row, { maxBatches: Infinity }).changed;
}

/**
 * Round-robin over the running runs, one bounded batch each per pass, yielding to the event
 * loop after every batch, until no run has complete lines left or the time budget is spent.
 * The first pass also copies the text logs and checks each run's process (finalising it once
 * its events are all in). startAt: the run the last round could not serve, served first now.
 * Returns the run this round could not serve (the budget ran out with work left), else null.
 */
export async function ingestRound(
  ctx: SupervisorContext,
  rows: RunRow[],
  changed: Set<string>,
  startAt: string | null,
): Promise<string | null> {
  const deadline = performance.now() + ctx.budgetMs;
  const start = rows.findIndex((r) => r.id === startAt);
  let active = start > 0 ? [...rows.slice(start), ...rows.slice(0, start)] : rows;
  let first = true;
  while (active.length) {
    const more: RunRow[] = [];
    for (const stale of active) {
      if (performance.now() >= deadline) return stale.id;
      const row = getRunRow(ctx.db, stale.id); // the snapshot may be stale after a yield
      if (!row || row.status !== 'running') continue;
      try {
        const r = first ? pollRow(ctx, row, { maxBatches: 1, limits: ctx.batch, deferZombies: true }) : ingestBatch(ctx, row);
        if (r.changed) changed.add(row.id);
        if (r.more) more.push(row);
      } catch (e) {
        ctx.report(row.id, e);
        // Locked by another process: each further run would wait out the busy timeout too.
        if (isBusyError(e)) return null;
      }
      await yieldToLoop();
      if (ctx.closed) return null;
    }
    active = more;
    first = false;
  }
  return null;
}

/** One bounded batch of a run's events (a later pass of a tick). */
function ingestBatch(ctx: SupervisorContext, row: RunRow): Polled {
  const st = ingestEventsFile(ctx.db, row.id, eventsPathOf(row.run_dir), { ...ctx.batch, maxBatches: 1 });
  return { changed: st.applied + st.malformed + st.ignored + st.duplicates > 0 || st.truncated, more: st.more };
}

/** Record pids of launched runs whose pid update failed (database locked at that moment). */
export function recordPendingPids(ctx: SupervisorContext): void {
  for (const [id, p] of ctx.pendingPids) {
    try {
      ctx.db
        .transaction(() => {
          recordProcess(ctx.db, id, p, { onlyIfUnset: true });
          addLog(ctx.db, id, 'supervisor', 'info', p.message);
        })
        .immediate();
      ctx.pendingPids.delete(id);
    } catch (e) {
      ctx.report(id, e);
      return; // still locked: try again next tick
    }
  }
}
