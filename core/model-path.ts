/**
 * A hub model (`model.source: 'hub'`) named by a local path, checked before launch: the runner
 * (experiments/starlab/models.py load_hub) passes `model.name` to transformers'
 * from_pretrained, which loads a local folder when one exists there and otherwise asks the hub;
 * a path that is not a model folder fails only after the run has started (about 18 s in, once
 * Python and torch are up). Hub ids look like "org/name" (a slash alone is not a path); a name
 * is taken as a local path when it is absolute or starts with ./ ../ or ~/.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';

/** Whether a model name is meant as a local path rather than a hub id. */
export function looksLikeLocalPath(name: string): boolean {
  return isAbsolute(name) || /^(~|\.{1,2})([/\\]|$)/.test(name);
}

/** A folder holding config.json (what from_pretrained loads from a path), or why not; null when fine. */
function folderProblem(path: string): string | null {
  let st;
  try {
    st = statSync(path, { throwIfNoEntry: false });
  } catch (e) {
    return `the local model path ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}); check its permissions`;
  }
  if (!st)
    return `the local model path ${path} does not exist; give the folder holding the model (config.json and the weights) or a hub id such as "org/name"`;
  if (!st.isDirectory())
    return `the local model path ${path} is a file, not a folder; give the folder holding the model's config.json and weights`;
  if (!existsSync(join(path, 'config.json')))
    return `the local model folder ${path} has no config.json, so it is not a Hugging Face model folder; give the folder that holds config.json and the weights`;
  return null;
}

/**
 * Why a hub model name that is a local path cannot be loaded by a run, or null (a hub id, or a
 * model folder). Relative and ~ paths are refused: the run's working directory is not where
 * the app was started (core/supervisor.ts), and the loader does not expand ~; the message
 * suggests the absolute path when that is a model folder.
 */
export function localModelProblem(name: string): string | null {
  if (!looksLikeLocalPath(name)) return null;
  if (isAbsolute(name)) return folderProblem(name);
  const home = /^~([/\\]|$)/.test(name);
  const abs = home ? join(homedir(), name.slice(1)) : resolve(name);
  const hint = folderProblem(abs) === null ? ` (here that is ${abs})` : '';
  return home
    ? `"${name}" starts with ~, which the model loader does not expand: give the absolute path of the model folder${hint}`
    : `"${name}" is a relative path, which the run would not look up where you expect (it does not run in this folder): give the absolute path of the model folder${hint}`;
}
