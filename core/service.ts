/**
 * The service layer: every command of the contract (shared/contract.ts) over one SQLite
 * database and one supervisor. The HTTP server, the CLI and Electron's service host all
 * call this; it never imports electron.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';
import type {
  Catalog,
  Commands,
  EventName,
  EventPayloads,
  LaunchResult,
  LogLine,
  RunDetail,
  RunSummary,
  SampleRow,
  Settings,
  ValidateResult,
} from '../shared/contract';
import {
  DATASETS,
  DATASET_LABELS,
  PRESETS,
  VARIANTS,
  VARIANT_LABELS,
  resolveConfig,
  type ExperimentConfig,
  type FieldError,
  type LaunchSpec,
} from '../shared/experiment-config';
import { openDatabase, type DB } from '../db/open';
import * as q from '../db/queries';
import { importDataset, locateDataset } from './datasets';
import { databasePath, repoRoot, resolvePython } from './paths';
import { Supervisor, checkpointIteration, type CommandSpec, type LaunchContext } from './supervisor';

export type { CommandSpec, LaunchContext } from './supervisor';

export const DEFAULT_STOP_GRACE_MS = 10_000;

export interface ServiceOptions {
  /** The data directory (database at <dataDir>/starlab.db, runs in <dataDir>/runs/). */
  dataDir: string;
  /** Default interpreter; the pythonPath setting (Settings) takes precedence. */
  pythonPath?: string;
  /** Reconcile on open and poll running runs every pollMs (default true). The CLI passes false. */
  watch?: boolean;
  pollMs?: number;
  /** Default SIGTERM→SIGKILL grace; the stopGraceMs setting takes precedence. */
  stopGraceMs?: number;
  /** Override the command a run is started with (tests). */
  commandFor?: (ctx: LaunchContext) => CommandSpec;
  /** Repository root (defaults to the one found from this module). */
  root?: string;
}

export interface Service extends Commands {
  listRuns(): RunSummary[];
  getRun(id: string): RunDetail | null;
  getLogs(id: string, opts: { afterId?: number; limit?: number }): LogLine[];
  getSamples(id: string, opts: { iteration?: number; limit?: number; offset?: number }): SampleRow[];
  catalog(): Catalog;
  validateLaunch(spec: LaunchSpec): ValidateResult;
  launchRun(spec: LaunchSpec): Promise<LaunchResult>;
  stopRun(id: string): { ok: boolean; message: string };
  getSettings(): Settings;
  setPythonPath(path: string): Settings;

  readonly dataDir: string;
  readonly dbPath: string;
  /** The open database (read-mostly use by hosts and tests). */
  readonly db: DB;
  /** Subscribe to a push event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, cb: (payload: EventPayloads[E]) => void): () => void;
  /** Ingest pending events of running runs and finalise those whose process is gone. Returns changed ids. */
  reconcile(): string[];
  /** Resolve once the run is no longer running (or the timeout passes), with its detail. */
  waitForRun(id: string, opts?: { timeoutMs?: number }): Promise<RunDetail | null>;
  /** Stop watching and close the database. Running experiments keep running. */
  close(): void;
}

export function createService(opts: ServiceOptions): Service {
  const dataDir = opts.dataDir;
  const dbPath = databasePath(dataDir);
  const db = openDatabase(dbPath);
  const root = opts.root ?? repoRoot();
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let closed = false;

  const python = () => resolvePython({ setting: q.getSetting(db, 'pythonPath'), option: opts.pythonPath, root }).python;
  const stopGraceMs = () => {
    const s = Number(q.getSetting(db, 'stopGraceMs'));
    if (Number.isFinite(s) && s >= 0 && q.getSetting(db, 'stopGraceMs') !== undefined) return s;
    return opts.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
  };
  const emit = <E extends EventName>(e: E, payload: EventPayloads[E]) => {
    if (!closed) emitter.emit(e, payload);
  };

  const supervisor = new Supervisor({
    db,
    dataDir,
    root,
    python,
    stopGraceMs,
    commandFor: opts.commandFor,
    pollMs: opts.pollMs,
    onChange: (ids) => emit('runsChanged', { ids }),
  });

  const settings = (): Settings => ({ pythonPath: python(), dataDir, stopGraceMs: stopGraceMs() });

  let catalogCache: Catalog | null = null;

  /**
   * Where a text dataset's files are, checked before launch: a task.path without them, or a
   * folder with only some splits, would fail the run (errors); no local copy at all means the
   * run will try the hub (a warning: it works on a connected machine).
   */
  const datasetCheck = (config: ExperimentConfig): { errors: FieldError[]; warnings: FieldError[] } => {
    const none = { errors: [], warnings: [] };
    if (config.dataset === 'addition') return none;
    const taskPath = (config.task as { path?: string }).path || undefined;
    const found = locateDataset(config.dataset, { taskPath, dataDir });
    if (found.dir) return none;
    const how = 'Import the files in Settings → Datasets or with `npx starlab import-data`.';
    if (found.partial)
      return { errors: [{ field: taskPath ? 'task.path' : 'dataset', message: `${found.partial} holds only some of the ${config.dataset} files. ${how}` }], warnings: [] };
    if (taskPath)
      return { errors: [{ field: 'task.path', message: `no ${config.dataset} files in ${found.searched.join(' or ')}. ${how}` }], warnings: [] };
    return {
      errors: [],
      warnings: [
        {
          field: 'dataset',
          message: `no local copy of ${config.dataset} (looked in ${found.searched.join(', ')}); the run will try to download it from the Hugging Face hub. ${how}`,
        },
      ],
    };
  };

  const service: Service = {
    dataDir,
    dbPath,
    db,

    listRuns: () => q.listRuns(db),
    getRun(id) {
      const run = q.getRun(db, id);
      return run && { ...run, checkpointIteration: checkpointIteration(run.runDir) };
    },
    getLogs: (id, o) => q.getLogs(db, id, o ?? {}),
    getSamples: (id, o) => q.getSamples(db, id, o ?? {}),

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
      const { errors, warnings } = datasetCheck(r.config);
      if (errors.length) return { ok: false, errors };
      return warnings.length ? { ...r, warnings } : r;
    },

    async launchRun(spec) {
      const r = resolveConfig(spec);
      if (!r.ok) return r;
      if (!opts.commandFor) {
        const py = python();
        if ((isAbsolute(py) || py.includes(sep) || py.includes('/')) && !existsSync(py)) {
          return {
            ok: false,
            errors: [{ field: 'python', message: `Python interpreter not found: ${py} (set it in Settings or with STARLAB_PYTHON)` }],
          };
        }
      }
      const { errors, warnings } = datasetCheck(r.config);
      if (errors.length) return { ok: false, errors };
      const { id } = await supervisor.launch(r.config);
      return warnings.length ? { ok: true, id, warnings } : { ok: true, id };
    },

    stopRun: (id) => supervisor.stop(id),

    resumeRun: (id) => supervisor.resume(id),

    listDatasets: () =>
      DATASETS.filter((d) => d !== 'addition').map((id) => ({ id, label: DATASET_LABELS[id], ...locateDataset(id, { dataDir }) })),

    importDataset: (spec) => importDataset(python(), root, join(dataDir, 'datasets'), spec),

    getSettings: settings,

    setPythonPath(path) {
      q.setSetting(db, 'pythonPath', path.trim());
      return settings();
    },

    on(event, cb) {
      emitter.on(event, cb);
      return () => emitter.off(event, cb);
    },

    reconcile: () => supervisor.reconcile(),

    async waitForRun(id, o = {}) {
      await supervisor.waitForEnd(id, o);
      return closed ? null : service.getRun(id);
    },

    close() {
      if (closed) return;
      closed = true;
      supervisor.close();
      emitter.removeAllListeners();
      db.close();
    },
  };

  if (opts.watch ?? true) supervisor.start();
  return service;
}
