/**
 * The service layer: every command of the contract (shared/contract.ts) over one SQLite
 * database and one supervisor. The HTTP server, the CLI and Electron's service host all
 * call this; it never imports electron.
 */
import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';
import type {
  Catalog,
  DatabaseHealth,
  DataFile,
  DataInfo,
  CommandArgs,
  CommandName,
  CommandResults,
  EventName,
  EventPayloads,
  RunDetail,
  Settings,
} from '../shared/contract';
import {
  DATASETS,
  DATASET_LABELS,
  SYNTHETIC_DATASETS,
  PRESETS,
  VARIANTS,
  VARIANT_LABELS,
  resolveConfig,
  type ExperimentConfig,
  type FieldError,
} from '../shared/experiment-config';
import { checkIntegrityInBackground, DatabaseDamagedError, openDatabase, SYNC_CHECK_MAX_BYTES, type DB } from '../db/open';
import * as q from '../db/queries';
import { importDataset, locateDataset } from './datasets';
import { expandAblation, splitList, type AblationSpec } from '../shared/ablation';
import { databasePath, experimentsDir, repoRoot, resolvePython } from './paths';
import { checkPython, interpreterPathProblem } from './python-check';
import { backupDatabase, exportBundle, importBundle } from './bundle';
import { fsErrorMessage } from './fs-errors';
import { localModelProblem } from './model-path';
import { PythonPreflightError, Supervisor } from './supervisor';
import { DatabaseLockedError, transientDbError } from './db-errors';
import { checkpointIteration, newRunId } from './run-files';
import type { CommandSpec, LaunchContext } from './executor';
import { exportPreset, figureFiles, groupFiles, safeFileName, toExportFiles } from './export-files';
import { curveOverQuestions } from '../shared/estimators';
import { CURVE_SCORERS } from '../shared/contract';
import { queryTraces } from '../db/traces';
import { querySolveMatrix } from '../db/solve-matrix';
import * as ratings from '../db/ratings';
import { candidateQuestions, rankedCandidates, verifierStats } from '../db/verifier';
import { readThoughts } from './thoughts';
import { eventIssues } from '../db/event-issues';
import { reindexRuns, unindexedRunDirs } from './reindex';

export type { CommandSpec, LaunchContext } from './executor';

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
  /**
   * Integrity check of the database (default 'auto'): files up to SYNC_CHECK_MAX_BYTES are
   * checked on open (a damaged one throws DatabaseDamagedError); larger ones in a worker
   * thread right after open when watching, else not at all (a one-shot CLI command).
   */
  integrityCheck?: 'auto' | false;
}

/**
 * The contract's commands that the service answers with a promise (they start a process, wait
 * for one, or do file work off the event loop); every other command answers synchronously
 * (better-sqlite3), which the CLI and hosts rely on.
 */
type AsyncCommand = 'launchRun' | 'resumeRun' | 'setPythonPath' | 'importDataset' | 'reindexRuns' | 'backupNow' | 'checkPython';

/** The contract's commands with the service's own (synchronous where it can) return types: derived, never re-declared. */
export type ServiceCommands = {
  [C in CommandName]: C extends AsyncCommand
    ? (...args: CommandArgs<C>) => Promise<CommandResults[C]>
    : (...args: CommandArgs<C>) => CommandResults[C];
};

export interface Service extends ServiceCommands {
  getDatabaseHealth(): DatabaseHealth;
  getDataInfo(): DataInfo;

  readonly dataDir: string;
  readonly dbPath: string;
  /** The open database (read-mostly use by hosts and tests). */
  readonly db: DB;
  /** Subscribe to a push event; returns the unsubscribe function. */
  on<E extends EventName>(event: E, cb: (payload: EventPayloads[E]) => void): () => void;
  /** Ingest pending events of running runs and finalise those whose process is gone. Returns changed ids. */
  reconcile(): string[];
  /** Resolve once the run is no longer running (or the timeout passes), with its detail. */
  waitForRun(id: string, opts?: { timeoutMs?: number; onWait?: (why: string) => void }): Promise<RunDetail | null>;
  /** Stop watching and close the database. Running experiments keep running. */
  close(): void;
}

/** 2026-11-26T18-20-05Z: sortable, and valid in file names everywhere. */
const fileStamp = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-');

function dataFile(file: string): DataFile {
  const st = statSync(file, { throwIfNoEntry: false });
  return { file, bytes: st?.size ?? 0, modifiedAt: st ? Math.floor(st.mtimeMs / 1000) : 0 };
}

/** The regular files with this extension in dir, newest first. */
function dataFiles(dir: string, ext: string): DataFile[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(ext))
    .map((n) => dataFile(join(dir, n)))
    .filter((f) => f.modifiedAt > 0)
    .sort((a, b) => b.modifiedAt - a.modifiedAt || b.file.localeCompare(a.file));
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // a new database
  }
}

export function createService(opts: ServiceOptions): Service {
  const dataDir = opts.dataDir;
  const dbPath = databasePath(dataDir);
  const checkStarted = Date.now();
  const checkOnOpen = opts.integrityCheck !== false && fileSize(dbPath) <= SYNC_CHECK_MAX_BYTES;
  const db = openDatabase(dbPath, { check: checkOnOpen });
  let health: DatabaseHealth = checkOnOpen
    ? { file: dbPath, state: 'ok', problems: [], message: null, checkedAt: q.nowS(), seconds: (Date.now() - checkStarted) / 1000 }
    : {
        file: dbPath,
        state: 'unchecked',
        problems: [],
        message: opts.integrityCheck === false ? 'integrity check turned off' : 'a large database is checked in the background by the app, or with `starlab check`',
        checkedAt: null,
        seconds: null,
      };
  /** Refuse to start work that writes to a damaged database. */
  const damaged = (): string | null => (health.state === 'damaged' ? health.message : null);
  const root = opts.root ?? repoRoot();
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let closed = false;
  /** The answer of a command about a run the database does not know. */
  const noRun = (id: string) => ({ ok: false as const, message: `no run "${id}"` });
  const ifRun = <T,>(id: string, answer: () => T): T | ReturnType<typeof noRun> => (q.getRunRow(db, id) ? answer() : noRun(id));

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
    maxConcurrent: () => maxConcurrent(),
    gpuSlots: () => gpuSlots(),
    // queued runs wait for the integrity check, and a damaged database starts none (they stay queued)
    canStart: () => (health.state === 'checking' ? 'the database integrity check is running' : damaged()),
    onChange: (ids) => emit('runsChanged', { ids }),
  });

  const maxConcurrent = (): number => {
    const v = Number(q.getSetting(db, 'maxConcurrent') ?? '1');
    return Number.isInteger(v) && v >= 0 ? v : 1;
  };
  const gpuSlots = (): string[] => splitList(q.getSetting(db, 'gpuSlots') ?? '').map((s) => s.replace(/;/g, ','));
  const settings = (): Settings => ({
    pythonPath: python(),
    dataDir,
    stopGraceMs: stopGraceMs(),
    maxConcurrent: maxConcurrent(),
    gpuSlots: gpuSlots(),
  });

  /** Mean duration of completed runs like this one (same variant, dataset, preset), if any. */
  const typicalSeconds = (c: ExperimentConfig): number | null => {
    const r = db
      .prepare(
        `SELECT avg(ended_at - started_at) AS s FROM runs
         WHERE status = 'completed' AND variant = ? AND dataset = ? AND preset = ? AND started_at IS NOT NULL AND ended_at IS NOT NULL`,
      )
      .get(c.variant, c.dataset, c.preset) as { s: number | null };
    return r.s;
  };
  const plan = (spec: AblationSpec) => {
    const r = expandAblation(spec);
    if (!r.ok) return r;
    const errors = r.runs.flatMap((p) => [...modelCheck(p.config), ...datasetCheck(p.config).errors].map((e) => ({ ...e, message: `${p.label}: ${e.message}` })));
    return errors.length ? { ok: false as const, errors: errors.slice(0, 20) } : r;
  };

  let catalogCache: Catalog | null = null;
  let reindexing = false;

  /**
   * A hub model named by a local path (absolute, ./ ../ ~/) that is not a model folder is refused
   * before launch (core/model-path.ts), not when the run fails to load it after starting.
   */
  const modelCheck = (config: ExperimentConfig): FieldError[] => {
    if (config.model.source !== 'hub') return [];
    const problem = localModelProblem(config.model.name);
    return problem ? [{ field: 'model.name', message: problem }] : [];
  };

  /**
   * Where a text dataset's files are, checked before launch: a task.path without them, or a
   * folder with only some splits, would fail the run (errors); no local copy at all means the
   * run will try the hub (a warning: it works on a connected machine).
   */
  const datasetCheck = (config: ExperimentConfig): { errors: FieldError[]; warnings: FieldError[] } => {
    const none = { errors: [], warnings: [] };
    if (SYNTHETIC_DATASETS.includes(config.dataset)) return none;
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
    getMetricPoints: (id, o) => (q.getRunRow(db, id) ? q.getMetricPoints(db, id, o) : null),
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
      const { errors: dataErrors, warnings } = datasetCheck(r.config);
      const errors = [...modelCheck(r.config), ...dataErrors];
      if (errors.length) return { ok: false, errors };
      return warnings.length ? { ...r, warnings } : r;
    },

    async launchRun(spec) {
      if (damaged()) return { ok: false, errors: [{ field: 'database', message: damaged()! }] };
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
      const { errors: dataErrors, warnings } = datasetCheck(r.config);
      const errors = [...modelCheck(r.config), ...dataErrors];
      if (errors.length) return { ok: false, errors };
      let id: string;
      try {
        ({ id } = await supervisor.launch(r.config));
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

    resumeRun: async (id) => (damaged() ? { ok: false, message: damaged()! } : supervisor.resume(id)),

    planAblation(spec) {
      const r = plan(spec);
      if (!r.ok) return r;
      const secs = r.runs.map((p) => typicalSeconds(p.config));
      const limit = maxConcurrent();
      const total = secs.every((s) => s !== null) ? (secs as number[]).reduce((a, b) => a + b, 0) : null;
      return {
        ok: true,
        runs: r.runs.map((p) => ({ label: p.label, variant: p.config.variant, dataset: p.config.dataset, seed: p.config.seed })),
        // run one after another, or `limit` at a time
        estimatedSeconds: total === null ? null : limit > 0 ? total / Math.min(limit, r.runs.length) : Math.max(...(secs as number[])),
      };
    },

    createAblation(spec) {
      if (damaged()) return { ok: false, errors: [{ field: 'database', message: damaged()! }] };
      const r = plan(spec);
      if (!r.ok) return r;
      const id = newRunId();
      const t = q.nowS();
      const name = spec.name?.trim() || `${spec.variants.join(' vs ')} on ${spec.datasets.join(', ')} (${spec.seeds.length} seed${spec.seeds.length === 1 ? '' : 's'})`;
      const ids: string[] = [];
      db.transaction(() => {
        q.insertGroup(db, { id, name, created_at: t, spec_json: JSON.stringify(spec) });
        for (const p of r.runs) ids.push(supervisor.enqueue(p.config, { groupId: id }).id);
      })();
      if (supervisor.watching) supervisor.schedule();
      return { ok: true, id, runs: ids };
    },

    listGroups: () => q.listGroups(db),
    getSeries: (ids, names) => q.getSeries(db, ids, names),
    metricNames: (ids) => q.metricNames(db, ids),

    getGroup(id) {
      const g = q.listGroups(db).find((x) => x.id === id);
      if (!g) return null;
      const ids = new Set(q.groupRunIds(db, id));
      return { ...g, runs: q.listRuns(db).filter((r) => ids.has(r.id)).reverse() };
    },

    cancelRun: (id) => supervisor.cancel(id),
    retryRun: (id) => (damaged() ? { ok: false, message: damaged()! } : supervisor.retry(id)),

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

    setQueueSettings(s) {
      q.setSetting(db, 'maxConcurrent', String(s.maxConcurrent));
      q.setSetting(db, 'gpuSlots', s.gpuSlots.map((x) => x.replace(/,/g, ';')).join(','));
      if (supervisor.watching) supervisor.schedule();
      return settings();
    },

    listDatasets: () =>
      DATASETS.filter((d) => !SYNTHETIC_DATASETS.includes(d)).map((id) => ({ id, label: DATASET_LABELS[id], ...locateDataset(id, { dataDir }) })),

    importDataset: (spec) => importDataset(python(), root, join(dataDir, 'datasets'), spec),

    getSettings: settings,

    async setPythonPath(path) {
      const wanted = path.trim();
      // '' clears the setting: back to the host's option, $STARLAB_PYTHON, the venv or python3 on PATH.
      // Anything else is run by every launch, so it is vetted (and run once, by the preflight) before it is saved.
      if (wanted !== '') {
        const problem = interpreterPathProblem(wanted);
        if (problem) return { ok: false, errors: [{ field: 'pythonPath', message: problem }] };
        const check = await checkPython(wanted, { requirements: join(experimentsDir(root), 'requirements.txt') });
        if (!check.ok) return { ok: false, errors: [{ field: 'pythonPath', message: check.message }] };
      }
      q.setSetting(db, 'pythonPath', wanted);
      return { ok: true, settings: settings() };
    },

    exportGroup(id, o) {
      const r = groupFiles(service, id, o.formats, exportPreset(o));
      if (!r.ok) return { ok: false, message: r.message };
      return { ok: true, files: toExportFiles(r.files), skipped: r.export.skipped.map((x) => ({ id: x.id, reason: x.reason })) };
    },

    getTraces: (id, o) => queryTraces(db, id, o),
    getSolveMatrix(id, o) {
      if (!q.getRunRow(db, id)) throw new Error(`no run "${id}"`);
      return querySolveMatrix(db, id, o);
    },

    createRatingTask: (spec) => ratings.createRatingTask(db, spec),
    listRatingTasks: () => ratings.listRatingTasks(db),
    getRatingItem: (taskId, position) => ratings.getRatingItem(db, taskId, position),
    rateItem: (r) => ratings.rateItem(db, r),
    ratingSummary: (taskId) => ratings.ratingSummary(db, taskId),
    exportRatings(taskId) {
      if (taskId !== undefined && !ratings.listRatingTasks(db).some((t) => t.id === taskId)) return { ok: false, message: `no rating task ${taskId}` };
      const name = taskId === undefined ? 'ratings.csv' : `ratings-task-${taskId}.csv`;
      return { ok: true, files: toExportFiles([{ name, data: Buffer.from(ratings.ratingsCsv(db, taskId), 'utf8') }]) };
    },

    getVerifierStats: (id, o) => ifRun(id, () => verifierStats(db, id, o)),
    getCandidateQuestions: (id, o) => ifRun(id, () => candidateQuestions(db, id, o)),
    getCandidates: (id, o) => ifRun(id, () => rankedCandidates(db, id, o)),
    getDatabaseHealth: () => health,
    getDataInfo: () => ({
      dataDir,
      database: { ...dataFile(dbPath), walBytes: fileSize(`${dbPath}-wal`) },
      health,
      backups: dataFiles(join(dataDir, 'backups'), '.db'),
      bundles: dataFiles(join(dataDir, 'exports'), '.tar'),
      unindexedRuns: (() => {
        const ids = unindexedRunDirs(db, dataDir);
        return { total: ids.length, ids: ids.slice(0, 100) };
      })(),
    }),
    async reindexRuns() {
      if (damaged()) return { ok: false, message: damaged()! };
      if (reindexing) return { ok: false, message: 'a reindex is already running' };
      reindexing = true;
      try {
        const r = await reindexRuns(db, dataDir, { onRun: (id) => emit('runsChanged', { ids: [id] }) });
        return { ok: true, ...r };
      } finally {
        reindexing = false;
      }
    },
    checkPython: () => checkPython(python(), { requirements: join(experimentsDir(root), 'requirements.txt') }),
    async backupNow() {
      try {
        const r = await backupDatabase(db, join(dataDir, 'backups', `starlab-${fileStamp()}.db`));
        return { ok: true, file: r.file, bytes: r.bytes, seconds: r.seconds };
      } catch (e) {
        return { ok: false, message: fsErrorMessage(e, { action: 'write the backup', path: join(dataDir, 'backups'), want: 'folder' }) };
      }
    },
    exportRunBundle(ids, o) {
      const missing = ids.filter((id) => !q.getRunRow(db, id));
      if (missing.length) return { ok: false, message: `no run ${missing.map((id) => `"${id}"`).join(', ')}` };
      try {
        mkdirSync(join(dataDir, 'exports'), { recursive: true });
        // Synchronous: checkpoints (GBs) are left out unless asked for, so the service stays responsive.
        const r = exportBundle(db, dataDir, ids, join(dataDir, 'exports', `runs-${fileStamp()}.tar`), { checkpoints: o.checkpoints ?? false });
        const warnings = [
          ...r.missingDirs.map((id) => `run ${id} has no run directory; only its database rows are in the bundle`),
          ...r.skippedFiles.map((f) => `${f} left out (not a regular file)`),
          ...r.warnings,
        ];
        return { ok: true, file: r.file, runs: r.runIds.length, files: r.files, bytes: r.bytes, warnings };
      } catch (e) {
        return { ok: false, message: fsErrorMessage(e, { action: 'write the bundle', path: join(dataDir, 'exports'), want: 'folder' }) };
      }
    },
    importRunBundle(file) {
      if (damaged()) return { ok: false, message: damaged()! };
      if (!isAbsolute(file)) return { ok: false, message: `give the bundle's absolute path (on the machine STaR Lab runs on), not "${file}"` };
      try {
        const r = importBundle(db, dataDir, file);
        if (r.imported.length) emit('runsChanged', { ids: r.imported });
        const rows = Object.values(r.rows).reduce((a, b) => a + b, 0);
        return { ok: true, file: r.file, imported: r.imported, skipped: r.skipped, rows, files: r.files, bytes: r.bytes };
      } catch (e) {
        // (a bundle that cannot be read is a BundleError naming it; what is left is writing runs/ or the database)
        const own = (e as NodeJS.ErrnoException | null)?.path;
        return { ok: false, message: fsErrorMessage(e, { action: 'import the bundle', path: typeof own === 'string' ? own : join(dataDir, 'runs'), again: 'import again' }) };
      }
    },
    getEventIssues: (id, limit) => ifRun(id, () => eventIssues(db, id, limit)),
    getThoughts(id, o) {
      const row = q.getRunRow(db, id);
      if (!row) return noRun(id);
      return readThoughts(db, id, row.run_dir, o);
    },

    getCurve(id, o) {
      if (!q.getRunRow(db, id)) return noRun(id);
      const its = q.candidateIterations(db, id);
      if (!its.length) return { ok: false, message: `run ${id} stored no V-STaR candidates` };
      const iteration = o.iteration ?? its[its.length - 1]!;
      if (!its.includes(iteration)) return { ok: false, message: `run ${id} has no candidates at iteration ${iteration} (it has them at ${its.join(', ')})` };
      const byQ = [...q.candidatesByQuestion(db, id, iteration).values()];
      const scorer = o.kind === 'best-of-k' ? (o.scorer ?? 'dpo') : null;
      try {
        const points = curveOverQuestions(byQ, o.kind, scorer ? CURVE_SCORERS[scorer] : undefined);
        return { ok: true, kind: o.kind, scorer, iteration, questions: byQ.length, candidates: byQ[0]!.length, points };
      } catch (e) {
        return { ok: false, message: `run ${id}, iteration ${iteration}: ${(e as Error).message}` };
      }
    },

    exportFigure(figure, o) {
      return { ok: true, files: toExportFiles(figureFiles(figure, safeFileName(o.name), o.formats, exportPreset(o))) };
    },

    on(event, cb) {
      emitter.on(event, cb);
      return () => emitter.off(event, cb);
    },

    reconcile: () => supervisor.reconcile(),

    async waitForRun(id, o = {}) {
      const deadline = o.timeoutMs === undefined ? Infinity : Date.now() + o.timeoutMs;
      await supervisor.waitForEnd(id, o);
      // the run's detail once the database can be read (a lock or a full disk is waited out)
      for (;;) {
        if (closed) return null;
        try {
          return service.getRun(id);
        } catch (e) {
          const why = transientDbError(e);
          if (why === null || Date.now() >= deadline) throw e;
          o.onWait?.(why);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    },

    close() {
      if (closed) return;
      closed = true;
      supervisor.close();
      emitter.removeAllListeners();
      db.close();
    },
  };

  if ((opts.watch ?? true) && health.state === 'unchecked' && opts.integrityCheck !== false) {
    health = { ...health, state: 'checking', message: null };
    const started = Date.now();
    const done = (problems: string[], note?: string): void => {
      if (closed) return;
      const seconds = (Date.now() - started) / 1000;
      health = problems.length
        ? { file: dbPath, state: 'damaged', problems, message: new DatabaseDamagedError(dbPath, problems).message, checkedAt: q.nowS(), seconds }
        : { file: dbPath, state: note ? 'unchecked' : 'ok', problems: [], message: note ?? null, checkedAt: note ? null : q.nowS(), seconds };
      if (health.state === 'damaged') console.error(`starlab: ${health.message}`);
      emit('databaseHealth', health);
    };
    checkIntegrityInBackground(dbPath).then(
      (p) => done(p),
      (e: unknown) => done([], `the background integrity check could not run: ${e instanceof Error ? e.message : String(e)}`),
    );
  }
  if (opts.watch ?? true) supervisor.start();
  return service;
}
