/** The interpreter preflight against real processes: scripts standing in for Python, and /usr/bin/python3 when present. */
import { chmodSync, existsSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { cachedPythonCheck, checkPython, clearPythonCheckCache, locateInterpreter } from '../../core/python-check';
import { cleanupTempDirs, FAKE_PYTHON, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);
beforeEach(() => clearPythonCheckCache());

const REQ = '/repo/experiments/requirements.txt';

/** An executable script that answers the check with this JSON (and counts its calls). */
function script(body: string): { path: string; calls: () => number } {
  const dir = tempDir();
  const path = join(dir, 'python3');
  const counter = join(dir, 'calls');
  writeFileSync(path, `#!/bin/sh\necho x >> "${counter}"\n${body}\n`);
  chmodSync(path, 0o755);
  return { path, calls: () => (existsSync(counter) ? readFileSync(counter, 'utf8').split('\n').length - 1 : 0) };
}
const answer = (version: number[], modules: Record<string, string | null>, errors: Record<string, string> = {}) =>
  `echo '${JSON.stringify({ starlab_check: 1, version, executable: '/x/python3', modules, errors })}'`;
const ALL = { torch: '2.5.1', transformers: '5.0.0', peft: '0.17.0' };

describe('checkPython', () => {
  it('accepts 3.10+ with torch, transformers and peft, and caches the answer per interpreter file', async () => {
    const py = script(answer([3, 10, 4], ALL));
    const r = await checkPython(py.path, { requirements: REQ });
    expect(r).toEqual({ ok: true, python: py.path, executable: '/x/python3', version: '3.10.4', modules: ALL });
    expect(await checkPython(py.path, { requirements: REQ })).toEqual(r);
    expect(py.calls()).toBe(1);
    // a changed interpreter file (upgrade, reinstall) is checked again
    utimesSync(py.path, new Date(), new Date(Date.now() + 5000));
    expect(cachedPythonCheck(py.path)).toBeUndefined();
    await checkPython(py.path, { requirements: REQ });
    expect(py.calls()).toBe(2);
  });

  it('shares one check between concurrent callers', async () => {
    const py = script(`sleep 0.2\n${answer([3, 12, 0], ALL)}`);
    const rs = await Promise.all([1, 2, 3, 4].map(() => checkPython(py.path, { requirements: REQ })));
    expect(rs.every((r) => r.ok)).toBe(true);
    expect(py.calls()).toBe(1);
  });

  it('refuses Python 3.9 naming the interpreter and how to set another', async () => {
    const py = script(answer([3, 9, 2], ALL));
    expect(await checkPython(py.path, { requirements: REQ })).toEqual({
      ok: false,
      python: py.path,
      message: `Python interpreter ${py.path} is 3.9.2; STaR Lab needs Python >= 3.10 (set it in Settings or $STARLAB_PYTHON)`,
    });
  });

  it('names every module it cannot import and the pip command', async () => {
    const py = script(
      answer(
        [3, 11, 1],
        { torch: null, transformers: '5.0.0', peft: null },
        { torch: 'ModuleNotFoundError: No module named torch', peft: 'ImportError: boom' },
      ),
    );
    const r = await checkPython(py.path, { requirements: REQ });
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.message).toBe(
        `Python interpreter ${py.path} (3.11.1) cannot import torch, peft (ModuleNotFoundError: No module named torch; ImportError: boom): ` +
          `install the experiment requirements: ${py.path} -m pip install -r ${REQ}`,
      );
  });

  it('reports a missing interpreter, a non-Python program and a hung one', async () => {
    const dir = tempDir();
    expect(await checkPython(join(dir, 'nope'), { requirements: REQ })).toMatchObject({
      ok: false,
      message: `Python interpreter not found: ${join(dir, 'nope')} (no such executable file; set it in Settings or $STARLAB_PYTHON)`,
    });
    expect(await checkPython('no-such-python-xyz', { requirements: REQ, env: { PATH: dir } })).toMatchObject({
      ok: false,
      message: 'Python interpreter not found: no-such-python-xyz (not found on PATH; set it in Settings or $STARLAB_PYTHON)',
    });
    const notPy = script('echo "usage: not python" >&2; exit 2');
    expect(await checkPython(notPy.path, { requirements: REQ })).toMatchObject({
      ok: false,
      message: `Python interpreter ${notPy.path} did not answer the version check: usage: not python (set it in Settings or $STARLAB_PYTHON)`,
    });
    const hung = script('exec sleep 30');
    expect(await checkPython(hung.path, { requirements: REQ, timeoutMs: 300 })).toMatchObject({
      ok: false,
      message: `Python interpreter ${hung.path} did not answer within 0 s (set it in Settings or $STARLAB_PYTHON)`,
    });
  });

  it('finds a bare name on PATH', () => {
    const py = script('true');
    expect(locateInterpreter('python3', { PATH: `/nonexistent:${join(py.path, '..')}` })).toBe(py.path);
  });

  it('is answered by tests/fixtures/fake-python, as configured by its environment', async () => {
    const env = { ...process.env, STARLAB_FAKE_PY_MISSING: 'transformers' };
    const r = await checkPython(FAKE_PYTHON, { requirements: REQ, env });
    expect(r).toMatchObject({
      ok: false,
      message: expect.stringContaining("cannot import transformers (ModuleNotFoundError: No module named 'transformers')"),
    });
  });

  it.runIf(existsSync('/usr/bin/python3'))('runs the real check script on /usr/bin/python3', async () => {
    const r = await checkPython('/usr/bin/python3', { requirements: REQ });
    // whatever is installed there, the answer is a verdict naming the interpreter, never a crash
    if (r.ok) expect(r.version).toMatch(/^3\.\d+\.\d+$/);
    else expect(r.message).toMatch(/^Python interpreter \/usr\/bin\/python3 /);
  });
});

describe('locateInterpreter on Windows', () => {
  it('finds python as python.exe through PATHEXT, with ; between PATH entries', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'python.exe'), ''); // Windows has no execute bit to check
    expect(locateInterpreter('python', { PATH: `C:\\nowhere;${dir}`, PATHEXT: '.COM;.EXE;.BAT' }, 'win32')).toBe(join(dir, 'python.exe'));
    expect(locateInterpreter(join(dir, 'python'), { PATHEXT: '.EXE' }, 'win32')).toBe(join(dir, 'python.exe'));
    expect(locateInterpreter('python', { PATH: dir }, 'linux')).toBeNull();
  });
});
