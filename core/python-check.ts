/**
 * The interpreter preflight: before a run starts, ask the configured Python for its version
 * and whether it can import what the experiments need, so a missing or wrong interpreter is
 * refused with a message naming it and what to install, instead of a run failing later with
 * a traceback. The check runs `<python> -c <script>` (an argument array, never a shell
 * string) with a timeout. Importing torch takes seconds, so a success is cached per
 * interpreter file (path, resolved path, mtime, size); a failure is re-checked after a few
 * seconds, so fixing the install is noticed without restarting.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { experimentsDir } from './paths';

export const MIN_PYTHON: readonly [number, number] = [3, 10];
/** What `python -m starlab run` imports (experiments/requirements.txt). */
export const REQUIRED_MODULES = ['torch', 'transformers', 'peft'] as const;
export const DEFAULT_CHECK_TIMEOUT_MS = 120_000;
/** A failed check is answered from the cache for this long (a queue of runs asks at once). */
const FAILURE_TTL_MS = 5_000;
const HOW_TO_SET = 'set it in Settings or $STARLAB_PYTHON';

/** Prints one JSON line; never raises, so every answer is parseable. */
export const CHECK_SCRIPT = [
  'import sys, json, importlib',
  'out = {"starlab_check": 1, "version": list(sys.version_info[:3]), "executable": sys.executable, "modules": {}, "errors": {}}',
  `for name in ${JSON.stringify(REQUIRED_MODULES)}:`,
  '    try:',
  '        m = importlib.import_module(name)',
  '        out["modules"][name] = str(getattr(m, "__version__", "?"))',
  '    except BaseException as e:',
  '        out["modules"][name] = None',
  '        out["errors"][name] = (type(e).__name__ + ": " + str(e))[:300]',
  'print(json.dumps(out))',
].join('\n');

export type PythonCheck =
  | { ok: true; python: string; executable: string; version: string; modules: Record<string, string> }
  | { ok: false; python: string; message: string };

export interface CheckOptions {
  /** experiments/requirements.txt, named in the install hint. */
  requirements: string;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

interface CacheEntry {
  key: string;
  at: number;
  result: PythonCheck;
}
const cache = new Map<string, CacheEntry>();
const inflight = new Map<string, Promise<PythonCheck>>();

export function clearPythonCheckCache(): void {
  cache.clear();
}

/**
 * The interpreter file: the path itself, or the first executable match on PATH for a bare name.
 * On Windows a name without extension is also tried with each of PATHEXT's (python → python.exe).
 */
export function locateInterpreter(
  python: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string | null {
  const executable = (f: string) => {
    try {
      if (!statSync(f).isFile()) return false;
      if (platform !== 'win32') accessSync(f, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  // (lower case: Windows file names ignore case)
  const exts =
    platform === 'win32' && !/\.[^\\/.]+$/.test(python)
      ? ['', ...(env.PATHEXT ?? '.COM;.EXE;.BAT;.CMD').toLowerCase().split(';').filter(Boolean)]
      : [''];
  const first = (base: string): string | null => exts.map((e) => base + e).find(executable) ?? null;
  if (isAbsolute(python) || python.includes('/') || python.includes('\\')) return first(python);
  for (const dir of (env.PATH ?? '').split(platform === 'win32' ? ';' : delimiter)) {
    const hit = dir ? first(join(dir, python)) : null;
    if (hit) return hit;
  }
  return null;
}

/**
 * Why `python` cannot be saved as the interpreter setting, or null when it may be checked: every
 * launch runs the setting, so it must be an absolute path to an existing regular file that
 * this user may execute. A symbolic link (a venv's bin/python) is judged by the file it
 * resolves to; the path itself is what gets saved (the venv needs it).
 */
export function interpreterPathProblem(python: string, platform: NodeJS.Platform = process.platform): string | null {
  if (!isAbsolute(python)) return `the interpreter must be an absolute path (such as /home/you/venv/bin/python), not "${python}"`;
  let st;
  try {
    st = statSync(python);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return `no such file: ${python}`;
    if (code === 'ELOOP') return `${python} is a loop of symbolic links`;
    return `cannot read ${python}: ${(e as Error).message}`;
  }
  if (!st.isFile()) return `${python} is not a regular file${st.isDirectory() ? ' (it is a directory)' : ''}`;
  if (platform !== 'win32') {
    try {
      accessSync(python, constants.X_OK);
    } catch {
      return `${python} is not executable by this user`;
    }
  }
  return null;
}

/** Identity of the interpreter file: a replaced or upgraded interpreter invalidates the cache. */
function fileKey(file: string): string {
  const real = realpathSync(file);
  const st = statSync(real);
  return `${file}\0${real}\0${st.mtimeMs}\0${st.size}`;
}

function notFound(python: string): PythonCheck {
  const where = isAbsolute(python) || python.includes('/') ? 'no such executable file' : 'not found on PATH';
  return { ok: false, python, message: `Python interpreter not found: ${python} (${where}; ${HOW_TO_SET})` };
}

/**
 * The cached answer for this interpreter, if one is current (synchronous: the queue's
 * scheduler asks on every tick). undefined: not checked yet, call checkPython.
 */
export function cachedPythonCheck(python: string, env: NodeJS.ProcessEnv = process.env): PythonCheck | undefined {
  const file = locateInterpreter(python, env);
  if (!file) return notFound(python);
  const e = cache.get(python);
  if (!e) return undefined;
  let key: string;
  try {
    key = fileKey(file);
  } catch {
    return undefined;
  }
  if (e.key !== key) return undefined;
  if (!e.result.ok && Date.now() - e.at > FAILURE_TTL_MS) return undefined;
  return e.result;
}

/** Check an interpreter (answered from the cache when current; concurrent calls share one check). */
export function checkPython(python: string, opts: CheckOptions): Promise<PythonCheck> {
  const env = opts.env ?? process.env;
  const hit = cachedPythonCheck(python, env);
  if (hit) return Promise.resolve(hit);
  const running = inflight.get(python);
  if (running) return running;
  const p = runCheck(python, opts, env).finally(() => inflight.delete(python));
  inflight.set(python, p);
  return p;
}

async function runCheck(python: string, opts: CheckOptions, env: NodeJS.ProcessEnv): Promise<PythonCheck> {
  const file = locateInterpreter(python, env);
  if (!file) return notFound(python);
  let key: string;
  try {
    key = fileKey(file);
  } catch {
    return notFound(python);
  }
  const result = await askInterpreter(python, opts, env);
  cache.set(python, { key, at: Date.now(), result });
  return result;
}

function askInterpreter(python: string, opts: CheckOptions, env: NodeJS.ProcessEnv): Promise<PythonCheck> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  return new Promise((resolve) => {
    execFile(
      python,
      ['-c', CHECK_SCRIPT],
      // cwd: `-c` puts the working directory first on sys.path, so it is the experiments
      // directory (this installation's code), never wherever the app was started from
      { cwd: experimentsDir(), timeout: timeoutMs, killSignal: 'SIGKILL', env, maxBuffer: 1024 * 1024, windowsHide: true },
      (err, stdout, stderr) => {
        const line = String(stdout)
          .split('\n')
          .find((l) => l.startsWith('{"starlab_check"'));
        if (!line) {
          const e = err as (NodeJS.ErrnoException & { killed?: boolean }) | null;
          const why = e?.killed
            ? `did not answer within ${Math.round(timeoutMs / 1000)} s`
            : e?.code === 'EACCES' || e?.code === 'ENOENT'
              ? `cannot be executed (${e.code})`
              : `did not answer the version check${tail(String(stderr)) ? `: ${tail(String(stderr))}` : e ? `: ${e.message}` : ''}`;
          return resolve({ ok: false, python, message: `Python interpreter ${python} ${why} (${HOW_TO_SET})` });
        }
        resolve(judge(python, JSON.parse(line) as Answer, opts.requirements));
      },
    );
  });
}

interface Answer {
  version: number[];
  executable: string;
  modules: Record<string, string | null>;
  errors: Record<string, string>;
}

/** Turn the script's answer into a verdict with an actionable message. */
export function judge(python: string, a: Answer, requirements: string): PythonCheck {
  const version = a.version.join('.');
  const [major = 0, minor = 0] = a.version;
  if (major < MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor < MIN_PYTHON[1]))
    return {
      ok: false,
      python,
      message: `Python interpreter ${python} is ${version}; STaR Lab needs Python >= ${MIN_PYTHON.join('.')} (${HOW_TO_SET})`,
    };
  const missing = REQUIRED_MODULES.filter((m) => !a.modules[m]);
  if (missing.length) {
    const why = missing.map((m) => a.errors[m] ?? `${m} is missing`).join('; ');
    return {
      ok: false,
      python,
      message:
        `Python interpreter ${python} (${version}) cannot import ${missing.join(', ')} (${why}): ` +
        `install the experiment requirements: ${python} -m pip install -r ${requirements}`,
    };
  }
  const modules: Record<string, string> = {};
  for (const m of REQUIRED_MODULES) modules[m] = a.modules[m]!;
  return { ok: true, python, executable: a.executable, version, modules };
}

function tail(s: string): string {
  const lines = s.trim().split('\n').filter(Boolean);
  return lines.slice(-2).join(' | ').slice(0, 400);
}
