/**
 * The service combined from its per-domain modules (core/service/): every contract command is
 * there, and the data commands at a named path (the CLI's backup and bundle) word their
 * results and refusals in the service, as the contract's backupNow/exportRunBundle/importRunBundle do.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMAND_NAMES } from '../../shared/contract';
import { checkDataDir, createService } from '../../core/service';
import { databasePath, runsDir } from '../../core/paths';
import { openDatabase } from '../../db/open';
import { insertRun } from '../../db/queries';
import { typicalRunSeconds } from '../../db/estimates';
import { cleanupTempDirs, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

/** A data dir with completed runs (rows, and a run directory unless `noDir`). */
function dataDirWith(runs: { id: string; noDir?: boolean; started?: number; ended?: number }[]): string {
  const dir = tempDir();
  const db = openDatabase(databasePath(dir));
  for (const r of runs) {
    const runDir = join(runsDir(dir), r.id);
    if (!r.noDir) {
      mkdirSync(runDir, { recursive: true });
      writeFileSync(join(runDir, 'config.json'), '{}\n');
    }
    insertRun(db, {
      id: r.id,
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 0,
      model: 'm',
      config_json: '{}',
      config_hash: 'h',
      status: 'completed',
      created_at: 1,
      run_dir: runDir,
    });
    if (r.started !== undefined)
      db.prepare('UPDATE runs SET started_at = ?, ended_at = ? WHERE id = ?').run(r.started, r.ended ?? null, r.id);
  }
  db.close();
  return dir;
}

describe('the service combined from its modules', () => {
  it('answers every contract command', () => {
    const s = createService({ dataDir: tempDir(), watch: false });
    try {
      expect(COMMAND_NAMES.filter((c) => typeof (s as unknown as Record<string, unknown>)[c] !== 'function')).toEqual([]);
      for (const m of ['on', 'reconcile', 'waitForRun', 'close', 'backupTo', 'exportBundleTo', 'importBundleFrom'] as const)
        expect(typeof s[m]).toBe('function');
    } finally {
      s.close();
    }
  });

  it('estimates an ablation from completed runs like it (db/estimates.ts)', () => {
    const dir = dataDirWith([
      { id: '20240101-000000-aaaa', started: 100, ended: 160 },
      { id: '20240101-000000-bbbb', started: 100, ended: 200 },
    ]);
    const db = openDatabase(databasePath(dir));
    expect(typicalRunSeconds(db, { variant: 'star', dataset: 'addition', preset: 'tiny' })).toBe(80);
    expect(typicalRunSeconds(db, { variant: 'vstar', dataset: 'addition', preset: 'tiny' })).toBeNull();
    db.close();
    const s = createService({ dataDir: dir, watch: false });
    const plan = s.planAblation({ variants: ['star'], datasets: ['addition'], seeds: [0, 1], preset: 'tiny' });
    // a variant that never ran is assumed as long as the ones that did, and the plan says how many it knew
    const mixed = s.planAblation({ variants: ['star', 'star-norat'], datasets: ['addition'], seeds: [0], preset: 'tiny' });
    s.close();
    expect(plan).toMatchObject({ ok: true, estimatedSeconds: 160, estimatedFrom: 2 }); // two runs of 80 s, one at a time
    expect(mixed).toMatchObject({ ok: true, estimatedSeconds: 160, estimatedFrom: 1 });
  });
});

describe('data commands at a named path', () => {
  it('exportBundleTo and importBundleFrom: the report, warnings worded once, overwrite only when asked', () => {
    const a = dataDirWith([{ id: '20240101-000000-aaaa' }, { id: '20240101-000000-bbbb', noDir: true }]);
    const s = createService({ dataDir: a, watch: false });
    const file = join(tempDir(), 'runs.tar');
    const r = s.exportBundleTo(['20240101-000000-aaaa', '20240101-000000-bbbb'], file, { forceOption: '--force' });
    if (!r.ok) throw new Error(r.message);
    expect(r.report).toMatchObject({
      file,
      runIds: ['20240101-000000-aaaa', '20240101-000000-bbbb'],
      files: 1,
      missingDirs: ['20240101-000000-bbbb'],
    });
    expect(r.warnings).toEqual(['run 20240101-000000-bbbb has no run directory; only its database rows are in the bundle']);
    // an existing file: refused in one sentence naming the option, replaced with overwrite
    const again = s.exportBundleTo(['20240101-000000-aaaa'], file, { forceOption: '--force' });
    expect(again).toEqual({
      ok: false,
      message: expect.stringMatching(/runs\.tar already exists; choose another name, or pass --force to replace it$/),
    });
    expect(s.exportBundleTo(['20240101-000000-aaaa'], file, { overwrite: true }).ok).toBe(true);
    // a run the database does not know is refused by the bundle itself
    expect(s.exportBundleTo(['nosuchrun'], join(tempDir(), 'x.tar'))).toEqual({
      ok: false,
      message: 'no run "nosuchrun" in this database',
    });
    s.close();

    const b = createService({ dataDir: tempDir(), watch: false });
    const changed: string[][] = [];
    b.on('runsChanged', (e) => changed.push(e.ids));
    // a relative path is the caller's (the CLI's working directory), unlike importRunBundle's
    const im = b.importBundleFrom(relative(process.cwd(), file));
    if (!im.ok) throw new Error(im.message);
    expect(im.report).toMatchObject({ file, imported: ['20240101-000000-aaaa'], skipped: [] });
    expect(changed).toEqual([['20240101-000000-aaaa']]);
    expect(b.importBundleFrom(file)).toMatchObject({
      ok: true,
      report: { imported: [], skipped: [{ id: '20240101-000000-aaaa', reason: 'already present' }] },
    });
    const nope = join(tempDir(), 'nope.tar');
    expect(b.importBundleFrom(nope)).toEqual({ ok: false, message: `cannot read the bundle: ${nope} does not exist; check the path` });
    expect(b.importBundleFrom(nope)).toEqual(b.importRunBundle(nope));
    b.close();
  });

  it('backupTo: a checked copy; an existing file or a folder refused in one sentence', async () => {
    const s = createService({ dataDir: dataDirWith([{ id: '20240101-000000-aaaa' }]), watch: false });
    const d = tempDir();
    const file = join(d, 'copy.db');
    const r = await s.backupTo(file);
    if (!r.ok) throw new Error(r.message);
    expect(r.report).toMatchObject({ file, bytes: expect.any(Number), schemaVersion: expect.any(Number) });
    const copy = openDatabase(file, { check: true });
    expect(copy.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 1 });
    copy.close();
    expect(await s.backupTo(file, { forceOption: '--force' })).toEqual({
      ok: false,
      message: expect.stringMatching(/copy\.db already exists; choose another name, or pass --force to replace it$/),
    });
    expect((await s.backupTo(file, { overwrite: true })).ok).toBe(true);
    expect(await s.backupTo(d, { overwrite: true })).toEqual({
      ok: false,
      message: `cannot write the backup: ${d} is a folder; give a file name such as ${join(d, 'starlab-backup.db')}`,
    });
    // onto the live database: refused, the database intact
    expect(await s.backupTo(s.dbPath, { overwrite: true })).toMatchObject({
      ok: false,
      message: expect.stringContaining('is the live database'),
    });
    expect(s.listRuns()).toHaveLength(1);
    s.close();
  });

  it('checkDataDir: a data dir without a database knows none of its run directories', async () => {
    const dir = tempDir();
    mkdirSync(join(runsDir(dir), '20240101-000000-aaaa'), { recursive: true });
    const r = await checkDataDir(dir);
    expect(r).toMatchObject({ ok: false, file: databasePath(dir), exists: false, problems: [], unindexedRuns: ['20240101-000000-aaaa'] });
    expect(existsSync(databasePath(dir))).toBe(false);
    const ok = await checkDataDir(dataDirWith([{ id: '20240101-000000-aaaa' }]));
    expect(ok).toMatchObject({ ok: true, exists: true, problems: [], unindexedRuns: [] });
    expect(readFileSync(ok.file).length).toBeGreaterThan(0);
  });
});
