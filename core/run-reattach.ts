/**
 * Runs left 'running' by an earlier process (a restarted app, the CLI): their events are
 * ingested, those whose process is still alive with the same start time are followed again,
 * the others are finalised once their events are in.
 */
import { addLog, runningRuns } from '../db/queries';
import { pollRow } from './run-watch';
import type { SupervisorContext } from './supervisor-context';
import { handleOf } from './executor';

/**
 * Ingest everything pending for every 'running' run (bounded: one batch each, the rest is
 * left to the ticks); re-attach those whose process is alive with the same start time,
 * finalise the others once their events are in. Returns the changed run ids.
 */
export function reconcileRuns(ctx: SupervisorContext, opts: { bounded?: boolean } = {}): string[] {
  const changed: string[] = [];
  for (const row of runningRuns(ctx.db)) {
    try {
      const poll = opts.bounded ? { maxBatches: 1, limits: ctx.batch } : { maxBatches: Infinity };
      if (pollRow(ctx, row, poll).changed) changed.push(row.id);
    } catch (e) {
      ctx.report(row.id, e);
    }
  }
  if (changed.length) ctx.notify(changed);
  return changed;
}

/** On start: reconcile, and log each run whose process is still there as re-attached. */
export function reattach(ctx: SupervisorContext): void {
  // One batch per run here: a big backlog left by a crash is taken by the budgeted ticks,
  // so a restarted app answers at once (a dead run is finalised once its events are in).
  reconcileRuns(ctx, { bounded: true });
  for (const r of runningRuns(ctx.db)) {
    if (ctx.children.has(r.id) || (r.pid == null && r.job_id == null) || !ctx.executorOf(r).alive(handleOf(r))) continue;
    try {
      const what =
        r.job_id != null ? `Slurm job ${r.job_id} (still queued or running)` : `pid ${r.pid} (still alive with the same start time)`;
      addLog(ctx.db, r.id, 'supervisor', 'info', `watching ${what}: re-attached`);
    } catch (e) {
      ctx.report(r.id, e);
    }
  }
}
