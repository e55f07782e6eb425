/**
 * `starlab sync DIR…`: runs written away from the lab (a script in offline mode on a cluster
 * node, `starlab.init(mode="offline")`, or any run directory copied from elsewhere) brought
 * into the data directory and indexed, as wandb sync does. A run directory is copied file by
 * file (regular files only, never through a link) into a hidden folder under runs/ and renamed
 * into place, so the app never sees half a run; then it is indexed as a reindex would
 * (core/reindex.ts). Syncing the same run again after its script wrote more appends what is new
 * (seq makes the ingest idempotent); a copy that is not a continuation of the lab's is refused,
 * never overwritten.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { DB } from '../db/open';
import { getRunRow } from '../db/queries';
import { RUN_ID_PATTERN } from '../shared/contract';
import { runsDir } from './paths';
import { reindexRun, type ReindexReport } from './reindex';
import { RUN_RECORD_FILE, readRunRecord } from './run-record';
import { eventsPathOf } from './run-files';
import { ingestEventsFile } from './tailer';
import { addLog } from '../db/queries';

const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
/** The files of a run directory that travel (checkpoints and artifacts stay where they were written). */
const RUN_FILES = ['config.json', RUN_RECORD_FILE, 'events.jsonl', 'stdout.log', 'stderr.log'];
const CHUNK = 1 << 20;

export interface SyncReport {
  /** Runs new to the lab. */
  added: string[];
  /** Runs the lab had, with the events written since the last sync. */
  updated: { id: string; events: number }[];
  /** Runs the lab already had in full. */
  unchanged: string[];
  skipped: { path: string; reason: string }[];
  events: number;
}

function lstatOrNull(p: string) {
  try {
    return lstatSync(p);
  } catch {
    return null;
  }
}

/** The run directories a path names: itself when it holds events.jsonl or run.json, else its subdirectories that do. */
export function runDirsIn(path: string): { dirs: string[]; problem?: string } {
  const st = lstatOrNull(path);
  if (!st) return { dirs: [], problem: `${path} does not exist` };
  if (st.isSymbolicLink()) return { dirs: [], problem: `${path} is a symbolic link: not followed` };
  if (!st.isDirectory()) return { dirs: [], problem: `${path} is not a directory` };
  const isRun = (d: string) => lstatOrNull(join(d, 'events.jsonl'))?.isFile() || lstatOrNull(join(d, RUN_RECORD_FILE))?.isFile();
  if (isRun(path)) return { dirs: [path] };
  const dirs = readdirSync(path)
    .sort()
    .map((n) => join(path, n))
    .filter((d) => lstatOrNull(d)?.isDirectory() && isRun(d));
  return dirs.length ? { dirs } : { dirs: [], problem: `${path} holds no run directory (a folder with events.jsonl)` };
}

/** Copy a regular file (refusing links and special files) to a new file; returns its bytes. */
function copyFile(from: string, to: string): number {
  const src = openSync(from, constants.O_RDONLY | O_NOFOLLOW);
  try {
    if (!fstatSync(src).isFile()) throw new Error(`${from} is not a regular file: not copied`);
    const dst = openSync(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o644);
    try {
      return copyRange(src, dst, 0);
    } finally {
      closeSync(dst);
    }
  } finally {
    closeSync(src);
  }
}

function copyRange(src: number, dst: number, from: number): number {
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = from;
  for (;;) {
    const n = readSync(src, buf, 0, CHUNK, pos);
    if (n === 0) return pos - from;
    writeSync(dst, buf, 0, n);
    pos += n;
  }
}

/** Whether the first `n` bytes of two open files are equal. */
function samePrefix(a: number, b: number, n: number): boolean {
  const x = Buffer.allocUnsafe(CHUNK);
  const y = Buffer.allocUnsafe(CHUNK);
  for (let pos = 0; pos < n;) {
    const len = Math.min(CHUNK, n - pos);
    if (readSync(a, x, 0, len, pos) !== len || readSync(b, y, 0, len, pos) !== len || !x.subarray(0, len).equals(y.subarray(0, len)))
      return false;
    pos += len;
  }
  return true;
}

/** The run id a source directory is synced under: its run.json's, else its own name. */
function runIdOf(dir: string): string | null {
  const record = readRunRecord(dir);
  const id = record?.id ?? basename(resolve(dir));
  return RUN_ID_PATTERN.test(id) ? id : null; // what the API can name
}

/**
 * A script's run.json for an events file written without one (an SDK run with
 * `events_path=…`): its process as run_start names it; the script's config becomes config.json.
 */
function recordFromRunStart(events: string, id: string): { record: string; config: string } | null {
  let fd: number;
  try {
    fd = openSync(events, constants.O_RDONLY | O_NOFOLLOW);
  } catch {
    return null;
  }
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    const n = readSync(fd, buf, 0, CHUNK, 0);
    const first = buf.subarray(0, n).toString('utf8').split('\n')[0] ?? '';
    const ev = JSON.parse(first) as { type?: unknown; t?: unknown; config?: unknown; env?: { pid?: unknown } };
    if (ev.type !== 'run_start' || typeof ev.t !== 'number') return null;
    const config = ev.config && typeof ev.config === 'object' && !Array.isArray(ev.config) ? ev.config : {};
    const pid = Number.isSafeInteger(ev.env?.pid) && (ev.env!.pid as number) > 0 ? (ev.env!.pid as number) : 1;
    const record = {
      format: 1,
      id,
      createdAt: ev.t,
      group: null,
      retryOf: null,
      script: { project: null, name: null, pid, startTime: null },
    };
    return { record: JSON.stringify(record, null, 2) + '\n', config: JSON.stringify(config, null, 2) + '\n' };
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Append what the source's events file has beyond the lab's copy; null when it is not a continuation of it. */
function appendNewEvents(source: string, target: string): number | null {
  const src = openSync(source, constants.O_RDONLY | O_NOFOLLOW);
  try {
    const dst = openSync(target, constants.O_RDWR | constants.O_APPEND | O_NOFOLLOW);
    try {
      const have = fstatSync(dst).size;
      if (fstatSync(src).size < have || !samePrefix(src, dst, have)) return null;
      return copyRange(src, dst, have);
    } finally {
      closeSync(dst);
    }
  } finally {
    closeSync(src);
  }
}

/** Bring run directories written elsewhere into the lab. */
export async function syncRunDirs(db: DB, dataDir: string, paths: string[]): Promise<SyncReport> {
  const report: SyncReport = { added: [], updated: [], unchanged: [], skipped: [], events: 0 };
  const base = runsDir(dataDir);
  mkdirSync(base, { recursive: true });
  for (const path of paths) {
    const found = runDirsIn(resolve(path));
    if (found.problem) report.skipped.push({ path, reason: found.problem });
    for (const dir of found.dirs) {
      const id = runIdOf(dir);
      if (id === null) {
        report.skipped.push({
          path: dir,
          reason: `its name is not a run id (up to 64 letters, digits, "_" and "-"), and it has no ${RUN_RECORD_FILE} naming one`,
        });
        continue;
      }
      const target = join(base, id);
      if (resolve(dir) === resolve(target)) {
        report.skipped.push({
          path: dir,
          reason: 'it is in the lab already (use `starlab reindex` for run directories the database does not know)',
        });
        continue;
      }
      try {
        if (lstatOrNull(target)) await syncAgain(db, id, dir, target, report);
        else await syncNew(db, dataDir, id, dir, base, report);
      } catch (e) {
        report.skipped.push({ path: dir, reason: (e as Error).message });
      }
    }
  }
  return report;
}

async function syncNew(db: DB, dataDir: string, id: string, dir: string, base: string, report: SyncReport): Promise<void> {
  const staging = join(base, `.sync-${id}-${randomBytes(4).toString('hex')}`);
  mkdirSync(staging);
  try {
    for (const f of RUN_FILES) if (lstatOrNull(join(dir, f))) copyFile(join(dir, f), join(staging, f));
    if (!lstatOrNull(join(staging, RUN_RECORD_FILE)) && !lstatOrNull(join(staging, 'config.json'))) {
      const made = recordFromRunStart(join(staging, 'events.jsonl'), id);
      if (!made) throw new Error('it has neither run.json nor config.json, and its events.jsonl does not begin with a run_start event');
      writeNew(join(staging, RUN_RECORD_FILE), made.record);
      writeNew(join(staging, 'config.json'), made.config);
    }
    renameSync(staging, join(base, id)); // the run appears whole, or not at all
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
  const r: ReindexReport = { added: [], running: [], groupsAdded: [], skipped: [], events: 0, seconds: 0 };
  if (await reindexRun(db, dataDir, id, r, { source: 'sync' })) {
    report.added.push(id);
    report.events += r.events;
  } else report.skipped.push({ path: dir, reason: r.skipped[0]?.reason ?? 'not indexed' });
}

async function syncAgain(db: DB, id: string, dir: string, target: string, report: SyncReport): Promise<void> {
  const row = getRunRow(db, id);
  if (!row) throw new Error(`runs/${id} exists but the database does not know it: \`starlab reindex\` puts it back first`);
  if (row.status === 'running') throw new Error(`run ${id} is running in the lab: it is being followed already`);
  const appended = appendNewEvents(eventsPathOf(dir), eventsPathOf(target));
  if (appended === null) throw new Error(`its events.jsonl is not a continuation of run ${id}'s in the lab: not synced over it`);
  if (appended === 0) {
    report.unchanged.push(id);
    return;
  }
  let events = 0;
  for (;;) {
    const st = ingestEventsFile(db, id, eventsPathOf(target), { maxBatches: 1 });
    events += st.applied + st.ignored;
    if (!st.more) break;
  }
  settleEnded(db, id, `synced from ${dir} on ${hostname()}`);
  report.updated.push({ id, events });
  report.events += events;
}

function writeNew(path: string, text: string): void {
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, text);
  } finally {
    closeSync(fd);
  }
}

/** A synced run's status once its events say how it ended (it was 'failed' for want of a run_end). */
function settleEnded(db: DB, id: string, note: string): void {
  db.transaction(() => {
    const row = getRunRow(db, id)!;
    const end = row.end_status;
    if (end === 'completed' || end === 'failed' || end === 'stopped') {
      const reason = end === 'completed' ? null : (row.end_error ?? (end === 'stopped' ? 'stopped' : 'the experiment reported failure'));
      db.prepare('UPDATE runs SET status = ?, status_reason = ?, ended_at = coalesce(?, ended_at) WHERE id = ?').run(
        end,
        reason,
        row.end_t,
        id,
      );
    }
    addLog(db, id, 'supervisor', 'info', `${note}; ${end ?? 'still without a run_end'}`);
  })();
}
