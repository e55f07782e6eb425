import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { databasePath, defaultDataDir, experimentsDir, repoRoot, resolveDataDir, resolvePython, venvPython } from '../../core/paths';
import { isAlive, isSameProcess, pidStartTime, readProcStat } from '../../core/process-info';
import { newRunId, configHash } from '../../core/run-files';
import { REPO } from '../fixtures/helpers';

describe('paths', () => {
  it('resolves the data dir from the flag, STARLAB_DATA_DIR, then the platform default', () => {
    expect(resolveDataDir('rel/dir', {})).toBe(resolve('rel/dir'));
    expect(resolveDataDir(undefined, { STARLAB_DATA_DIR: '/d/x' })).toBe('/d/x');
    expect(resolveDataDir('/flag', { STARLAB_DATA_DIR: '/d/x' })).toBe('/flag');
    expect(defaultDataDir({ XDG_DATA_HOME: '/xdg' }, 'linux')).toBe('/xdg/starlab');
    expect(defaultDataDir({}, 'linux')).toBe(join(homedir(), '.local', 'share', 'starlab'));
    expect(defaultDataDir({}, 'darwin')).toBe(join(homedir(), 'Library', 'Application Support', 'STaR Lab'));
    expect(defaultDataDir({ APPDATA: 'C:\\Users\\u\\AppData\\Roaming' }, 'win32')).toContain('STaR Lab');
    expect(databasePath('/d')).toBe(join('/d', 'starlab.db'));
  });

  it('finds the repository root', () => {
    expect(repoRoot()).toBe(REPO);
  });

  it('resolves the Python interpreter: setting, option, STARLAB_PYTHON, venv, python3', () => {
    expect(resolvePython({ setting: '/s/py', option: '/o/py', env: { STARLAB_PYTHON: '/e/py' } }).python).toBe('/s/py');
    expect(resolvePython({ option: '/o/py', env: { STARLAB_PYTHON: '/e/py' } }).python).toBe('/o/py');
    expect(resolvePython({ env: { STARLAB_PYTHON: '/e/py' } }).python).toBe('/e/py');
    const none = resolvePython({ env: {}, root: '/nonexistent-root' });
    expect(none).toEqual({ python: 'python3', source: 'path' });
    expect(venvPython('/r', 'linux')).toBe('/r/experiments/.venv/bin/python');
    expect(venvPython('/r', 'win32')).toContain(join('.venv', 'Scripts', 'python.exe'));
  });
});

describe('process info and ids', () => {
  it('reads pid start times and liveness', () => {
    if (process.platform === 'linux') {
      const st = readProcStat(process.pid)!;
      expect(st.startTime).toBeGreaterThan(0);
      expect(st.ppid).toBe(process.ppid);
      expect(pidStartTime(process.pid)).toBe(st.startTime);
      expect(isSameProcess(process.pid, st.startTime + 1)).toBe(false);
    }
    expect(isAlive(process.pid)).toBe(true);
    expect(isSameProcess(process.pid, pidStartTime(process.pid))).toBe(true);
    expect(isAlive(2 ** 22 + 12345)).toBe(false);
    expect(isSameProcess(null, null)).toBe(false);
  });

  it('makes sortable run ids and stable config hashes', () => {
    const a = newRunId(new Date(Date.UTC(2026, 10, 26, 7, 5, 12)));
    expect(a).toMatch(/^20261126-070512-[0-9a-f]{4}$/);
    expect(newRunId(new Date(Date.UTC(2027, 0, 1))) > a).toBe(true);
    expect(configHash({ b: 1, a: { d: [1, 2], c: null } })).toBe(configHash({ a: { c: null, d: [1, 2] }, b: 1 }));
    expect(configHash({ a: 1 })).not.toBe(configHash({ a: 2 }));
  });
});

describe('experimentsDir', () => {
  it('is beside app.asar in the packaged app (extraResources), inside the checkout otherwise', () => {
    expect(experimentsDir('/opt/STaR Lab/resources/app.asar')).toBe('/opt/STaR Lab/resources/experiments');
    expect(experimentsDir('/home/me/starlab')).toBe('/home/me/starlab/experiments');
  });
});
