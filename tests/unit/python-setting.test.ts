/**
 * The interpreter setting is run by every launch, so setPythonPath vets it before saving:
 * an absolute path to an executable regular file (a venv's symlink judged by its target)
 * that passes the Python preflight. A refusal saves nothing.
 */
import { chmodSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../core/service';
import { clearPythonCheckCache } from '../../core/python-check';
import { getSetting } from '../../db/queries';
import { cleanupTempDirs, FAKE_PYTHON, REPO, tempDir } from '../fixtures/helpers';

const open: Service[] = [];
const saved = { ...process.env };
function service(): Service {
  // no host option: the default is $STARLAB_PYTHON, the venv or python3 on PATH
  const s = createService({ dataDir: tempDir(), watch: false });
  open.push(s);
  return s;
}
beforeEach(() => clearPythonCheckCache());
afterEach(() => {
  for (const s of open.splice(0)) s.close();
  for (const k of ['STARLAB_FAKE_PY_VERSION', 'STARLAB_FAKE_PY_MISSING']) {
    if (saved[k] === undefined) delete process.env[k];
    else process.env[k] = saved[k];
  }
  clearPythonCheckCache();
});
afterAll(cleanupTempDirs);

/** setPythonPath must refuse `path` with a pythonPath field error matching `why`, and save nothing. */
async function refused(s: Service, path: string, why: RegExp | string): Promise<void> {
  const before = s.getSettings().pythonPath;
  const r = await s.setPythonPath(path);
  expect(r).toEqual({ ok: false, errors: [{ field: 'pythonPath', message: typeof why === 'string' ? why : expect.stringMatching(why) }] });
  expect(s.getSettings().pythonPath).toBe(before);
  expect(getSetting(s.db, 'pythonPath')).toBeUndefined();
}

describe('setPythonPath', () => {
  it('refuses a file that is not executable, and the setting is unchanged', async () => {
    const dir = tempDir();
    const file = join(dir, 'not-executable');
    writeFileSync(file, '#!/bin/sh\necho hi\n');
    chmodSync(file, 0o644);
    await refused(service(), file, `${file} is not executable by this user`);
  });

  it('refuses relative paths, bare names, missing files and directories', async () => {
    const s = service();
    const dir = tempDir();
    await refused(s, 'python3', 'the interpreter must be an absolute path (such as /home/you/venv/bin/python), not "python3"');
    await refused(s, 'venv/bin/python', /must be an absolute path/);
    await refused(s, join(dir, 'missing'), `no such file: ${join(dir, 'missing')}`);
    await refused(s, join(dir, 'missing', 'python'), `no such file: ${join(dir, 'missing', 'python')}`);
    await refused(s, dir, `${dir} is not a regular file (it is a directory)`);
  });

  it('judges a symlink by its target: dangling and non-executable targets are refused', async () => {
    const dir = tempDir();
    symlinkSync(join(dir, 'gone'), join(dir, 'dangling'));
    const plain = join(dir, 'plain');
    writeFileSync(plain, 'not a program');
    chmodSync(plain, 0o644);
    symlinkSync(plain, join(dir, 'to-plain'));
    symlinkSync(dir, join(dir, 'to-dir'));
    const s = service();
    await refused(s, join(dir, 'dangling'), `no such file: ${join(dir, 'dangling')}`);
    await refused(s, join(dir, 'to-plain'), /is not executable by this user/);
    await refused(s, join(dir, 'to-dir'), /is not a regular file/);
  });

  it('refuses an executable that is not a Python with torch, and saves nothing', async () => {
    const dir = tempDir();
    const marker = join(dir, 'ran-as-a-run');
    const script = join(dir, 'not-python');
    // answers the preflight with nothing; were it saved, a launch would run it
    writeFileSync(script, `#!/bin/sh\n[ "$1" = "-c" ] && exit 0\ntouch '${marker}'\n`);
    chmodSync(script, 0o755);
    const s = service();
    await refused(s, script, new RegExp(`^Python interpreter ${script} did not answer the version check`));
    expect(existsSync(marker)).toBe(false);
  });

  it('refuses an interpreter the preflight rejects (torch missing, too old) with the check message', async () => {
    const s = service();
    process.env.STARLAB_FAKE_PY_MISSING = 'torch';
    await refused(
      s,
      FAKE_PYTHON,
      `Python interpreter ${FAKE_PYTHON} (3.11.0) cannot import torch (ModuleNotFoundError: No module named 'torch'): ` +
        `install the experiment requirements: ${FAKE_PYTHON} -m pip install -r ${join(REPO, 'experiments', 'requirements.txt')}`,
    );
    delete process.env.STARLAB_FAKE_PY_MISSING;
    process.env.STARLAB_FAKE_PY_VERSION = '3.9.2';
    clearPythonCheckCache();
    await refused(s, FAKE_PYTHON, /is 3\.9\.2; STaR Lab needs Python >= 3\.10/);
  });

  it('saves an interpreter that passes, as given (a venv symlink is kept, not resolved); blank goes back to the default', async () => {
    const s = service();
    const fallback = s.getSettings().pythonPath;
    const r = await s.setPythonPath(`  ${FAKE_PYTHON} `);
    expect(r).toEqual({ ok: true, settings: expect.objectContaining({ pythonPath: FAKE_PYTHON }) });
    expect(getSetting(s.db, 'pythonPath')).toBe(FAKE_PYTHON);

    // venv/bin/python → the base interpreter (here a wrapper: fake-python finds its script next to $0)
    const root = tempDir();
    const base = join(root, 'base-python');
    writeFileSync(base, `#!/bin/sh\nexec '${FAKE_PYTHON}' "$@"\n`);
    chmodSync(base, 0o755);
    const venvBin = join(root, 'venv', 'bin');
    mkdirSync(venvBin, { recursive: true });
    symlinkSync(base, join(venvBin, 'python'));
    expect(await s.setPythonPath(join(venvBin, 'python'))).toMatchObject({ ok: true, settings: { pythonPath: join(venvBin, 'python') } });
    expect(s.getSettings().pythonPath).toBe(join(venvBin, 'python'));

    expect(await s.setPythonPath('   ')).toMatchObject({ ok: true, settings: { pythonPath: fallback } });
    expect(getSetting(s.db, 'pythonPath')).toBe('');
    expect(s.getSettings().pythonPath).toBe(fallback);
  });
});
