/**
 * Importing a user's dataset files: the Python loader validates every line (errors name the
 * file and line) and copies the files into <data dir>/datasets/<dataset>/, where runs launched
 * by this app look first after an explicit task.path (STARLAB_DATA_DIR is set for them).
 */
import { execFile } from 'node:child_process';
import { delimiter } from 'node:path';
import type { ImportResult } from '../shared/contract';
import { experimentsDir } from './paths';

export interface ImportSpec {
  dataset: 'gsm8k' | 'commonsenseqa';
  train: string;
  eval: string;
}

export function importDataset(python: string, root: string, dest: string, spec: ImportSpec): Promise<ImportResult> {
  const args = ['-m', 'starlab', 'import-data', '--dataset', spec.dataset, '--train', spec.train, '--eval', spec.eval, '--dest', dest];
  const env = { ...process.env, PYTHONPATH: [experimentsDir(root), process.env.PYTHONPATH].filter(Boolean).join(delimiter) };
  return new Promise((resolve) => {
    execFile(python, args, { env, timeout: 300_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const parse = (text: string): Record<string, unknown> | null => {
        try {
          return JSON.parse(text.trim().split('\n').pop() ?? '') as Record<string, unknown>;
        } catch {
          return null;
        }
      };
      if (err) {
        const j = parse(stderr);
        const message = typeof j?.error === 'string' ? j.error : (stderr.trim() || err.message).slice(-2000);
        resolve({ ok: false, message });
        return;
      }
      const j = parse(stdout) as { dir?: string; splits?: Record<string, { rows: number }> } | null;
      if (!j?.dir || !j.splits) {
        resolve({ ok: false, message: `unexpected output from the importer: ${stdout.slice(0, 500)}` });
        return;
      }
      const rows = Object.fromEntries(Object.entries(j.splits).map(([k, v]) => [k, v.rows]));
      resolve({
        ok: true,
        dir: j.dir,
        rows,
        message: `imported ${spec.dataset} into ${j.dir} (${Object.entries(rows).map(([k, n]) => `${k}: ${n} rows`).join(', ')})`,
      });
    });
  });
}
