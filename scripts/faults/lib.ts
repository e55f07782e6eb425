/** Shared machinery of the fault suite: counting written/ingested events, the server, cleanup. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ingestedSeqs } from '../../db/event-gate';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const FAKE_PYTHON = join(ROOT, 'tests', 'fixtures', 'fake-python');
export const VENV_PYTHON = join(ROOT, 'experiments', '.venv', 'bin', 'python');

export interface Row {
  fault: string;
  runs: number;
  written: number;
  ingested: number;
  duplicates: number;
  lost: number;
  status: string;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor<T>(fn: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

const dirs: string[] = [];
export function tempDir(prefix = 'starlab-faults-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Kill a process group (the experiments run in their own). */
export function killGroup(pid: number | null | undefined): void {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** Every run pid a data directory's database knows: killed at the end so nothing outlives the suite. */
export function killRunsOf(dataDir: string): void {
  const file = join(dataDir, 'starlab.db');
  if (!existsSync(file)) return;
  try {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      for (const r of db.prepare('SELECT pid FROM runs WHERE pid IS NOT NULL').all() as { pid: number }[]) killGroup(r.pid);
    } finally {
      db.close();
    }
  } catch {
    // unreadable database: nothing recorded
  }
}

/** seq of every complete, parseable line of an events file (a torn last line does not count). */
export function writtenSeqs(file: string): number[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const seqs: number[] = [];
  for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
    if (!line.trim()) continue;
    try {
      const o = JSON.parse(line) as { seq?: unknown };
      if (typeof o.seq === 'number') seqs.push(o.seq);
    } catch {
      // a fragment: not an event
    }
  }
  return seqs;
}

/** What the fake writer says it wrote (complete lines), from its side file. */
export function writerCount(file: string): number {
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) : 0;
}

export interface Measured {
  ingested: number;
  duplicates: number;
  /** Expected events (seqs per run) that are not in the (run, seq) gate. */
  lost: number;
  /** Data rows that do not match the events ingested (metrics values, sample items). */
  mismatches: string[];
}

/**
 * Count on the real database. duplicates: repeated (run, seq) in the gate, metrics rows
 * repeating (run, name, iteration, step), samples repeating (run, iteration, question,
 * kind), event log lines repeating (run, t, message). lost: for each run, the seqs it
 * is expected to have (written) that the gate lacks. The data tables are also checked
 * against the events file: one metrics row per value, one samples row per item.
 */
export function measure(dbFile: string, expected: Map<string, number[]>, eventsFiles: Map<string, string> = new Map()): Measured {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  try {
    const ids = [...expected.keys()];
    // the (run, seq) gate: run_events rows and the metrics events' spans (db/event-gate.ts)
    const seqsOf = new Map(ids.map((id) => [id, ingestedSeqs(db, id)]));
    const setsOf = new Map([...seqsOf].map(([id, seqs]) => [id, new Set(seqs)]));
    const ingested = [...seqsOf.values()].reduce((n, seqs) => n + seqs.length, 0);
    const duplicates =
      ids.reduce((n, id) => n + seqsOf.get(id)!.length - setsOf.get(id)!.size, 0) +
      dupCount(db, 'metrics', 'run_id, name, iteration, step', ids) +
      dupCount(db, 'samples', 'run_id, iteration, question_id, kind', ids) +
      dupCount(db, "logs WHERE source = 'event'", 'run_id, t, message', ids);
    let lost = 0;
    const mismatches: string[] = [];
    for (const [id, seqs] of expected) for (const s of seqs) if (!setsOf.get(id)!.has(s)) lost++;
    for (const [id, file] of eventsFiles) {
      if (!existsSync(file)) continue;
      let metricValues = 0;
      let items = 0;
      const ingestedSeq = setsOf.get(id) ?? new Set(ingestedSeqs(db, id));
      const text = readFileSync(file, 'utf8');
      for (const line of text.slice(0, text.lastIndexOf('\n') + 1).split('\n')) {
        let o: { seq?: number; type?: string; values?: object; items?: unknown[] };
        try {
          o = JSON.parse(line);
        } catch {
          continue;
        }
        if (typeof o.seq !== 'number' || !ingestedSeq.has(o.seq)) continue;
        if (o.type === 'metrics' && o.values) metricValues += Object.keys(o.values).length;
        if (o.type === 'samples' && o.items) items += o.items.length;
      }
      const m = (db.prepare('SELECT count(*) AS n FROM metrics WHERE run_id = ?').get(id) as { n: number }).n;
      const sm = (db.prepare('SELECT count(*) AS n FROM samples WHERE run_id = ?').get(id) as { n: number }).n;
      if (m !== metricValues) mismatches.push(`${id}: ${m} metrics rows for ${metricValues} values`);
      if (sm !== items) mismatches.push(`${id}: ${sm} samples rows for ${items} items`);
    }
    return { ingested, duplicates, lost, mismatches };
  } finally {
    db.close();
  }
}

function dupCount(db: Database.Database, table: string, cols: string, ids: string[]): number {
  const where = table.includes(' WHERE ') ? ' AND ' : ' WHERE ';
  const sql = `SELECT coalesce(sum(c - 1), 0) AS n FROM (SELECT count(*) AS c FROM ${table}${where}run_id IN (${ids.map(() => '?').join(',')}) GROUP BY ${cols} HAVING c > 1)`;
  return (db.prepare(sql).get(...ids) as { n: number }).n;
}

export interface RunInfo {
  id: string;
  status: string;
  status_reason: string | null;
  run_dir: string;
  pid: number | null;
  exit_code: number | null;
  stderr_tail: string | null;
}

export function runsOf(dbFile: string): RunInfo[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  db.pragma('busy_timeout = 10000');
  try {
    return db.prepare('SELECT id, status, status_reason, run_dir, pid, exit_code, stderr_tail FROM runs ORDER BY rowid').all() as RunInfo[];
  } finally {
    db.close();
  }
}

export function supervisorLogs(dbFile: string, id: string): string[] {
  const db = new Database(dbFile, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT message FROM logs WHERE run_id = ? AND source = 'supervisor' ORDER BY id").pluck().all(id) as string[];
  } finally {
    db.close();
  }
}

/** The browser-mode server (server/main.ts) as a real process. */
export class Server {
  child: ChildProcess | null = null;
  url = '';
  /** The access token the server printed (a new one each start); cmd() sends it. */
  token = '';
  output = '';

  constructor(
    readonly dataDir: string,
    readonly env: Record<string, string>,
  ) {}

  async start(): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...this.env };
    delete env.STARLAB_TOKEN;
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'server', 'main.ts'), '--port', '0', '--data-dir', this.dataDir], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.output = '';
    child.stdout!.on('data', (b: Buffer) => (this.output += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (this.output += b.toString()));
    const m = await waitFor(
      () =>
        /serving at (http:\/\/\S+)/.test(this.output) && /Authorization: Bearer ([A-Za-z0-9_-]+)"/.test(this.output)
          ? this.output
          : child.exitCode !== null && 'exit',
      60_000,
      'the server to listen',
    );
    if (m === 'exit') throw new Error(`the server exited: ${this.output}`);
    this.url = /serving at (http:\/\/\S+)/.exec(m)![1]!.replace(/\/$/, '');
    this.token = /Authorization: Bearer ([A-Za-z0-9_-]+)"/.exec(m)![1]!;
  }

  async cmd<T>(name: string, ...args: unknown[]): Promise<T> {
    const res = await fetch(`${this.url}/api/cmd/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify(args),
    });
    const body = (await res.json()) as { ok: boolean; result?: T; error?: string };
    if (!body.ok) throw new Error(`${name}: HTTP ${res.status}: ${body.error}`);
    return body.result as T;
  }

  /** SIGKILL the server (only it: the experiments are in their own process groups). */
  async kill(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }
}

/** Pids of live processes whose environment has key=value (read from /proc): experiments of a data dir. */
export function processesWithEnv(key: string, value: string): number[] {
  const found: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const env = readFileSync(`/proc/${p}/environ`, 'utf8').split('\0');
      if (env.includes(`${key}=${value}`) && !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${p}/stat`, 'utf8'))) found.push(Number(p));
    } catch {
      // gone, or not ours
    }
  }
  return found;
}

/** Files of every run directory under a data dir (events.jsonl by run id). */
export function eventsFilesOf(dataDir: string): Map<string, string> {
  const m = new Map<string, string>();
  const runs = join(dataDir, 'runs');
  if (!existsSync(runs)) return m;
  for (const id of readdirSync(runs)) m.set(id, join(runs, id, 'events.jsonl'));
  return m;
}

/** A fault's row from what was measured: ok (with what happened) unless there are problems. */
export function faultRow(
  fault: string,
  runs: number,
  written: number,
  m: Pick<Measured, 'ingested' | 'duplicates' | 'lost'>,
  problems: string[],
  ok: string,
): Row {
  return {
    fault,
    runs,
    written,
    ingested: m.ingested,
    duplicates: m.duplicates,
    lost: m.lost,
    status: problems.length ? `FAIL: ${problems.slice(0, 3).join('; ')}` : `ok: ${ok}`,
  };
}

/** Hold the database with BEGIN EXCLUSIVE from another process for holdMs (resolves once it holds it). */
export async function lockDatabase(dbFile: string, holdMs: number): Promise<{ child: ChildProcess; exited: Promise<unknown> }> {
  const script = `
    const Database = require('better-sqlite3');
    const db = new Database(process.argv[1]);
    db.pragma('busy_timeout = 10000');
    db.exec('BEGIN EXCLUSIVE');
    process.stdout.write('locked\\n');
    setTimeout(() => { db.exec('COMMIT'); db.close(); }, ${holdMs});`;
  const child = spawn(process.execPath, ['-e', script, dbFile], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((r) => child.once('exit', r));
  let out = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  await waitFor(() => out.includes('locked'), 20_000, 'the lock');
  return { child, exited };
}

/**
 * A small tmpfs (root only: the disk-full faults), or the row saying why there is none (a
 * skipped row fails the suite). `unmount` is lazy, so open files do not keep it busy.
 */
export function mountTmpfs(fault: string, size = '16m'): { mnt: string; unmount: () => void } | { skipped: Row } {
  const mnt = join(tempDir(), 'mnt');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mnt], { stdio: 'pipe' });
  } catch (e) {
    const why = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message)
      .trim()
      .split('\n')[0];
    return {
      skipped: { fault, runs: 0, written: 0, ingested: 0, duplicates: 0, lost: 0, status: `skipped: mount -t tmpfs failed: ${why}` },
    };
  }
  const unmount = () => {
    try {
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
    } catch (e) {
      console.error(`faults: could not unmount ${mnt}: ${(e as Error).message}`);
    }
  };
  return { mnt, unmount };
}
