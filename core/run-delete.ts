/**
 * Deleting runs (the runs table's bulk action, `starlab delete`). The rows go first, in one
 * transaction per run, the samples set-wise as a resume drops them (db/outcomes.ts: a
 * per-row cascade through the outcome triggers would take minutes for a large run); then the
 * run directory moves to `<data>/trash/`, from where it can be brought back (move it into
 * `runs/` and `starlab reindex`) until someone empties that folder. A crash between the two
 * leaves the directory where a reindex finds it again: nothing is lost.
 */
import { lstatSync, mkdirSync, renameSync } from 'node:fs';
import { join, relative, sep, isAbsolute } from 'node:path';
import type { DB } from '../db/open';
import { getRunRow } from '../db/queries';
import { ACTIVE_STATUSES } from '../shared/contract';
import { dropIterationsAfter } from '../db/outcomes';
import { fsErrorMessage } from './fs-errors';
import { runsDir } from './paths';

export function trashDir(dataDir: string): string {
  return join(dataDir, 'trash');
}

export interface DeleteResult {
  ok: boolean;
  message: string;
  deleted: string[];
}

export function deleteRuns(db: DB, dataDir: string, ids: readonly string[]): DeleteResult {
  const refused: string[] = [];
  const kept: string[] = [];
  const deleted: string[] = [];
  for (const id of new Set(ids)) {
    const row = getRunRow(db, id);
    if (!row) {
      refused.push(`no run "${id}"`);
      continue;
    }
    // the status is read again under the write lock: a queue in another process may start it meanwhile
    const status = db
      .transaction(() => {
        const now = getRunRow(db, id)?.status;
        if (now === undefined || ACTIVE_STATUSES.includes(now)) return now ?? 'gone';
        dropIterationsAfter(db, id, -1);
        db.prepare('DELETE FROM runs WHERE id = ?').run(id);
        return null;
      })
      .immediate();
    if (status !== null) {
      refused.push(status === 'gone' ? `no run "${id}"` : `${id} is ${status}: stop it first`);
      continue;
    }
    deleted.push(id);
    const moved = moveToTrash(dataDir, row.run_dir, id);
    if (moved) kept.push(moved);
  }
  const parts = [`${deleted.length} run(s) deleted${deleted.length ? ` (their directories are in ${trashDir(dataDir)})` : ''}`];
  if (kept.length) parts.push(...kept);
  if (refused.length) parts.push(`not deleted: ${refused.join('; ')}`);
  return { ok: refused.length === 0 && kept.length === 0, message: parts.join('. '), deleted };
}

/** Move a run directory under `<data>/runs/` into the trash; a note when it stays where it is, else null. */
function moveToTrash(dataDir: string, runDir: string, id: string): string | null {
  const rel = relative(runsDir(dataDir), runDir);
  if (!rel || rel.startsWith('..') || isAbsolute(rel) || rel.includes(sep))
    return `${id}'s directory ${runDir} is outside ${runsDir(dataDir)}: left where it is`;
  try {
    if (!lstatSync(runDir).isDirectory()) return `${id}'s ${runDir} is not a directory: left where it is`;
  } catch {
    return null; // already gone
  }
  try {
    mkdirSync(trashDir(dataDir), { recursive: true });
    let target = join(trashDir(dataDir), id);
    for (let k = 1; exists(target); k++) target = join(trashDir(dataDir), `${id}.${k}`);
    renameSync(runDir, target);
    return null;
  } catch (e) {
    return `${id}'s directory stays in ${runsDir(dataDir)} (a reindex brings the run back): ${fsErrorMessage(e, { action: 'move it to the trash', path: runDir })}`;
  }
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
