/**
 * The service layer: every command of the contract (shared/contract.ts) over one SQLite
 * database and one supervisor. The HTTP server, the CLI and Electron's service host all
 * call this; it never imports electron.
 *
 * The commands live in per-domain modules under core/service/, each a function of the shared
 * context (core/service/context.ts: database, supervisor, settings, guards, events):
 *   runs.ts      launch, stop, resume, cancel, retry; a run's detail, metrics, logs, samples
 *   groups.ts    ablations (plan, create), groups, series across runs
 *   traces.ts    traces, solve matrix, verifier, curves, thoughts
 *   ratings.ts   blind rationale ratings
 *   settings.ts  queue settings, the Python interpreter
 *   data.ts      data info and health, backups, bundles, reindex, datasets
 *   export.ts    figure and table export
 *   verifier.ts  a V-STaR run's deployable verifier: export it, rerank candidates with it
 *   check.ts     `starlab check` of a data dir, without opening the service
 * with types.ts (Service, ServiceCommands, ServiceOptions) and launch-checks.ts (model and
 * dataset checks shared by launches and ablations). SQL lives in db/; this file only
 * combines the modules into the one Service.
 */
import { openServiceCore } from './service/context';
import { dataCommands } from './service/data';
import { exportCommands } from './service/export';
import { groupCommands } from './service/groups';
import { ratingCommands } from './service/ratings';
import { runCommands } from './service/runs';
import { settingCommands } from './service/settings';
import { traceCommands } from './service/traces';
import { verifierCommands } from './service/verifier';
import type { Service, ServiceOptions } from './service/types';

export type { CommandSpec, LaunchContext } from './executor';
export {
  DEFAULT_STOP_GRACE_MS,
  type AsyncCommand,
  type DataFileCommands,
  type Failure,
  type Service,
  type ServiceCommands,
  type ServiceOptions,
} from './service/types';
export { checkDataDir, type DataDirCheck } from './service/check';

export function createService(opts: ServiceOptions): Service {
  const core = openServiceCore(opts);
  const { ctx } = core;
  const runs = runCommands(ctx);
  const groups = groupCommands(ctx);
  const service: Service = {
    dataDir: ctx.dataDir,
    dbPath: ctx.dbPath,
    db: ctx.db,
    ...runs,
    ...groups,
    ...traceCommands(ctx),
    ...ratingCommands(ctx),
    ...settingCommands(ctx),
    ...dataCommands(ctx),
    ...verifierCommands(ctx),
    ...exportCommands({ getGroup: groups.getGroup, getSeries: groups.getSeries, getRun: runs.getRun }),
    on: core.on,
    close: core.close,
  };
  core.start();
  return service;
}
