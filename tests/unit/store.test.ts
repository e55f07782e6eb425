import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase, schemaVersion } from '../../db/open';
import { SCHEMA_VERSION } from '../../db/migrations/index';
import { sql as v1 } from '../../db/migrations/001-initial';
import { getLogs, getRun, getSamples, getSetting, insertRun, listRuns, setSetting } from '../../db/queries';
import { cleanupTempDirs, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const TABLES = [
  'experiment_groups', 'runs', 'run_events', 'metrics', 'samples', 'phases', 'artifacts', 'logs', 'ingest_cursors', 'rejected_lines', 'settings',
];

function newRun(id: string, createdAt = 1000) {
  return {
    id, variant: 'star', dataset: 'addition', preset: 'tiny', seed: 0, model: 'tiny-llama',
    config_json: '{"seed":0}', config_hash: 'h', status: 'running' as const, created_at: createdAt, run_dir: `/tmp/${id}`,
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
      .prepare(`INSERT INTO runs (id, variant, dataset, preset, seed, model, config_json, config_hash, status, created_at, run_dir)
                VALUES ('old', 'star', 'addition', 'tiny', 0, 'm', '{}', 'h', 'stopped', 1, '/tmp/old')`)
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
