/** The GUI's data commands: backup, bundle export/import into another data directory, python check. */
import fs, { existsSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createService } from '../../core/service';
import { cleanupTempDirs, FAKE_PYTHON, fakeCommand, SPEC, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

describe('data commands', () => {
  it('backs up, exports runs as a bundle, imports it elsewhere once, and lists the files', async () => {
    const a = createService({ dataDir: tempDir(), pollMs: 50, commandFor: fakeCommand('complete') });
    const launched = await a.launchRun(SPEC);
    if (!launched.ok) throw new Error(JSON.stringify(launched));
    await a.waitForRun(launched.id, { timeoutMs: 20_000 });
    expect(a.getRun(launched.id)!.status).toBe('completed');

    const backup = await a.backupNow();
    if (!backup.ok) throw new Error(backup.message);
    expect(backup.file.startsWith(join(a.dataDir, 'backups', 'starlab-'))).toBe(true);
    expect(existsSync(backup.file)).toBe(true);

    expect(await a.exportRunBundle(['nosuchrun'], {})).toEqual({ ok: false, message: 'no run "nosuchrun"' });
    const bundle = await a.exportRunBundle([launched.id], {});
    if (!bundle.ok) throw new Error(bundle.message);
    expect(bundle.runs).toBe(1);
    expect(bundle.file.startsWith(join(a.dataDir, 'exports', 'runs-'))).toBe(true);

    const info = await a.getDataInfo();
    expect(info.backups.map((f) => f.file)).toEqual([backup.file]);
    expect(info.bundles.map((f) => f.file)).toEqual([bundle.file]);
    expect(info.database.bytes).toBeGreaterThan(0);
    expect(info.health.state).toBe('ok');

    const b = createService({ dataDir: tempDir(), watch: false });
    expect(await b.importRunBundle('relative/runs.tar')).toMatchObject({ ok: false, message: expect.stringContaining('absolute path') });
    const first = await b.importRunBundle(bundle.file);
    if (!first.ok) throw new Error(first.message);
    expect(first.imported).toEqual([launched.id]);
    expect(first.rows).toBeGreaterThan(0);
    const detail = b.getRun(launched.id)!;
    expect(detail.status).toBe('completed');
    expect(b.metricNames([launched.id])).toEqual(a.metricNames([launched.id]));
    const again = await b.importRunBundle(bundle.file);
    expect(again).toMatchObject({ ok: true, imported: [], skipped: [{ id: launched.id, reason: 'already present' }] });
    a.close();
    b.close();
  });

  it('importRunBundle never echoes a file that is not a bundle; missing paths and full disks are one sentence', async () => {
    const s = createService({ dataDir: tempDir(), watch: false });
    const secret = join(tempDir(), 'id_rsa');
    writeFileSync(secret, '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n'.repeat(20));
    const r = await s.importRunBundle(secret);
    expect(r).toEqual({ ok: false, message: `${secret} is not a valid bundle: it is not a tar archive, so not a STaR Lab run bundle` });
    const nope = join(tempDir(), 'nope.tar');
    expect(await s.importRunBundle(nope)).toEqual({ ok: false, message: `cannot read the bundle: ${nope} does not exist; check the path` });
    s.close();
  });

  it('backupNow and exportRunBundle say what is wrong with the data dir in one sentence, no raw errno', async () => {
    const dataDir = tempDir();
    const s = createService({ dataDir, pollMs: 50, commandFor: fakeCommand('complete') });
    const launched = await s.launchRun(SPEC);
    if (!launched.ok) throw new Error(JSON.stringify(launched));
    await s.waitForRun(launched.id, { timeoutMs: 20_000 });
    // backups/ and exports/ are files: mkdir fails with EEXIST / ENOTDIR underneath
    writeFileSync(join(dataDir, 'backups'), 'not a folder');
    writeFileSync(join(dataDir, 'exports'), 'not a folder');
    const b = await s.backupNow();
    expect(b.ok).toBe(false);
    if (!b.ok) {
      expect(b.message).toMatch(/^cannot write the backup: .*backups.*; (choose another location|give a folder)/);
      expect(b.message).not.toMatch(/^E[A-Z]+:/);
    }
    const x = await s.exportRunBundle([launched.id], {});
    expect(x.ok).toBe(false);
    if (!x.ok) {
      expect(x.message).toMatch(/^cannot write the bundle: .*exports/);
      expect(x.message).not.toMatch(/^E[A-Z]+:/);
    }
    s.close();
  });

  it('exportRunBundle leaves out a run directory that is a symbolic link, with a warning', async () => {
    const dataDir = tempDir();
    const s = createService({ dataDir, pollMs: 50, commandFor: fakeCommand('complete') });
    const launched = await s.launchRun(SPEC);
    if (!launched.ok) throw new Error(JSON.stringify(launched));
    await s.waitForRun(launched.id, { timeoutMs: 20_000 });
    const runDir = s.getRun(launched.id)!.runDir;
    const elsewhere = tempDir();
    writeFileSync(join(elsewhere, 'passwd'), 'root:x:0:0');
    rmSync(runDir, { recursive: true });
    symlinkSync(elsewhere, runDir);
    const r = await s.exportRunBundle([launched.id], {});
    if (!r.ok) throw new Error(r.message);
    expect(r.files).toBe(0);
    expect(r.warnings).toEqual([
      expect.stringMatching(
        new RegExp(`^runs/${launched.id} left out: its run directory .* is a symbolic link, which a bundle does not follow`),
      ),
    ]);
    expect(readFileSync(r.file).includes('root:x:0:0')).toBe(false);
    s.close();
  });

  it('launch on a full disk: one sentence naming where, nothing left behind', async () => {
    const dataDir = tempDir();
    const s = createService({ dataDir, pollMs: 50, commandFor: fakeCommand('complete') });
    const orig = fs.writeFileSync;
    fs.writeFileSync = ((...args: Parameters<typeof fs.writeFileSync>) => {
      if (String(args[0]).endsWith('config.json'))
        throw Object.assign(new Error(`ENOSPC: no space left on device, open '${String(args[0])}'`), {
          code: 'ENOSPC',
          path: String(args[0]),
        });
      return orig(...args);
    }) as typeof fs.writeFileSync;
    syncBuiltinESMExports();
    try {
      await expect(s.launchRun(SPEC)).rejects.toThrow(
        `cannot start the run: the disk holding ${join(dataDir, 'runs')} is full (ENOSPC); free space and launch again`,
      );
    } finally {
      fs.writeFileSync = orig;
      syncBuiltinESMExports();
    }
    expect(s.listRuns()).toEqual([]);
    expect(readdirSync(join(dataDir, 'runs'))).toEqual([]);
    // the row insert hits a full disk (SQLite's "database or disk is full")
    const prepare = s.db.prepare.bind(s.db);
    s.db.prepare = ((sql: string) => {
      if (/INSERT INTO runs/.test(sql)) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
      return prepare(sql);
    }) as typeof s.db.prepare;
    try {
      await expect(s.launchRun(SPEC)).rejects.toThrow(
        `cannot start the run: the disk holding ${s.dbPath} is full (database or disk is full); free space and launch again`,
      );
    } finally {
      s.db.prepare = prepare;
    }
    expect(readdirSync(join(dataDir, 'runs'))).toEqual([]);
    // runs/ is a file: not a raw ENOTDIR (and the cleanup does not throw its own)
    const other = tempDir();
    writeFileSync(join(other, 'runs'), 'x');
    const s2 = createService({ dataDir: other, pollMs: 50, commandFor: fakeCommand('complete') });
    await expect(s2.launchRun(SPEC)).rejects.toThrow(
      `cannot start the run: a part of ${join(other, 'runs')} is a file, not a folder; choose another location`,
    );
    s2.close();
    s.close();
  });

  it('refuses a hub model named by a local path that is not a model folder, before launch', async () => {
    const s = createService({ dataDir: tempDir(), watch: false, commandFor: fakeCommand('complete') });
    const hub = (name: string) => ({ ...SPEC, overrides: { 'model.source': 'hub', 'model.name': name } });
    const missing = join(tempDir(), 'no-such-model');
    const v = s.validateLaunch(hub(missing));
    expect(v).toMatchObject({
      ok: false,
      errors: [{ field: 'model.name', message: expect.stringContaining(`${missing} does not exist`) }],
    });
    const l = await s.launchRun(hub(missing));
    expect(l).toMatchObject({ ok: false, errors: [{ field: 'model.name' }] });
    expect(s.listRuns()).toEqual([]);
    const empty = tempDir();
    expect(s.validateLaunch(hub(empty))).toMatchObject({
      ok: false,
      errors: [{ field: 'model.name', message: expect.stringContaining('has no config.json') }],
    });
    const file = join(empty, 'weights.bin');
    writeFileSync(file, 'x');
    expect(s.validateLaunch(hub(file))).toMatchObject({
      ok: false,
      errors: [{ field: 'model.name', message: expect.stringContaining('is a file, not a folder') }],
    });
    for (const rel of ['./models/llama', '../llama', '~/models/llama'])
      expect(s.validateLaunch(hub(rel))).toMatchObject({
        ok: false,
        errors: [{ field: 'model.name', message: expect.stringContaining('absolute path') }],
      });
    // a model folder, and hub ids ("org/name" is not a path), pass this check
    writeFileSync(join(empty, 'config.json'), '{}');
    for (const ok of [empty, 'Qwen/Qwen2.5-0.5B', 'gpt2']) {
      const r = s.validateLaunch(hub(ok));
      if (!r.ok) expect(r.errors.filter((e) => e.field === 'model.name')).toEqual([]);
    }
    const plan = s.planAblation({
      variants: ['star'],
      datasets: ['addition'],
      seeds: [0, 1],
      preset: 'tiny',
      overrides: { 'model.source': 'hub', 'model.name': missing },
    });
    expect(plan.ok).toBe(false);
    if (!plan.ok)
      expect(plan.errors).toEqual([
        expect.objectContaining({ field: 'model.name', message: expect.stringMatching(/seed 0: .*does not exist/) }),
        expect.objectContaining({ field: 'model.name' }),
      ]);
    s.close();
  });

  it('checks the interpreter new runs use', async () => {
    const s = createService({ dataDir: tempDir(), watch: false, pythonPath: FAKE_PYTHON });
    const ok = await s.checkPython();
    expect(ok).toMatchObject({ ok: true, python: FAKE_PYTHON });
    // a missing interpreter is refused before it is saved: new runs keep the working one
    const refused = await s.setPythonPath('/nonexistent/python3');
    expect(refused).toEqual({ ok: false, errors: [{ field: 'pythonPath', message: 'no such file: /nonexistent/python3' }] });
    expect(await s.checkPython()).toMatchObject({ ok: true, python: FAKE_PYTHON });
    s.close();
  });

  it('checks the path typed in Settings, not the saved one (issue 17)', async () => {
    const s = createService({ dataDir: tempDir(), watch: false, pythonPath: FAKE_PYTHON });
    // a bogus typed path is reported as such, even though the saved interpreter works
    expect(await s.checkPython('/nonexistent/python3')).toEqual({
      ok: false,
      python: '/nonexistent/python3',
      message: 'no such file: /nonexistent/python3',
    });
    expect(await s.checkPython('  ')).toMatchObject({ ok: true, python: FAKE_PYTHON }); // blank: the saved one
    expect(await s.checkPython(FAKE_PYTHON)).toMatchObject({ ok: true, python: FAKE_PYTHON });
    s.close();
  });
});
