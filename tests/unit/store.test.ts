import { execFile } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  checkIntegrityInBackground,
  DatabaseDamagedError,
  integrityProblems,
  openDatabase,
  schemaVersion,
  SYNC_CHECK_MAX_BYTES,
} from '../../db/open';
import { SCHEMA_VERSION } from '../../db/migrations/index';
import { sql as v1 } from '../../db/migrations/001-initial';
import { getLogs, getRun, getSamples, getSetting, insertRun, listRuns, setSetting } from '../../db/queries';
import { cleanupTempDirs, REPO, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const TABLES = [
  'experiment_groups',
  'runs',
  'run_events',
  'metrics',
  'samples',
  'phases',
  'artifacts',
  'logs',
  'ingest_cursors',
  'rejected_lines',
  'settings',
];

function newRun(id: string, createdAt = 1000) {
  return {
    id,
    variant: 'star',
    dataset: 'addition',
    preset: 'tiny',
    seed: 0,
    model: 'tiny-llama',
    config_json: '{"seed":0}',
    config_hash: 'h',
    status: 'running' as const,
    created_at: createdAt,
    run_dir: `/tmp/${id}`,
  };
}

describe('database', () => {
  it('creates the schema on a fresh file with pragmas and user_version', () => {
    const file = join(tempDir(), 'sub', 'starlab.db');
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(1);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.pragma('synchronous', { simple: true })).toBe(1); // NORMAL
    const names = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((r) => r.name);
    for (const t of TABLES) expect(names).toContain(t);
    db.close();
  });

  it('reopening is a no-op and keeps data', () => {
    const file = join(tempDir(), 'starlab.db');
    const a = openDatabase(file);
    insertRun(a, newRun('r1'));
    setSetting(a, 'pythonPath', '/x/python');
    a.close();
    const b = openDatabase(file, { check: true });
    expect(schemaVersion(b)).toBe(SCHEMA_VERSION);
    expect(listRuns(b).map((r) => r.id)).toEqual(['r1']);
    expect(getSetting(b, 'pythonPath')).toBe('/x/python');
    b.close();
  });

  it('upgrades a version-1 database in place, keeping its runs', () => {
    const file = join(tempDir(), 'v1.db');
    const raw = new Database(file);
    raw.exec(v1);
    raw.pragma('user_version = 1');
    raw
      .prepare(
        `INSERT INTO runs (id, variant, dataset, preset, seed, model, config_json, config_hash, status, created_at, run_dir)
                VALUES ('old', 'star', 'addition', 'tiny', 0, 'm', '{}', 'h', 'stopped', 1, '/tmp/old')`,
      )
      .run();
    raw.close();
    const db = openDatabase(file);
    expect(schemaVersion(db)).toBe(SCHEMA_VERSION);
    expect(db.prepare("SELECT status, resume_count, resumed_at FROM runs WHERE id = 'old'").get()).toEqual({
      status: 'stopped',
      resume_count: 0,
      resumed_at: null,
    });
    db.close();
  });

  it('refuses a database from a newer version', () => {
    const file = join(tempDir(), 'starlab.db');
    const raw = new Database(file);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    raw.close();
    expect(() => openDatabase(file)).toThrow(/newer/);
  });

  it('reads runs, logs and samples through the queries module', () => {
    const db = openDatabase(join(tempDir(), 'starlab.db'));
    insertRun(db, newRun('a', 1));
    insertRun(db, newRun('b', 2));
    expect(listRuns(db).map((r) => r.id)).toEqual(['b', 'a']);
    const d = getRun(db, 'a')!;
    expect(d.config).toEqual({ seed: 0 });
    expect(d.metrics).toEqual({});
    expect(d.hashes).toEqual({});
    expect(getRun(db, 'nope')).toBeNull();
    expect(getLogs(db, 'a')).toEqual([]);
    expect(getSamples(db, 'a', { iteration: 0 })).toEqual([]);
    db.close();
  });
});

describe('integrity check on open', () => {
  /** A database with enough rows to span many pages, closed (its WAL checkpointed into the file). */
  function filledDatabase(file: string): void {
    const db = openDatabase(file);
    insertRun(db, newRun('r1'));
    const ins =
      db.prepare(`INSERT INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold, correct, hint_used)
      VALUES ('r1', ?, 0, 0, 'train', 'direct', ?, 'q?', ?, '1', '1', 1, 0)`);
    db.transaction(() => {
      for (let i = 0; i < 3000; i++) ins.run(i, `q${i}`, `rationale number ${i} with some words to fill the page`);
    })();
    db.close();
  }

  it('opens an intact file with check: true', () => {
    const file = join(tempDir(), 'starlab.db');
    filledDatabase(file);
    const db = openDatabase(file, { check: true });
    expect(integrityProblems(db)).toEqual([]);
    db.close();
  });

  it('refuses a file with a damaged page, naming it and telling the user what to do', () => {
    const dir = tempDir();
    const good = join(dir, 'good.db');
    filledDatabase(good);
    const bad = join(dir, 'starlab.db');
    copyFileSync(good, bad);
    // overwrite the header of a page in the middle of the file
    const pageSize = 4096;
    const pages = statSync(bad).size / pageSize;
    expect(pages).toBeGreaterThan(20);
    const fd = openSync(bad, 'r+');
    writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, Math.floor(pages / 2) * pageSize);
    closeSync(fd);
    // the copy really is damaged, by SQLite's own check
    const raw = new Database(bad, { readonly: true });
    let rawProblems: unknown[];
    try {
      rawProblems = (raw.pragma('quick_check') as { quick_check: string }[]).filter((r) => r.quick_check !== 'ok');
    } catch (e) {
      rawProblems = [e];
    }
    raw.close();
    expect(rawProblems.length).toBeGreaterThan(0);

    let error: unknown;
    try {
      openDatabase(bad, { check: true }).close();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DatabaseDamagedError);
    const d = error as DatabaseDamagedError;
    expect(d.file).toBe(bad);
    expect(d.problems.length).toBeGreaterThan(0);
    expect(d.message).toContain(`the database ${bad} is damaged`);
    expect(d.message).toContain('starlab backup');
    // the intact original still opens
    openDatabase(good, { check: true }).close();
  });

  it('refuses a file that is not a database at all, even without check', () => {
    const file = join(tempDir(), 'starlab.db');
    writeFileSync(file, Buffer.alloc(8192, 0x41));
    expect(() => openDatabase(file)).toThrow(DatabaseDamagedError);
  });

  it('foreign_key_check findings count as damage', () => {
    const file = join(tempDir(), 'starlab.db');
    const db = openDatabase(file);
    db.pragma('foreign_keys = OFF');
    db.prepare("INSERT INTO logs (run_id, t, source, level, message) VALUES ('ghost', 1, 'stdout', 'info', 'x')").run();
    expect(integrityProblems(db)).toEqual(['row 1 of logs refers to a missing row of runs']);
    db.close();
    expect(() => openDatabase(file, { check: true })).toThrow(/refers to a missing row of runs/);
  });
});

describe('background integrity check', () => {
  it('finds nothing in an intact file and the damage in a damaged one, in a worker thread', async () => {
    const dir = tempDir();
    const good = join(dir, 'good.db');
    const db = openDatabase(good);
    insertRun(db, newRun('r1'));
    const ins = db.prepare(`INSERT INTO logs (run_id, t, source, level, message) VALUES ('r1', ?, 'stdout', 'info', ?)`);
    db.transaction(() => {
      for (let i = 0; i < 5000; i++) ins.run(i, `log line ${i} `.repeat(5));
    })();
    // checked while this connection keeps it open (WAL), as the service would
    expect(await checkIntegrityInBackground(good)).toEqual([]);
    db.close();
    const bad = join(dir, 'bad.db');
    copyFileSync(good, bad);
    const pages = statSync(bad).size / 4096;
    const fd = openSync(bad, 'r+');
    writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, Math.floor(pages / 2) * 4096);
    closeSync(fd);
    const problems = await checkIntegrityInBackground(bad);
    expect(problems.length).toBeGreaterThan(0);
    // 'auto' checks a file this small on open
    expect(statSync(bad).size).toBeLessThan(SYNC_CHECK_MAX_BYTES);
    expect(() => openDatabase(bad, { check: 'auto' })).toThrow(DatabaseDamagedError);
  });

  it('the built CLI checks in its own worker file (out/main/integrity-worker.js)', async () => {
    expect(existsSync(join(REPO, 'out', 'main', 'integrity-worker.js')), 'run `npm run build` first').toBe(true);
    const dataDir = tempDir();
    const file = join(dataDir, 'starlab.db');
    const db = openDatabase(file);
    insertRun(db, newRun('r1'));
    db.close();
    const check = (): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) =>
        execFile(
          process.execPath,
          ['bin/starlab.js', 'check', '--data-dir', dataDir],
          { cwd: REPO, timeout: 60_000 },
          (e, stdout, stderr) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr }),
        ),
      );
    const ok = await check();
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/: ok \(/);
    const pages = statSync(file).size / 4096;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, Math.floor(pages / 2) * 4096);
    closeSync(fd);
    const damaged = await check();
    expect(damaged.code).toBe(1);
    expect(damaged.stderr).toMatch(/is damaged/);
  });
});
