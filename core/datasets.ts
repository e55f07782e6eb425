/**
 * Importing a user's dataset files: the Python loader validates every line (errors name the
 * file, line and field or column) and copies the files into <data dir>/datasets/<dataset>/,
 * where runs launched by this app look first after an explicit task.path (STARLAB_DATA_DIR is
 * set for them). A .csv/.tsv file (header row; columns in experiments/README.md) is converted
 * to the canonical JSONL file of DATASET_FILES, so runs only ever read JSONL.
 */
import { statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { ImportResult } from '../shared/contract';
import { runPythonTool } from './python-tool';

export interface ImportSpec {
  dataset: 'gsm8k' | 'commonsenseqa';
  train: string;
  eval: string;
}

export async function importDataset(python: string, root: string, dest: string, spec: ImportSpec): Promise<ImportResult> {
  const args = [
    'import-data',
    '--dataset',
    spec.dataset,
    '--train',
    resolve(spec.train),
    '--eval',
    resolve(spec.eval),
    '--dest',
    resolve(dest),
  ];
  const r = await runPythonTool(python, root, args);
  if (r.error !== null) return { ok: false, message: r.error };
  const j = r.json as { dir?: string; splits?: Record<string, { rows: number; converted_from?: string }> } | null;
  if (!j?.dir || !j.splits) return { ok: false, message: `unexpected output from the importer: ${r.stdout.slice(0, 500)}` };
  const rows = Object.fromEntries(Object.entries(j.splits).map(([k, v]) => [k, v.rows]));
  const parts = Object.entries(j.splits).map(
    ([k, v]) => `${k}: ${v.rows} rows` + (v.converted_from ? `, converted from ${v.converted_from}` : ''),
  );
  return { ok: true, dir: j.dir, rows, message: `imported ${spec.dataset} into ${j.dir} (${parts.join('; ')})` };
}

/**
 * The JSONL files of each split, in the order the Python loader tries them (tasks/gsm8k.py,
 * tasks/commonsenseqa.py); an imported CSV/TSV file is written under the first name.
 */
export const DATASET_FILES: Record<ImportSpec['dataset'], Record<'train' | 'eval', string[]>> = {
  gsm8k: { train: ['train.jsonl'], eval: ['test.jsonl'] },
  commonsenseqa: { train: ['train_rand_split.jsonl', 'train.jsonl'], eval: ['dev_rand_split.jsonl', 'validation.jsonl', 'dev.jsonl'] },
};

/**
 * Where a run would find a dataset's files: task.path (the folder or its parent), else
 * $STARLAB_DATASETS_DIR/<name>, <data dir>/datasets/<name>, the user cache — the search order of
 * experiments/starlab/tasks/data_files.py. `dir` is null when no folder holds every split
 * (the run would then try the hub, which needs a network and pyarrow).
 */
export function locateDataset(
  name: string,
  opts: { taskPath?: string; dataDir: string; env?: NodeJS.ProcessEnv },
): { dir: string | null; searched: string[]; partial: string | null } {
  const files = DATASET_FILES[name as ImportSpec['dataset']];
  if (!files) return { dir: null, searched: [], partial: null };
  const env = opts.env ?? process.env;
  const dirs: string[] = [];
  if (opts.taskPath) {
    const p = opts.taskPath.startsWith('~') ? join(homedir(), opts.taskPath.slice(1)) : opts.taskPath;
    dirs.push(p, join(p, name));
  } else {
    if (env['STARLAB_DATASETS_DIR']) dirs.push(join(env['STARLAB_DATASETS_DIR'], name));
    dirs.push(join(opts.dataDir, 'datasets', name));
    dirs.push(join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'starlab', 'datasets', name));
  }
  const isFile = (p: string) => {
    try {
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  const splitsIn = (d: string) => Object.values(files).filter((names) => names.some((n) => isFile(join(d, n)))).length;
  const nSplits = Object.keys(files).length;
  // the loader stops at the first folder holding any of the files, and refuses it if some split is missing
  for (const d of dirs) {
    const n = splitsIn(d);
    if (n === nSplits) return { dir: d, searched: dirs, partial: null };
    if (n > 0) return { dir: null, searched: dirs, partial: d };
  }
  return { dir: null, searched: dirs, partial: null };
}
