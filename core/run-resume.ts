/**
 * Resuming a stopped or failed run after its last checkpointed iteration: claimed with
 * claimForResume (its ending kept aside), started again in the same run directory; a start
 * that fails puts the ending back (restoreEnding), as does finalise for a resume whose process
 * ends before it loaded the checkpoint (core/run-finalise.ts).
 */
import { SCRIPT_EXECUTOR, SCRIPT_NOT_RUNNABLE } from './script-runs';
import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ExperimentConfig } from '../shared/experiment-config';
import { addLog, getRunRow, nowS } from '../db/queries';
import { claimForResume, recordProcess, restoreEnding } from '../db/run-writes';
import { describeStarted, slurmOptionsOf, startFailed, type LaunchContext } from './executor';
import { CHECKPOINT_FORMAT, checkpointInfo, eventsPathOf, writeConfigFile } from './run-files';
import { watch } from './run-watch';
import type { SupervisorContext } from './supervisor-context';
import { ingestEventsFile, tornTailBytes } from './tailer';
import { noRun } from './failure';

/**
 * Continue a stopped or failed run after its last checkpointed iteration: the same run
 * directory, config and events file (seq continues, so nothing is ingested twice).
 */
export async function resumeRun(ctx: SupervisorContext, id: string): Promise<{ ok: boolean; message: string }> {
  const { db } = ctx;
  const row = getRunRow(db, id);
  if (!row) return noRun(id);
  if (row.status === 'running' || row.status === 'queued') return { ok: false, message: `run ${id} is ${row.status}` };
  if (row.status === 'completed') return { ok: false, message: `run ${id} completed: there is nothing to resume` };
  if (row.executor === SCRIPT_EXECUTOR) return { ok: false, message: `run ${id} cannot be resumed: ${SCRIPT_NOT_RUNNABLE}` };
  const ck = checkpointInfo(row.run_dir);
  if (ck === null)
    return { ok: false, message: `run ${id} has no iteration checkpoint to resume from (it ended before its first iteration did)` };
  if (ck.format < CHECKPOINT_FORMAT)
    return {
      ok: false,
      message:
        `run ${id}'s checkpoint was written by an older STaR Lab in PyTorch's pickle format, which can run code when it is loaded; ` +
        "STaR Lab no longer loads pickles from run directories (a run directory may come from someone else's bundle). " +
        'Retry the run (a new run with the same config), or resume it with the STaR Lab version that wrote it',
    };
  const iteration = ck.iteration;
  const verdict = await ctx.preflight();
  if (verdict && !verdict.ok) return { ok: false, message: verdict.message };
  const config = JSON.parse(row.config_json) as ExperimentConfig;
  const configPath = join(row.run_dir, 'config.json');
  if (!existsSync(configPath)) writeConfigFile(configPath, config);
  const launchCtx: LaunchContext = {
    runId: id,
    runDir: row.run_dir,
    configPath,
    eventsPath: eventsPathOf(row.run_dir),
    python: ctx.opts.python(),
    config,
    resume: true,
    ...(slurmOptionsOf(row) ? { slurm: slurmOptionsOf(row) } : {}),
  };
  // Claim the run in one transaction (another process may try the same): everything the old
  // process wrote is ingested first. Nothing is deleted here: what the old process stored
  // after the checkpoint (a partial iteration, redone now) is dropped when the new process
  // reports it has loaded the checkpoint (its `resumed` event, db/ingest.ts). Until then the
  // run's ending is kept aside, and a resume that fails first puts it back (finalise).
  const claimed = db
    .transaction(() => {
      ingestEventsFile(db, id, launchCtx.eventsPath, { maxBatches: Infinity });
      return claimForResume(db, id, nowS());
    })
    .immediate();
  if (!claimed) return { ok: false, message: `run ${id} is no longer stopped or failed (resumed elsewhere?)` };
  // A line torn by the old process's death is ended here, so the new process's first event
  // does not land on the same line (the emitter does this too; a writer that does not is safe).
  const torn = tornTailBytes(db, id, launchCtx.eventsPath);
  if (torn > 0) {
    appendFileSync(launchCtx.eventsPath, '\n');
    addLog(
      db,
      id,
      'supervisor',
      'warning',
      `events.jsonl ended with an incomplete line of ${torn} bytes (the previous process died while writing it): terminated it before resuming; it is counted as malformed`,
    );
  }
  const started = ctx.executorOf(row).start(launchCtx);
  const t = nowS();
  if (startFailed(started)) {
    const error = started.error instanceof Error ? started.error : await started.error;
    db.transaction(() => {
      restoreEnding(db, id);
      addLog(db, id, 'supervisor', 'error', `could not resume: ${error.message} (command: ${started.cmdline}); the run is as it was`, t);
    })();
    ctx.notify([id]);
    return { ok: false, message: `could not start ${started.command}: ${error.message}` };
  }
  db.transaction(() => {
    recordProcess(db, id, started);
    addLog(db, id, 'supervisor', 'info', `resumed after iteration ${iteration}: ${started.cmdline} (${describeStarted(started)})`, t);
  })();
  watch(ctx, id, started);
  return { ok: true, message: `resumed run ${id} after iteration ${iteration} (${describeStarted(started)})` };
}
