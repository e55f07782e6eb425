/**
 * Running one of the experiments package's own tools (`python -m starlab <tool> …`: import-data,
 * export-verifier, rerank) and reading its JSON answer. The working directory is experiments/:
 * `python -m` imports from it first, and only this installation's code is there (never a run
 * directory, whose files may come from someone else's bundle).
 */
import { execFile } from 'node:child_process';
import { delimiter } from 'node:path';
import { experimentsDir } from './paths';

export interface ToolAnswer {
  /** The JSON object on the last line of stdout (success) or stderr (a refusal), or null. */
  json: Record<string, unknown> | null;
  /** What went wrong, in one sentence, when the tool did not exit 0. */
  error: string | null;
  stdout: string;
}

const lastJsonLine = (text: string): Record<string, unknown> | null => {
  try {
    const v: unknown = JSON.parse(text.trim().split('\n').pop() ?? '');
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
};

/** Run `python -m starlab ...args` from experiments/; `timeoutMs` 0 waits as long as it takes. */
export function runPythonTool(
  python: string,
  root: string,
  args: string[],
  o: { timeoutMs?: number; maxBuffer?: number } = {},
): Promise<ToolAnswer> {
  const cwd = experimentsDir(root);
  const env = { ...process.env, PYTHONPATH: [cwd, process.env.PYTHONPATH].filter(Boolean).join(delimiter) };
  return new Promise((resolve) => {
    execFile(
      python,
      ['-m', 'starlab', ...args],
      { cwd, env, timeout: o.timeoutMs ?? 300_000, maxBuffer: o.maxBuffer ?? 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve({ json: lastJsonLine(stdout), error: null, stdout });
        const refusal = lastJsonLine(stderr);
        const error = typeof refusal?.error === 'string' ? refusal.error : (stderr.trim() || err.message).slice(-2000);
        resolve({ json: refusal, error, stdout });
      },
    );
  });
}
