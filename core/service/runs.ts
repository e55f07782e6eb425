/** Runs: the catalog, launch (validated first), stop, resume, cancel, retry, and reading a run back (detail, metrics, logs, samples, ingest issues). */
import { archiveRunLabels, editRunLabels, tagRunLabels } from '../run-labels';
import { deleteRuns } from '../run-delete';
import { runColumnChoices, runColumnValues } from '../../db/run-columns';
import { existsSync } from 'node:fs';
import { isAbsolute, sep } from 'node:path';
import type { Catalog } from '../../shared/contract';
import { DATASETS, DATASET_LABELS, PRESETS, VARIANTS, VARIANT_LABELS, resolveConfig } from '../../shared/experiment-config';
import * as q from '../../db/queries';
import { eventIssues } from '../../db/event-issues';
import { DatabaseLockedError, transientDbError } from '../db-errors';
import { checkpointIteration } from '../run-files';
import { PythonPreflightError } from '../supervisor';
import type { ServiceContext } from './context';
import { launchChecks } from './launch-checks';
import type { Service, ServiceCommands } from './types';

export type RunCommands = Pick<
  ServiceCommands,
  | 'listRuns'
  | 'getRun'
  | 'getMetricPoints'
  | 'getLogs'
  | 'getSamples'
  | 'getEventIssues'
  | 'catalog'
  | 'validateLaunch'
  | 'launchRun'
  | 'stopRun'
  | 'resumeRun'
  | 'cancelRun'
  | 'retryRun'
  | 'editRun'
  | 'tagRuns'
  | 'archiveRuns'
  | 'runColumnChoices'
  | 'runColumns'
  | 'deleteRuns'
> &
  Pick<Service, 'reconcile' | 'waitForRun' | 'lastLogId'>;

export function runCommands(ctx: ServiceContext): RunCommands {
  const { db, supervisor, dataDir } = ctx;
  let catalogCache: Catalog | null = null;

  const getRun: RunCommands['getRun'] = (id) => {
    const run = q.getRun(db, id);
    return run && { ...run, checkpointIteration: checkpointIteration(run.runDir) };
  };

  return {
    listRuns: () => q.listRuns(db),
    getRun,
    getMetricPoints: (id, o) => (q.getRunRow(db, id) ? q.getMetricPoints(db, id, o) : null),
    getLogs: (id, o) => q.getLogs(db, id, o ?? {}),
    getSamples: (id, o) => q.getSamples(db, id, o ?? {}),
    getEventIssues: (id, limit) => ctx.ifRun(id, () => eventIssues(db, id, limit)),

    catalog() {
      if (catalogCache) return catalogCache;
      const defaults: Catalog['defaults'] = {};
      for (const v of VARIANTS)
        for (const d of DATASETS)
          for (const p of PRESETS) {
            const r = resolveConfig({ variant: v, dataset: d, preset: p });
            if (r.ok) ((defaults[v] ??= {})[d] ??= {})[p] = r.config as unknown as Record<string, unknown>;
          }
      catalogCache = {
        variants: VARIANTS.map((id) => ({ id, label: VARIANT_LABELS[id] })),
        datasets: DATASETS.map((id) => ({ id, label: DATASET_LABELS[id] })),
        presets: [...PRESETS],
        defaults,
      };
      return catalogCache;
    },

    validateLaunch(spec) {
      const r = resolveConfig(spec);
      if (!r.ok) return r;
      const { errors, warnings } = launchChecks(r.config, dataDir);
      if (errors.length) return { ok: false, errors };
      return warnings.length ? { ...r, warnings } : r;
    },

    async launchRun(spec) {
      const damaged = ctx.damaged();
      if (damaged) return { ok: false, errors: [{ field: 'database', message: damaged }] };
      const r = resolveConfig(spec);
      if (!r.ok) return r;
      if (!ctx.opts.commandFor) {
        const py = ctx.python();
        if ((isAbsolute(py) || py.includes(sep) || py.includes('/')) && !existsSync(py)) {
          return {
            ok: false,
            errors: [{ field: 'python', message: `Python interpreter not found: ${py} (set it in Settings or with STARLAB_PYTHON)` }],
          };
        }
      }
      const { errors, warnings } = launchChecks(r.config, dataDir);
      if (errors.length) return { ok: false, errors };
      let id: string;
      try {
        ({ id } = await supervisor.launch(r.config, spec.executor ? { executor: spec.executor } : {}));
      } catch (e) {
        // Python missing, too old, or without torch/transformers: refused before anything started
        if (e instanceof PythonPreflightError) return { ok: false, errors: [{ field: 'python', message: e.message }] };
        // another process held the database past the busy timeout: nothing was started
        if (e instanceof DatabaseLockedError) return { ok: false, errors: [{ field: 'database', message: e.message }] };
        throw e;
      }
      return warnings.length ? { ok: true, id, warnings } : { ok: true, id };
    },

    stopRun: (id) => supervisor.stop(id),
    resumeRun: async (id) => {
      const damaged = ctx.damaged();
      return damaged ? { ok: false, message: damaged } : supervisor.resume(id);
    },
    cancelRun: (id) => supervisor.cancel(id),
    retryRun: (id) => {
      const damaged = ctx.damaged();
      return damaged ? { ok: false, message: damaged } : supervisor.retry(id);
    },

    editRun: (id, patch) => {
      const r = editRunLabels(db, id, patch);
      if (r.ok) ctx.emit('runsChanged', { ids: [id] });
      return r;
    },
    tagRuns: (ids, { add, remove }) => {
      const r = tagRunLabels(db, ids, add, remove);
      if (r.changed) ctx.emit('runsChanged', { ids });
      return r;
    },
    runColumnChoices: () => runColumnChoices(db),
    runColumns: (columns) => runColumnValues(db, columns),
    archiveRuns: (ids, archived) => {
      const r = archiveRunLabels(db, ids, archived);
      if (r.changed) ctx.emit('runsChanged', { ids });
      return r;
    },
    deleteRuns: (ids) => {
      const damaged = ctx.damaged();
      if (damaged) return { ok: false, message: damaged, deleted: [] };
      const r = deleteRuns(db, dataDir, ids);
      if (r.deleted.length) ctx.emit('runsChanged', { ids: r.deleted });
      return r;
    },

    reconcile: () => supervisor.reconcile(),
    lastLogId: (id) => q.lastLogId(db, id),

    async waitForRun(id, o = {}) {
      const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs;
      await supervisor.waitForEnd(id, o);
      // the run's detail once the database can be read (a lock or a full disk is waited out)
      for (;;) {
        if (ctx.closed()) return null;
        try {
          return getRun(id);
        } catch (e) {
          const why = transientDbError(e);
          if (why === null || Date.now() >= deadline) throw e;
          o.onWait?.(why);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    },
  };
}
