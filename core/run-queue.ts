/**
 * The queue: queued runs (run directory and config written, nothing started) start oldest
 * first while the concurrency limit and the GPU slots allow; each start is claimed with a
 * conditional UPDATE, so two processes on one database never start the same run.
 */
import { join } from 'node:path';
import type { ExperimentConfig } from '../shared/experiment-config';
import { addLog, getRunRow, insertRun, nowS, queuedRuns, runningRuns, type RunRow } from '../db/queries';
import { cancelQueuedRun, claimQueuedRun, markStartFailed, recordProcess } from '../db/run-writes';
import { describeStarted, executorSpecOfRow, slurmOptionsOf, startFailed, type LaunchContext } from './executor';
import { runsDir } from './paths';
import { cachedPythonCheck, type PythonCheck } from './python-check';
import { configColumns, createRunDir, eventsPathOf } from './run-files';
import { executorColumns, groupRecord, recordedExecutor, recordStartFailure } from './run-launch';
import type { ExecutorSpec } from '../shared/executor-spec';
import { writeRunRecord } from './run-record';
import { watch } from './run-watch';
import type { SupervisorContext } from './supervisor-context';
import { noRun } from './failure';
import { MAX_ARRAY_TASKS } from './slurm-executor';
import { SCRIPT_EXECUTOR, SCRIPT_NOT_RUNNABLE } from './script-runs';

export class RunQueue {
  /** An interpreter check started by schedule() is under way (it schedules again when done). */
  private preflightRunning = false;

  constructor(private readonly ctx: SupervisorContext) {}

  /**
   * Start queued runs (oldest first) while the concurrency limit and the GPU slots allow.
   * Each start is claimed with a conditional UPDATE, so two processes on one database never
   * start the same run. Returns the ids started.
   */
  schedule(): string[] {
    const { ctx } = this;
    const { db, opts } = ctx;
    const started: string[] = [];
    if (ctx.closed) return started;
    if (opts.canStart?.()) return started; // e.g. the database is damaged: leave the queue as it is
    for (;;) {
      const limit = opts.maxConcurrent?.() ?? 0;
      // the concurrency limit and the GPU slots are this machine's: Slurm jobs wait in the
      // cluster's own queue, so they are submitted at once and do not count here
      const running = runningRuns(db).filter((r) => r.executor !== 'slurm');
      const queued = queuedRuns(db);
      const next = queued.find((r) => r.executor === 'slurm') ?? (limit > 0 && running.length >= limit ? undefined : queued[0]);
      if (!next) break;
      // an ablation's Slurm runs with the same resources go as one job array
      const array =
        next.executor === 'slurm' && next.group_id !== null
          ? queued
              .filter((r) => r.executor === 'slurm' && r.group_id === next.group_id && r.executor_json === next.executor_json)
              .slice(0, MAX_ARRAY_TASKS)
          : [];
      if (array.length > 1) {
        const verdict = ctx.checksPython ? cachedPythonCheck(opts.python()) : null;
        if (verdict === undefined) {
          this.preflightInBackground(opts.python());
          break;
        }
        started.push(...this.startArray(array, next.group_id!, verdict));
        continue;
      }
      const slots = next.executor === 'slurm' ? [] : (opts.gpuSlots?.() ?? []);
      let slot: string | null = null;
      if (slots.length) {
        const used = new Set(running.map((r) => r.gpu_slot).filter((s): s is string => s !== null));
        slot = slots.find((s) => !used.has(s)) ?? null;
        if (slot === null) break;
      }
      let verdict: PythonCheck | undefined | null = null;
      if (ctx.checksPython) {
        const python = opts.python();
        verdict = cachedPythonCheck(python);
        if (verdict === undefined) {
          // Importing torch takes seconds: check in the background, schedule again when known.
          this.preflightInBackground(python);
          break;
        }
      }
      const t = nowS();
      if (!claimQueuedRun(db, next.id, t, slot)) continue; // another process took it
      if (verdict && !verdict.ok) {
        const reason = `not started: ${verdict.message}`;
        db.transaction(() => markStartFailed(db, next.id, reason, { t }))();
        started.push(next.id);
        continue;
      }
      const config = JSON.parse(next.config_json) as ExperimentConfig;
      const launchCtx: LaunchContext = {
        runId: next.id,
        runDir: next.run_dir,
        configPath: join(next.run_dir, 'config.json'),
        eventsPath: eventsPathOf(next.run_dir),
        python: opts.python(),
        config,
        gpuSlot: slot,
        ...(slurmOptionsOf(next) ? { slurm: slurmOptionsOf(next) } : {}),
      };
      const sp = ctx.executorOf(next).start(launchCtx);
      if (startFailed(sp)) {
        const fail = (error: Error) => {
          if (ctx.closed) return;
          db.transaction(() => recordStartFailure(ctx, next.id, sp, error))();
          ctx.notify([next.id]);
        };
        if (sp.error instanceof Error) fail(sp.error);
        else void sp.error.then(fail).catch((e: unknown) => ctx.report(next.id, e));
        started.push(next.id);
        continue;
      }
      db.transaction(() => {
        recordProcess(db, next.id, sp);
        addLog(
          db,
          next.id,
          'supervisor',
          'info',
          `started from the queue: ${sp.cmdline} (${describeStarted(sp)}${slot !== null ? `, CUDA_VISIBLE_DEVICES=${slot}` : ''})`,
          t,
        );
      })();
      watch(ctx, next.id, sp);
      started.push(next.id);
    }
    if (started.length) ctx.notify(started);
    return started;
  }

  /**
   * Claim these queued Slurm runs of one group and submit them as one job array. A run another
   * process claimed meanwhile is left out; if sbatch refuses, every claimed run fails with its reason.
   */
  private startArray(rows: RunRow[], groupId: string, verdict: PythonCheck | null): string[] {
    const { ctx } = this;
    const { db, opts } = ctx;
    const t = nowS();
    const claimed = rows.filter((r) => claimQueuedRun(db, r.id, t, null));
    if (!claimed.length) return [];
    if (verdict && !verdict.ok) {
      const reason = `not started: ${verdict.message}`;
      db.transaction(() => claimed.forEach((r) => markStartFailed(db, r.id, reason, { t })))();
      return claimed.map((r) => r.id);
    }
    const ctxs: LaunchContext[] = claimed.map((r) => ({
      runId: r.id,
      runDir: r.run_dir,
      configPath: join(r.run_dir, 'config.json'),
      eventsPath: eventsPathOf(r.run_dir),
      python: opts.python(),
      config: JSON.parse(r.config_json) as ExperimentConfig,
      ...(slurmOptionsOf(r) ? { slurm: slurmOptionsOf(r) } : {}),
    }));
    const sp = ctx.executors.slurm.startArray(ctxs, groupId);
    if ('error' in sp) {
      const fail = (error: Error) => {
        if (ctx.closed) return;
        db.transaction(() => claimed.forEach((r) => recordStartFailure(ctx, r.id, sp, error)))();
        ctx.notify(claimed.map((r) => r.id));
      };
      if (sp.error instanceof Error) fail(sp.error);
      else void sp.error.then(fail).catch((e: unknown) => ctx.report(groupId, e));
      return claimed.map((r) => r.id);
    }
    db.transaction(() => {
      claimed.forEach((r, i) => {
        const jobId = sp.jobIds[i]!;
        recordProcess(db, r.id, { command: sp.command, pid: null, startTime: null, jobId });
        addLog(
          db,
          r.id,
          'supervisor',
          'info',
          `submitted from the queue as task ${i} of a job array: Slurm job ${jobId} (${claimed.length} tasks)`,
          t,
        );
      });
    })();
    claimed.forEach((r, i) =>
      watch(ctx, r.id, { command: sp.command, cmdline: sp.cmdline, pid: null, startTime: null, jobId: sp.jobIds[i]! }),
    );
    return claimed.map((r) => r.id);
  }

  /** One interpreter check at a time; the queue is scheduled again once it is known. */
  private preflightInBackground(python: string): void {
    if (this.preflightRunning) return;
    const { ctx } = this;
    this.preflightRunning = true;
    void ctx
      .preflight(python)
      .catch((e: unknown) => ctx.report('(python check)', e))
      .finally(() => {
        this.preflightRunning = false;
        try {
          if (ctx.watching && !ctx.closed) this.schedule();
        } catch (e) {
          ctx.report('(queue)', e);
        }
      });
  }

  /** Add a run to the queue (run directory and config written, nothing started yet). */
  enqueue(
    config: ExperimentConfig,
    extra: { groupId?: string | null; retryOf?: string | null; executor?: ExecutorSpec } = {},
  ): { id: string } {
    const { ctx } = this;
    const { db } = ctx;
    const { id, runDir } = createRunDir(runsDir(ctx.opts.dataDir), config, (x) => !!getRunRow(db, x));
    const t = nowS();
    writeRunRecord(runDir, {
      id,
      createdAt: t,
      group: groupRecord(ctx, extra.groupId ?? null),
      retryOf: extra.retryOf ?? null,
      ...recordedExecutor(extra.executor),
    });
    db.transaction(() => {
      insertRun(db, {
        id,
        group_id: extra.groupId ?? null,
        retry_of: extra.retryOf ?? null,
        ...executorColumns(extra.executor),
        ...configColumns(config),
        status: 'queued',
        created_at: t,
        run_dir: runDir,
      });
      addLog(db, id, 'supervisor', 'info', extra.retryOf ? `queued (a retry of ${extra.retryOf})` : 'queued', t);
    })();
    ctx.notify([id]);
    return { id };
  }

  /** Take a queued run off the queue (it ends 'stopped' without having started). */
  cancel(id: string): { ok: boolean; message: string } {
    const { db } = this.ctx;
    const t = nowS();
    if (!cancelQueuedRun(db, id, t)) return { ok: false, message: `run ${id} is not queued` };
    addLog(db, id, 'supervisor', 'info', 'cancelled before it started', t);
    this.ctx.notify([id]);
    return { ok: true, message: `cancelled run ${id}` };
  }

  /** Queue a new run with the same config (and group) as a failed or stopped one. */
  retry(id: string): { ok: boolean; message: string; id?: string } {
    const row = getRunRow(this.ctx.db, id);
    if (!row) return noRun(id);
    if (row.status !== 'failed' && row.status !== 'stopped')
      return { ok: false, message: `run ${id} is ${row.status}: only failed or stopped runs are retried` };
    if (row.executor === SCRIPT_EXECUTOR) return { ok: false, message: `run ${id} cannot be retried: ${SCRIPT_NOT_RUNNABLE}` };
    const executor = executorSpecOfRow(row);
    const { id: newId } = this.enqueue(JSON.parse(row.config_json) as ExperimentConfig, {
      groupId: row.group_id,
      retryOf: id,
      ...(executor ? { executor } : {}),
    });
    if (this.ctx.watching) this.schedule();
    return { ok: true, message: `queued ${newId} (a retry of ${id})`, id: newId };
  }
}
