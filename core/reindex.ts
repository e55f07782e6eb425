/**
 * The run directories are the source of truth; the database indexes them. `starlab reindex`
 * (and Settings → Data → Reindex) puts back every run directory the database does not know —
 * after the database was emptied, removed or restored from an older backup — through the
 * normal ingest: a row from config.json (and run.json: creation time, group, retry), then
 * events.jsonl and the logs from their first byte, then the status the events say.
 *
 * Nothing is followed or executed: a run directory or events file that is a symbolic link is
 * skipped with the reason, config.json and run.json are parsed as JSON, and a run whose
 * process is still alive is only re-attached when that process's environment names the run.
 */
import { lstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ReindexResult } from '../shared/contract';
import type { ExperimentConfig } from '../shared/experiment-config';
import type { DB } from '../db/open';
import { eventTimes } from '../db/event-gate';
import { addLog, getRunRow, insertRun, nowS } from '../db/queries';
import { ingestEventsFile, ingestTextLog } from './tailer';
import { pidStartTime, isAlive } from './process-info';
import { RUN_ID_RE, runsDir } from './paths';
import { readRunRecord, type ScriptRecord } from './run-record';
import { eventsFresh, isScriptProcess, projectGroup, scriptColumns, scriptWatch } from './script-runs';
import { configColumns, eventsPathOf } from './run-files';
import type { RunHandle } from './executor';
import { executorColumns } from './run-launch';

/** A run directory without events or logs younger than this may be a launch in progress: left alone. */
const CREATING_GRACE_S = 60;
const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/** What a reindex did (the contract's ReindexResult without its ok). */
export type ReindexReport = Omit<ReindexResult, 'ok'>;

/** Names under runs/ that look like run directories and that the database has no row for. */
export function unindexedRunDirs(db: DB, dataDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(runsDir(dataDir));
  } catch {
    return [];
  }
  const known = db.prepare('SELECT 1 FROM runs WHERE id = ?').pluck();
  return names.filter((n) => RUN_ID_RE.test(n) && !n.startsWith('.') && !known.get(n)).sort();
}

/** Why a run directory cannot be reindexed (null: it can), and its config. */
function examine(dir: string, id: string, now: number, script: boolean): { reason: string } | { config: unknown } {
  let st;
  try {
    st = lstatSync(dir);
  } catch (e) {
    return { reason: `cannot read ${dir}: ${(e as Error).message}` };
  }
  if (st.isSymbolicLink()) return { reason: `${dir} is a symbolic link: not followed` };
  if (!st.isDirectory()) return { reason: `${dir} is not a directory` };
  const events = eventsPathOf(dir);
  const ev = lstatOrNull(events);
  if (ev && !ev.isFile()) return { reason: `${events} is not a regular file (a link or a special file): not read` };
  const configFile = join(dir, 'config.json');
  const cf = lstatOrNull(configFile);
  if (!cf) return { reason: `${id} has no config.json, so its experiment is unknown` };
  if (!cf.isFile()) return { reason: `${configFile} is not a regular file: not read` };
  if (cf.size > MAX_CONFIG_BYTES) return { reason: `${configFile} is ${cf.size} bytes: not a run config` };
  // A launch writes the directory, then the row, then starts the process (which opens
  // stdout.log): a young directory with neither events nor logs may be one in progress.
  if (!ev && !lstatOrNull(join(dir, 'stdout.log')) && now - cf.mtimeMs / 1000 < CREATING_GRACE_S)
    return { reason: `${id} is being created (no events or logs yet): left alone` };
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(configFile, 'utf8'));
  } catch (e) {
    return { reason: `${configFile} is not valid JSON (${(e as Error).message})` };
  }
  // a script's config is whatever the script passed (an object); a lab run's names its experiment
  const bad = script ? (config && typeof config === 'object' && !Array.isArray(config) ? null : 'not an object') : configProblem(config);
  if (bad) return { reason: `${configFile} is not a run config: ${bad}` };
  return { config };
}

/** The fields the run row needs from a config, checked (the rest is the experiment's business). */
function configProblem(c: unknown): string | null {
  if (!c || typeof c !== 'object' || Array.isArray(c)) return 'not an object';
  const o = c as Record<string, unknown>;
  for (const k of ['variant', 'dataset', 'preset'] as const) if (typeof o[k] !== 'string' || !o[k]) return `${k} is not a string`;
  if (!Number.isInteger(o.seed)) return 'seed is not an integer';
  const model = o.model as Record<string, unknown> | undefined;
  if (!model || typeof model !== 'object' || typeof model.name !== 'string') return 'model.name is not a string';
  return null;
}

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** unix seconds of a run id's stamp (yyyymmdd-hhmmss-…), or null. */
function idTime(id: string): number | null {
  const m = /^(\d{4})(\d{2})(\d{2})-(\d{2})(\d{2})(\d{2})-/.exec(id);
  if (!m) return null;
  const t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000;
  return Number.isFinite(t) ? t : null;
}

/** Whether a live pid is this run's experiment: its environment names the run (Linux); elsewhere it cannot be told, so no. */
function isRunProcess(pid: number, id: string, runDir: string): boolean {
  if (!isAlive(pid)) return false;
  try {
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    return env.includes(`STARLAB_RUN_ID=${id}`) || env.includes(`STARLAB_RUN_DIR=${runDir}`);
  } catch {
    return false;
  }
}

/**
 * Put back every run directory the database does not know. Async: between ingest batches it
 * yields to the event loop, so the app keeps answering while a large run is read back.
 */
export interface ReindexOptions {
  onRun?: (id: string) => void;
  /** Whether a Slurm job is still this run's, queued or running (the Slurm executor's answer). */
  jobAlive?: (h: RunHandle) => boolean;
  /**
   * Why the directory is being indexed (its log line says so): a reindex; a script's
   * announcement (core/inbox.ts); or a copy (`starlab sync`), which whatever process wrote it
   * does not write, so it is never watched as running and without a run_end waits for the next sync.
   */
  source?: 'reindex' | 'inbox' | 'sync';
}

export async function reindexRuns(db: DB, dataDir: string, opts: ReindexOptions = {}): Promise<ReindexReport> {
  const t0 = performance.now();
  const report: ReindexReport = { added: [], running: [], groupsAdded: [], skipped: [], events: 0, seconds: 0 };
  for (const id of unindexedRunDirs(db, dataDir)) {
    await reindexRun(db, dataDir, id, report, opts);
    await yieldToLoop();
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

/** Put back one run directory the database does not know, adding what happened to `report`; returns whether it was added. */
export async function reindexRun(db: DB, dataDir: string, id: string, report: ReindexReport, opts: ReindexOptions = {}): Promise<boolean> {
  const dir = join(runsDir(dataDir), id);
  const record = RUN_ID_RE.test(id) ? readRunRecord(join(runsDir(dataDir), id)) : null;
  const mine = record?.id === id ? record : null;
  const found = examine(dir, id, nowS(), mine?.script !== undefined);
  if ('reason' in found) {
    report.skipped.push({ id, reason: found.reason });
    return false;
  }
  const created = mine ? mine.createdAt : (idTime(id) ?? statSync(dir).mtimeMs / 1000);
  // Inserted as ended (never 'running' without a process: the supervisor would finalise it
  // mid-ingest); the status the events say is set once they are in.
  const inserted = db
    .transaction(() => {
      if (getRunRow(db, id)) return false;
      let groupId: string | null = null;
      const g = mine?.group ?? (mine?.script ? projectGroup(mine.script.project, created) : null);
      if (g) {
        if (!db.prepare('SELECT 1 FROM experiment_groups WHERE id = ?').get(g.id)) {
          db.prepare('INSERT INTO experiment_groups (id, name, created_at, spec_json) VALUES (?, ?, ?, ?)').run(
            g.id,
            g.name,
            g.createdAt,
            g.spec,
          );
          report.groupsAdded.push(g.id);
        }
        groupId = g.id;
      }
      const retryOf = mine ? mine.retryOf : null;
      insertRun(db, {
        id,
        group_id: groupId,
        retry_of: retryOf !== null && getRunRow(db, retryOf) ? retryOf : null,
        ...(mine?.script ? scriptColumns(found.config, mine.script) : configColumns(found.config as ExperimentConfig)),
        ...executorColumns(mine?.executor),
        ...(mine?.labels
          ? {
              name: mine.labels.name,
              tags_json: JSON.stringify(mine.labels.tags),
              notes: mine.labels.notes,
              archived: mine.labels.archived ? 1 : 0,
            }
          : {}),
        status: 'failed',
        status_reason: 'being reindexed from its run directory',
        created_at: created,
        run_dir: dir,
      });
      return true;
    })
    .immediate();
  if (!inserted) {
    report.skipped.push({ id, reason: 'already in the database (added meanwhile)' });
    return false;
  }
  let events = 0;
  for (;;) {
    const st = ingestEventsFile(db, id, eventsPathOf(dir), { maxBatches: 1 });
    events += st.applied + st.ignored;
    if (!st.more) break;
    await yieldToLoop();
  }
  for (const s of ['stdout', 'stderr'] as const) {
    for (let i = 0; i < 10_000 && ingestTextLog(db, id, join(dir, `${s}.log`), s, { flush: true }) > 0; i++) await yieldToLoop();
  }
  report.events += events;
  const alive = settle(db, id, dir, events, { jobAlive: opts.jobAlive, script: mine?.script, source: opts.source ?? 'reindex' });
  report.added.push(id);
  if (alive) report.running.push(id);
  opts.onRun?.(id);
  return true;
}

/** The status a reindexed run's events give it; returns whether its process is still alive (re-attached). */
function settle(
  db: DB,
  id: string,
  dir: string,
  events: number,
  {
    jobAlive,
    script,
    source,
  }: { jobAlive?: (h: RunHandle) => boolean; script?: ScriptRecord; source: NonNullable<ReindexOptions['source']> },
): boolean {
  const copy = source === 'sync';
  return db
    .transaction(() => {
      const row = getRunRow(db, id)!;
      const span = eventTimes(db, id);
      const env = row.env_json ? (JSON.parse(row.env_json) as Record<string, unknown>) : {};
      const pid = typeof env.pid === 'number' ? env.pid : null;
      const note = `${source === 'sync' ? 'synced' : source === 'inbox' ? 'registered by its script' : 'reindexed'} from ${dir}: ${events} events`;
      // a Slurm run names its job in run_start (the experiment reads SLURM_JOB_ID); its pid is the compute node's
      const jobId = !copy && row.executor === 'slurm' && typeof env.slurm_job_id === 'string' ? env.slurm_job_id : null;
      if (
        row.end_status === null &&
        jobId !== null &&
        jobAlive?.({ pid: null, startTime: null, jobId, runId: id, groupId: row.group_id })
      ) {
        db.prepare(
          "UPDATE runs SET status = 'running', status_reason = NULL, started_at = ?, ended_at = NULL, job_id = ? WHERE id = ?",
        ).run(span.first ?? row.created_at, jobId, id);
        addLog(db, id, 'supervisor', 'info', `${note}; its Slurm job ${jobId} is still queued or running: watching it again`);
        return true;
      }
      // a script's run: the process that registered it, on this host, with the start time it recorded
      const how = script ? scriptWatch(script, env.host) : null;
      const live = script && (how === 'pid' ? isScriptProcess(script.pid, script.startTime, dir) : eventsFresh(dir));
      if (!copy && row.end_status === null && script && live) {
        // followed by its pid where that can be verified; else by its heartbeat, with no pid to signal
        db.prepare(
          "UPDATE runs SET status = 'running', status_reason = NULL, started_at = ?, ended_at = NULL, pid = ?, pid_start_time = ? WHERE id = ?",
        ).run(span.first ?? row.created_at, how === 'pid' ? script.pid : null, how === 'pid' ? script.startTime : null, id);
        addLog(
          db,
          id,
          'supervisor',
          'info',
          how === 'pid'
            ? `${note}; its script (pid ${script.pid}) is running: watching it`
            : `${note}; its script (on ${typeof env.host === 'string' ? env.host : 'another machine'}) is writing: followed while it beats (the lab cannot stop it)`,
        );
        return true;
      }
      if (!copy && row.end_status === null && row.executor === 'local' && pid !== null && isRunProcess(pid, id, dir)) {
        db.prepare(
          "UPDATE runs SET status = 'running', status_reason = NULL, started_at = ?, ended_at = NULL, pid = ?, pid_start_time = ? WHERE id = ?",
        ).run(span.first ?? row.created_at, pid, pidStartTime(pid), id);
        addLog(db, id, 'supervisor', 'info', `${note}; its process (pid ${pid}) is alive: watching it again`);
        return true;
      }
      const ended = row.end_status === 'completed' || row.end_status === 'failed' || row.end_status === 'stopped';
      // A run without events was queued or never started: 'stopped', so nothing starts it by itself.
      const status = ended ? row.end_status! : events === 0 ? 'stopped' : 'failed';
      const reason =
        status === 'completed'
          ? null
          : ended
            ? (row.end_error ?? (status === 'stopped' ? 'stopped' : 'the experiment reported failure'))
            : copy
              ? 'synced without a run_end: it had not ended when it was copied (sync it again for the rest), or its process died'
              : events === 0
                ? script
                  ? 'its script registered it but wrote no event'
                  : 'reindexed from its run directory, which holds no event: it was queued or never started (retry it to run it)'
                : 'reindexed from its run directory: it has no run_end event, so it did not end normally (its process is gone)';
      db.prepare('UPDATE runs SET status = ?, status_reason = ?, started_at = ?, ended_at = ? WHERE id = ?').run(
        status,
        reason,
        span.first,
        row.end_t ?? span.last ?? row.created_at,
        id,
      );
      addLog(db, id, 'supervisor', 'info', `${note}; ${status}${reason ? `: ${reason}` : ''}`);
      return false;
    })
    .immediate();
}
