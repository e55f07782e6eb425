/** Where things are: the data directory, the database, the repository, the Python interpreter. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const APP_DIR_NAME = 'STaR Lab';

/** The platform's per-user application data directory for STaR Lab. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  const home = homedir();
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', APP_DIR_NAME);
  if (platform === 'win32') return join(env.APPDATA || join(home, 'AppData', 'Roaming'), APP_DIR_NAME);
  const xdg = env.XDG_DATA_HOME && env.XDG_DATA_HOME.startsWith('/') ? env.XDG_DATA_HOME : join(home, '.local', 'share');
  return join(xdg, 'starlab');
}

/** --data-dir, else STARLAB_DATA_DIR, else the platform default. */
export function resolveDataDir(flag?: string | null, env: NodeJS.ProcessEnv = process.env): string {
  if (flag) return resolve(flag);
  if (env.STARLAB_DATA_DIR) return resolve(env.STARLAB_DATA_DIR);
  return defaultDataDir(env);
}

export function databasePath(dataDir: string): string {
  return join(dataDir, 'starlab.db');
}

export function runsDir(dataDir: string): string {
  return join(dataDir, 'runs');
}

/** What a run id (a directory name under runs/) may be: these characters, never "." or "..". */
export const RUN_ID_RE = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,200}$/;

function isRepoRoot(dir: string): boolean {
  const pj = join(dir, 'package.json');
  if (!existsSync(pj)) return false;
  try {
    return (JSON.parse(readFileSync(pj, 'utf8')) as { name?: string }).name === 'starlab';
  } catch {
    return false;
  }
}

function walkUp(start: string): string | null {
  let dir = resolve(start);
  for (;;) {
    if (isRepoRoot(dir)) return dir;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

let cachedRoot: string | undefined;

/**
 * The repository (or installed app) root: the nearest directory above this module with a
 * package.json named "starlab". Works from source (core/) and from the bundle (out/main/).
 * STARLAB_ROOT overrides.
 */
export function repoRoot(): string {
  if (cachedRoot) return cachedRoot;
  const here = moduleDir();
  cachedRoot =
    (process.env.STARLAB_ROOT && resolve(process.env.STARLAB_ROOT)) ||
    (here && walkUp(here)) ||
    walkUp(process.cwd()) ||
    resolve(here ?? process.cwd(), '..');
  return cachedRoot;
}

function moduleDir(): string | null {
  try {
    return dirname(fileURLToPath(import.meta.url));
  } catch {
    return typeof __dirname === 'string' ? __dirname : null;
  }
}

export function experimentsDir(root = repoRoot()): string {
  // In the packaged app the root is resources/app.asar; the Python package is unpacked
  // beside it (extraResources: resources/experiments), where the interpreter can read it.
  if (basename(root) === 'app.asar') return join(dirname(root), 'experiments');
  return join(root, 'experiments');
}

/** The venv interpreter created by scripts/setup.sh, if present. */
export function venvPython(root = repoRoot(), platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32'
    ? join(experimentsDir(root), '.venv', 'Scripts', 'python.exe')
    : join(experimentsDir(root), '.venv', 'bin', 'python');
}

export type PythonSource = 'option' | 'setting' | 'env' | 'venv' | 'path';

/**
 * The pythonPath setting, else the host's option, else STARLAB_PYTHON, else
 * experiments/.venv's interpreter, else python3 on PATH.
 */
export function resolvePython(opts: { option?: string | null; setting?: string | null; env?: NodeJS.ProcessEnv; root?: string } = {}): {
  python: string;
  source: PythonSource;
} {
  const env = opts.env ?? process.env;
  if (opts.setting) return { python: opts.setting, source: 'setting' };
  if (opts.option) return { python: opts.option, source: 'option' };
  if (env.STARLAB_PYTHON) return { python: env.STARLAB_PYTHON, source: 'env' };
  const venv = venvPython(opts.root ?? repoRoot());
  if (existsSync(venv)) return { python: venv, source: 'venv' };
  return { python: process.platform === 'win32' ? 'python' : 'python3', source: 'path' };
}
