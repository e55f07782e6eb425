/**
 * Stopping a running run: stop_requested_at, SIGTERM to the process group now, SIGKILL after
 * the grace period if it is still there (one kill timer per run, however often stop is asked).
 */
import { SCRIPT_EXECUTOR } from './script-runs';
import { addLog, getRunRow, nowS } from '../db/queries';
import { recordStopRequest } from '../db/run-writes';
import { finaliseRun } from './run-finalise';
import type { SupervisorContext } from './supervisor-context';
import { noRun } from './failure';
import { handleOf } from './executor';

/** Request a stop: SIGTERM to the process group now, SIGKILL after the grace period. */
export function stopRun(ctx: SupervisorContext, id: string): { ok: boolean; message: string } {
  const row = getRunRow(ctx.db, id);
  if (!row) return noRun(id);
  if (row.status !== 'running') return { ok: false, message: `run ${id} is not running (${row.status})` };
  // a script followed by its heartbeat (another machine, or no /proc to verify its pid) has no process here to signal
  if (row.executor === SCRIPT_EXECUTOR && row.pid == null)
    return {
      ok: false,
      message: `run ${id} is reported by a script the lab cannot signal (it runs elsewhere): stop the script where it runs`,
    };
  const t = nowS();
  recordStopRequest(ctx.db, id, t);
  const child = ctx.children.get(id);
  const ex = ctx.executorOf(row);
  const h = handleOf(row);
  if ((h.pid == null && h.jobId == null) || (!child && !ex.alive(h))) {
    finaliseRun(ctx, id);
    ctx.notify([id]);
    return { ok: true, message: `run ${id} had already exited` };
  }
  const grace = ctx.opts.stopGraceMs();
  const what =
    h.jobId != null ? `Slurm job ${h.jobId}` : row.executor === SCRIPT_EXECUTOR ? `the script (pid ${h.pid})` : `process group ${h.pid}`;
  addLog(ctx.db, id, 'supervisor', 'info', `stop requested: SIGTERM to ${what}; SIGKILL in ${grace / 1000} s if still running`, t);
  ex.signal(h, 'SIGTERM');
  if (!ctx.killTimers.has(id)) {
    const timer = setTimeout(() => {
      ctx.killTimers.delete(id);
      if (ctx.closed) return;
      const still = child ? child.exitCode === null && child.signalCode === null : ex.alive(h);
      if (!still) return;
      try {
        addLog(ctx.db, id, 'supervisor', 'warning', `still running ${grace / 1000} s after SIGTERM: SIGKILL to ${what}`);
      } catch {
        // the database may be busy; the kill matters more
      }
      ex.signal(h, 'SIGKILL');
      ctx.notify([id]);
    }, grace);
    ctx.killTimers.set(id, timer);
  }
  ctx.notify([id]);
  return { ok: true, message: `sent SIGTERM to run ${id} (${what}); SIGKILL follows in ${grace / 1000} s if it does not exit` };
}

/** The run's process exited: no SIGKILL follows. */
export function clearKillTimer(ctx: SupervisorContext, id: string): void {
  const t = ctx.killTimers.get(id);
  if (t) clearTimeout(t);
  ctx.killTimers.delete(id);
}

/** On close: no SIGKILL follows for any run (their processes keep running). */
export function clearKillTimers(ctx: SupervisorContext): void {
  for (const t of ctx.killTimers.values()) clearTimeout(t);
  ctx.killTimers.clear();
}
