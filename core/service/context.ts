/**
 * What every domain module of the service shares: the open database and its integrity state,
 * the supervisor, the settings it reads, push events, and the guards the commands use
 * (a damaged database refuses writes; a run the database does not know is answered alike).
 */
import { EventEmitter } from 'node:events';
import { statSync } from 'node:fs';
import type { DatabaseHealth, EventName, EventPayloads, Settings } from '../../shared/contract';
import { splitList } from '../../shared/ablation';
import { checkIntegrityInBackground, DatabaseDamagedError, openDatabase, SYNC_CHECK_MAX_BYTES, type DB } from '../../db/open';
import * as q from '../../db/queries';
import { databasePath, repoRoot, resolvePython } from '../paths';
import { Supervisor } from '../supervisor';
import { DEFAULT_STOP_GRACE_MS, type Failure, type Service, type ServiceOptions } from './types';
import { noRun } from '../failure';

export interface ServiceContext {
  readonly opts: ServiceOptions;
  readonly dataDir: string;
  readonly dbPath: string;
  /** Repository root (experiments/ and its requirements.txt). */
  readonly root: string;
  readonly db: DB;
  readonly supervisor: Supervisor;
  /** The database's integrity state: checked on open, or in the background (then 'checking' until done). */
  health(): DatabaseHealth;
  /** Why work that writes to the database is refused (it is damaged), else null. */
  damaged(): string | null;
  /** Whether the service was closed (no events are pushed then). */
  closed(): boolean;
  emit<E extends EventName>(event: E, payload: EventPayloads[E]): void;
  /** The interpreter new runs use: the pythonPath setting, the host's option, $STARLAB_PYTHON, the venv, python3. */
  python(): string;
  maxConcurrent(): number;
  gpuSlots(): string[];
  settings(): Settings;
  /** `answer()` when the database knows run `id`, else the answer of a command about an unknown run. */
  ifRun<T>(id: string, answer: () => T): T | Failure;
}

export { noRun };

/** The context and what only the service itself does with it. */
export interface ServiceCore {
  ctx: ServiceContext;
  on: Service['on'];
  /** What a watching service starts (ServiceOptions.watch): the background integrity check of a large database, and the supervisor. */
  start(): void;
  close(): void;
}

/** A file's size in bytes; 0 when it does not exist (yet). */
export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0; // a new database
  }
}

/** Open the database (checked on open when small enough), make the supervisor, and the shared context over them. */
export function openServiceCore(opts: ServiceOptions): ServiceCore {
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
        message:
          opts.integrityCheck === false
            ? 'integrity check turned off'
            : 'a large database is checked in the background by the app, or with `starlab check`',
        checkedAt: null,
        seconds: null,
      };
  const damaged = (): string | null => (health.state === 'damaged' ? health.message : null);
  const root = opts.root ?? repoRoot();
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  let closed = false;
  const emit = <E extends EventName>(e: E, payload: EventPayloads[E]) => {
    if (!closed) emitter.emit(e, payload);
  };

  const python = () => resolvePython({ setting: q.getSetting(db, 'pythonPath'), option: opts.pythonPath, root }).python;
  const stopGraceMs = () => {
    const s = Number(q.getSetting(db, 'stopGraceMs'));
    if (Number.isFinite(s) && s >= 0 && q.getSetting(db, 'stopGraceMs') !== undefined) return s;
    return opts.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
  };
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

  const supervisor = new Supervisor({
    db,
    dataDir,
    root,
    python,
    stopGraceMs,
    commandFor: opts.commandFor,
    pollMs: opts.pollMs,
    maxConcurrent,
    gpuSlots,
    // queued runs wait for the integrity check, and a damaged database starts none (they stay queued)
    canStart: () => (health.state === 'checking' ? 'the database integrity check is running' : damaged()),
    onChange: (ids) => emit('runsChanged', { ids }),
  });

  const ctx: ServiceContext = {
    opts,
    dataDir,
    dbPath,
    root,
    db,
    supervisor,
    health: () => health,
    damaged,
    closed: () => closed,
    emit,
    python,
    maxConcurrent,
    gpuSlots,
    settings,
    ifRun: (id, answer) => (q.getRunRow(db, id) ? answer() : noRun(id)),
  };

  const start = (): void => {
    if ((opts.watch ?? true) && health.state === 'unchecked' && opts.integrityCheck !== false) {
      health = { ...health, state: 'checking', message: null };
      const started = Date.now();
      const done = (problems: string[], note?: string): void => {
        if (closed) return;
        const seconds = (Date.now() - started) / 1000;
        health = problems.length
          ? {
              file: dbPath,
              state: 'damaged',
              problems,
              message: new DatabaseDamagedError(dbPath, problems).message,
              checkedAt: q.nowS(),
              seconds,
            }
          : {
              file: dbPath,
              state: note ? 'unchecked' : 'ok',
              problems: [],
              message: note ?? null,
              checkedAt: note ? null : q.nowS(),
              seconds,
            };
        if (health.state === 'damaged') console.error(`starlab: ${health.message}`);
        emit('databaseHealth', health);
      };
      checkIntegrityInBackground(dbPath).then(
        (p) => done(p),
        (e: unknown) => done([], `the background integrity check could not run: ${e instanceof Error ? e.message : String(e)}`),
      );
    }
    if (opts.watch ?? true) supervisor.start();
  };

  return {
    ctx,
    on(event, cb) {
      emitter.on(event, cb);
      return () => emitter.off(event, cb);
    },
    start,
    close() {
      if (closed) return;
      closed = true;
      supervisor.close();
      emitter.removeAllListeners();
      db.close();
    },
  };
}
