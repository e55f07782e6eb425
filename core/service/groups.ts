/** Groups: ablations (planned with a duration estimate, created as queued runs), listing, stopping, and their runs' series. */
import { expandAblation, type AblationSpec } from '../../shared/ablation';
import * as q from '../../db/queries';
import { typicalRunSeconds } from '../../db/estimates';
import { newRunId } from '../run-files';
import type { ServiceContext } from './context';
import { launchChecks } from './launch-checks';
import type { ServiceCommands } from './types';

export type GroupCommands = Pick<
  ServiceCommands,
  | 'planAblation'
  | 'createAblation'
  | 'listGroups'
  | 'getGroup'
  | 'stopGroup'
  | 'getSeries'
  | 'getSeriesColumns'
  | 'metricNames'
  | 'getRunConfigs'
>;

export function groupCommands(ctx: ServiceContext): GroupCommands {
  const { db, supervisor, dataDir } = ctx;

  /** The ablation's runs, each checked as a launch would be (the first 20 errors, labelled with the run). */
  const plan = (spec: AblationSpec) => {
    const r = expandAblation(spec);
    if (!r.ok) return r;
    const errors = r.runs.flatMap((p) =>
      launchChecks(p.config, dataDir).errors.map((e) => ({ ...e, message: `${p.label}: ${e.message}` })),
    );
    return errors.length ? { ok: false as const, errors: errors.slice(0, 20) } : r;
  };

  return {
    planAblation(spec) {
      const r = plan(spec);
      if (!r.ok) return r;
      const known = r.runs.map((p) => typicalRunSeconds(db, p.config));
      const have = known.filter((s): s is number => s !== null);
      // a run whose variant, dataset and preset never completed is assumed as long as the others
      const assumed = have.length ? have.reduce((a, b) => a + b, 0) / have.length : null;
      const secs = known.map((s) => s ?? assumed);
      const limit = ctx.maxConcurrent();
      const total = assumed === null ? null : (secs as number[]).reduce((a, b) => a + b, 0);
      return {
        ok: true,
        runs: r.runs.map((p) => ({ label: p.label, variant: p.config.variant, dataset: p.config.dataset, seed: p.config.seed })),
        // run one after another, or `limit` at a time
        estimatedSeconds: total === null ? null : limit > 0 ? total / Math.min(limit, r.runs.length) : Math.max(...(secs as number[])),
        estimatedFrom: have.length,
      };
    },

    createAblation(spec) {
      const damaged = ctx.damaged();
      if (damaged) return { ok: false, errors: [{ field: 'database', message: damaged }] };
      const r = plan(spec);
      if (!r.ok) return r;
      const id = newRunId();
      const t = q.nowS();
      const name =
        spec.name?.trim() ||
        `${spec.variants.join(' vs ')} on ${spec.datasets.join(', ')} (${spec.seeds.length} seed${spec.seeds.length === 1 ? '' : 's'})`;
      const ids: string[] = [];
      db.transaction(() => {
        q.insertGroup(db, { id, name, created_at: t, spec_json: JSON.stringify(spec) });
        for (const p of r.runs)
          ids.push(supervisor.enqueue(p.config, { groupId: id, ...(spec.executor ? { executor: spec.executor } : {}) }).id);
      })();
      if (supervisor.watching) supervisor.schedule();
      return { ok: true, id, runs: ids };
    },

    listGroups: () => q.listGroups(db),

    getGroup(id) {
      const g = q.listGroups(db).find((x) => x.id === id);
      if (!g) return null;
      const ids = new Set(q.groupRunIds(db, id));
      return {
        ...g,
        runs: q
          .listRuns(db)
          .filter((r) => ids.has(r.id))
          .reverse(),
      };
    },

    stopGroup(id) {
      const ids = q.groupRunIds(db, id);
      if (!ids.length) return { ok: false, message: `no group "${id}" (or it has no runs)` };
      let cancelled = 0;
      let stopped = 0;
      for (const runId of ids) {
        const row = q.getRunRow(db, runId);
        if (row?.status === 'queued' && supervisor.cancel(runId).ok) cancelled++;
      }
      for (const runId of ids) {
        const row = q.getRunRow(db, runId);
        if (row?.status === 'running' && supervisor.stop(runId).ok) stopped++;
      }
      return { ok: true, message: `cancelled ${cancelled} queued and stopped ${stopped} running run(s)` };
    },

    getSeries: (ids, names) => q.getSeries(db, ids, names),
    getSeriesColumns: (ids, names) => q.getSeriesColumns(db, ids, names),
    metricNames: (ids) => q.metricNames(db, ids),
    getRunConfigs: (ids) => q.getRunConfigs(db, ids),
  };
}
