/** The service's integrity check: on open for a small file, in the background for a large one. */
import { closeSync, copyFileSync, openSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createService } from '../../core/service';
import { DatabaseDamagedError, openDatabase, SYNC_CHECK_MAX_BYTES } from '../../db/open';
import { insertRun } from '../../db/queries';
import type { DatabaseHealth } from '../../shared/contract';
import { cleanupTempDirs, fakeCommand, SPEC, tempDir, waitFor } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const run = (id: string, dir: string) => ({
  id,
  variant: 'star',
  dataset: 'addition',
  preset: 'tiny',
  seed: 0,
  model: 'm',
  config_json: '{}',
  config_hash: 'h',
  status: 'completed' as const,
  created_at: 1,
  run_dir: dir,
});

/** A database of `rows` log lines of ~1 KiB, closed; then the page header in the middle overwritten. */
function damagedDatabase(dir: string, rows: number): { good: string; bad: string } {
  const good = join(dir, 'good.db');
  const db = openDatabase(good);
  insertRun(db, run('r1', dir));
  const ins = db.prepare("INSERT INTO logs (run_id, t, source, level, message) VALUES ('r1', ?, 'stdout', 'info', ?)");
  db.transaction(() => {
    for (let i = 0; i < rows; i++) ins.run(i, `line ${i} `.repeat(100));
  })();
  db.close();
  const dataDir = join(dir, 'data');
  const bad = join(dataDir, 'starlab.db');
  openDatabase(bad).close(); // creates the folder
  copyFileSync(good, bad);
  const pages = statSync(bad).size / 4096;
  const fd = openSync(bad, 'r+');
  writeSync(fd, Buffer.alloc(64, 0xff), 0, 64, Math.floor(pages / 2) * 4096);
  closeSync(fd);
  return { good, bad };
}

describe('database health in the service', () => {
  it('a small healthy database is checked on open and reported ok', () => {
    const s = createService({ dataDir: tempDir(), watch: false });
    const h = s.getDatabaseHealth();
    expect(h.state).toBe('ok');
    expect(h.problems).toEqual([]);
    expect(h.seconds).not.toBeNull();
    s.close();
  });

  it('a small damaged database is refused on open, naming the file', () => {
    const dir = tempDir();
    const { bad } = damagedDatabase(dir, 2000);
    expect(statSync(bad).size).toBeLessThan(SYNC_CHECK_MAX_BYTES);
    expect(() => createService({ dataDir: join(dir, 'data'), watch: false })).toThrow(DatabaseDamagedError);
    expect(() => createService({ dataDir: join(dir, 'data'), watch: false })).toThrow(`the database ${bad} is damaged`);
  });

  it('a large damaged database opens, is found damaged in the background, and new runs are refused', async () => {
    const dir = tempDir();
    const { bad } = damagedDatabase(dir, 40_000);
    expect(statSync(bad).size).toBeGreaterThan(SYNC_CHECK_MAX_BYTES);
    // a one-shot command does not check a large file
    const once = createService({ dataDir: join(dir, 'data'), watch: false, commandFor: fakeCommand('complete') });
    expect(once.getDatabaseHealth().state).toBe('unchecked');
    // a run queued before anyone found the damage
    const queued = once.createAblation({ variants: ['star'], datasets: ['addition'], seeds: [0], preset: 'tiny' });
    if (!queued.ok) throw new Error(JSON.stringify(queued.errors));
    once.close();

    const s = createService({ dataDir: join(dir, 'data'), watch: true, pollMs: 50, commandFor: fakeCommand('complete') });
    const events: DatabaseHealth[] = [];
    s.on('databaseHealth', (h) => events.push(h));
    expect(s.getDatabaseHealth().state).toBe('checking');
    const h = await waitFor(() => events[0], 60_000, 'the background check');
    expect(h.state).toBe('damaged');
    expect(h.problems.length).toBeGreaterThan(0);
    expect(h.message).toContain(`the database ${bad} is damaged`);
    expect(s.getDatabaseHealth()).toEqual(h);
    const launched = await s.launchRun(SPEC);
    expect(launched.ok).toBe(false);
    expect(JSON.stringify(launched)).toContain('is damaged');
    expect(await s.resumeRun('r1')).toMatchObject({ ok: false, message: expect.stringContaining('is damaged') });
    // the queue waited for the check and starts nothing on a damaged database
    await new Promise((r) => setTimeout(r, 300));
    expect(s.getRun(queued.runs[0]!)!.status).toBe('queued');
    s.close();
  });
});
