/**
 * What people call and note about a run: its name, tags, notes and whether it is archived.
 * Kept in the run's row (runs.name, tags_json, notes, archived) and in its run.json under
 * `labels`, written first (the run directories are the source of truth: a reindex restores
 * them), atomically and never through a link (core/safe-write.ts).
 */
import { lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunLabelsPatch } from '../shared/contract';
import type { DB } from '../db/open';
import { getRunRow, type RunRow } from '../db/queries';
import { fsErrorMessage } from './fs-errors';
import { RUN_RECORD_FILE } from './run-record';
import { writeFileSafely } from './safe-write';

export interface RunLabels {
  name: string | null;
  tags: string[];
  notes: string | null;
  archived: boolean;
}

export function labelsOf(row: Pick<RunRow, 'name' | 'tags_json' | 'notes' | 'archived'>): RunLabels {
  let tags: string[] = [];
  try {
    const t = JSON.parse(row.tags_json) as unknown;
    if (Array.isArray(t)) tags = t.filter((x): x is string => typeof x === 'string');
  } catch {
    // a damaged value reads as no tags
  }
  return { name: row.name, tags, notes: row.notes, archived: row.archived === 1 };
}

/** Tags in the order given, each once. */
function uniqueTags(tags: readonly string[]): string[] {
  return [...new Set(tags)];
}

/** run.json's text, or null when there is none (or it is not a regular file). */
function readRecordText(file: string): string | null {
  try {
    return lstatSync(file).isFile() ? readFileSync(file, 'utf8') : null;
  } catch {
    return null;
  }
}

/** run.json as it is (fields this version does not know are kept), or a new one made from the row. */
function recordFor(db: DB, row: RunRow, text: string | null): Record<string, unknown> {
  try {
    const r = JSON.parse(text ?? '') as unknown;
    if (r && typeof r === 'object' && !Array.isArray(r) && (r as { id?: unknown }).id === row.id) return r as Record<string, unknown>;
  } catch {
    // none (a run from before run.json), or unreadable: written afresh below
  }
  const g = row.group_id
    ? (db.prepare('SELECT id, name, created_at AS createdAt, spec_json AS spec FROM experiment_groups WHERE id = ?').get(row.group_id) as
        { id: string; name: string; createdAt: number; spec: string | null } | undefined)
    : undefined;
  return { format: 1, id: row.id, createdAt: row.created_at, group: g ?? null, retryOf: row.retry_of ?? null };
}

/** Write the labels to run.json, then the row; an error leaves both as they were. */
function save(db: DB, row: RunRow, labels: RunLabels): { ok: true } | { ok: false; message: string } {
  const file = join(row.run_dir, RUN_RECORD_FILE);
  const before = readRecordText(file);
  const record = { ...recordFor(db, row, before), labels };
  try {
    writeFileSafely(file, JSON.stringify(record, null, 2) + '\n', { overwrite: true });
  } catch (e) {
    return { ok: false, message: fsErrorMessage(e, { action: 'save the run\u2019s labels', path: file }) };
  }
  try {
    db.prepare('UPDATE runs SET name = ?, tags_json = ?, notes = ?, archived = ? WHERE id = ?').run(
      labels.name,
      JSON.stringify(labels.tags),
      labels.notes,
      labels.archived ? 1 : 0,
      row.id,
    );
  } catch (e) {
    // the database refused (locked, full): run.json goes back to what it said, so the two agree
    try {
      if (before !== null) writeFileSafely(file, before, { overwrite: true });
    } catch {
      // the row is the old one either way; a reindex reads run.json's labels only for runs it adds
    }
    throw e;
  }
  return { ok: true };
}

/** Rename a run, set its tags or notes (what the patch names; the rest stays). */
export function editRunLabels(db: DB, id: string, patch: RunLabelsPatch): { ok: boolean; message: string } {
  const row = getRunRow(db, id);
  if (!row) return { ok: false, message: `no run "${id}"` };
  const now = labelsOf(row);
  const next: RunLabels = {
    name: patch.name !== undefined ? patch.name : now.name,
    tags: patch.tags !== undefined ? uniqueTags(patch.tags) : now.tags,
    notes: patch.notes !== undefined ? (patch.notes?.trim() ? patch.notes : null) : now.notes,
    archived: now.archived,
  };
  const r = save(db, row, next);
  return r.ok ? { ok: true, message: `run ${id} updated` } : r;
}

/** Add and remove tags on many runs (the runs table's bulk action); runs already so are left alone. */
export function tagRunLabels(db: DB, ids: readonly string[], add: readonly string[], remove: readonly string[]) {
  const gone = new Set(remove);
  let changed = 0;
  const missing: string[] = [];
  for (const id of ids) {
    const row = getRunRow(db, id);
    if (!row) {
      missing.push(id);
      continue;
    }
    const now = labelsOf(row);
    const tags = uniqueTags([...now.tags.filter((t) => !gone.has(t)), ...add.filter((t) => !gone.has(t))]);
    if (tags.length > 50) return { ok: false, message: `run ${id} would have ${tags.length} tags (at most 50)`, changed };
    if (tags.join('\n') === now.tags.join('\n')) continue;
    const r = save(db, row, { ...now, tags });
    if (!r.ok) return { ...r, changed };
    changed++;
  }
  if (missing.length)
    return { ok: false, message: `no run ${missing.map((m) => `"${m}"`).join(', ')}; ${changed} run(s) changed`, changed };
  return { ok: true, message: `${changed} run(s) changed`, changed };
}

/** Archive or unarchive runs (the runs table's bulk action); runs already so are left alone. */
export function archiveRunLabels(db: DB, ids: readonly string[], archived: boolean): { ok: boolean; message: string; changed: number } {
  let changed = 0;
  for (const id of ids) {
    const row = getRunRow(db, id);
    if (!row) return { ok: false, message: `no run "${id}"; ${changed} run(s) changed`, changed };
    const now = labelsOf(row);
    if (now.archived === archived) continue;
    const r = save(db, row, { ...now, archived });
    if (!r.ok) return { ...r, changed };
    changed++;
  }
  return { ok: true, message: `${changed} run(s) ${archived ? 'archived' : 'unarchived'}`, changed };
}
