/**
 * The service's types: its options, the contract's commands with the service's own return
 * types (derived from shared/contract.ts, never re-declared), and the Service the hosts hold.
 */
import type {
  CommandArgs,
  CommandName,
  CommandResults,
  DatabaseHealth,
  DataInfo,
  EventName,
  EventPayloads,
  RunDetail,
} from '../../shared/contract';
import type { DB } from '../../db/open';
import type { BackupReport, ExportReport, ImportReport } from '../bundle';
import type { CommandSpec, LaunchContext } from '../executor';
import type { Failure } from '../failure';
import type { ReindexReport } from '../reindex';
import type { SyncReport } from '../run-sync';
import type { VerifierCommands } from './verifier';

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
export type AsyncCommand = 'launchRun' | 'resumeRun' | 'setPythonPath' | 'importDataset' | 'reindexRuns' | 'backupNow' | 'checkPython';

/** The contract's commands with the service's own (synchronous where it can) return types: derived, never re-declared. */
export type ServiceCommands = {
  [C in CommandName]: C extends AsyncCommand
    ? (...args: CommandArgs<C>) => Promise<CommandResults[C]>
    : (...args: CommandArgs<C>) => CommandResults[C];
};

export type { Failure };

/**
 * The data commands at a path the caller names (the CLI's `backup`, `bundle export`,
 * `bundle import`); the contract's backupNow, exportRunBundle and importRunBundle are these
 * at the data dir's own folders. Errors are one sentence (core/fs-errors.ts), never thrown.
 */
export interface DataFileCommands {
  /** Back the database up to `file` (online, checked); an existing file is replaced only with `overwrite`. */
  backupTo(file: string, o?: { overwrite?: boolean; forceOption?: string }): Promise<{ ok: true; report: BackupReport } | Failure>;
  /**
   * Write the runs `ids` to the bundle `file`. `warnings` is what was left out (runs without a
   * directory, files that are not regular, files a running run removed), one sentence each.
   */
  exportBundleTo(
    ids: string[],
    file: string,
    o?: { checkpoints?: boolean; overwrite?: boolean; forceOption?: string },
  ): { ok: true; report: ExportReport; warnings: string[] } | Failure;
  /** Import the bundle `file` (resolved against the working directory); runs already present are skipped. */
  importBundleFrom(file: string): { ok: true; report: ImportReport } | Failure;
  /** Index the runs scripts announced in inbox/ (starlab.init): the app does it every poll, the CLI before it lists. */
  adoptAnnouncedRuns(): Promise<ReindexReport>;
  /** Bring run directories written elsewhere (offline scripts, other machines) into the lab (core/run-sync.ts). */
  syncRuns(paths: string[]): Promise<{ ok: true; report: SyncReport } | Failure>;
}

export interface Service extends ServiceCommands, DataFileCommands, VerifierCommands {
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
  /** The id of the run's newest log line (0: none), for reading only what follows it. */
  lastLogId(id: string): number;
  /** Resolve once the run is no longer running (or the timeout passes), with its detail. */
  waitForRun(id: string, opts?: { timeoutMs?: number; onWait?: (why: string) => void }): Promise<RunDetail | null>;
  /** Stop watching and close the database. Running experiments keep running. */
  close(): void;
}
