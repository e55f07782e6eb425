/** The GUI's data commands: backup, bundle export/import into another data directory, python check. */
import { existsSync } from 'node:fs';
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

  it('checks the interpreter new runs use', async () => {
    const s = createService({ dataDir: tempDir(), watch: false, pythonPath: FAKE_PYTHON });
    const ok = await s.checkPython();
    expect(ok).toMatchObject({ ok: true, python: FAKE_PYTHON });
    await s.setPythonPath('/nonexistent/python3');
    const bad = await s.checkPython();
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.message).toContain('/nonexistent/python3');
    s.close();
  });
});
