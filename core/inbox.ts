/**
 * inbox/: where a script announces the run it registered (experiments/starlab/lab_dir.py).
 * The app (every poll) and the CLI (before it lists) adopt what the inbox announces through
 * the path a reindex takes (core/reindex.ts), then remove the announcement.
 */
import { readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { DB } from '../db/open';
import { getRunRow } from '../db/queries';
import { RUN_ID_RE } from './paths';
import { reindexRun, type ReindexOptions, type ReindexReport } from './reindex';

export const INBOX_DIR = 'inbox';

/**
 * Adopt the runs the inbox announces: each is indexed from its run directory (a live script
 * is watched from then on) and its announcement removed. The script announces a run once its
 * run_start is written, so one that cannot be indexed (a link, a config that is not JSON) will
 * not become indexable: its reason is in the report, and `starlab check` lists its directory.
 */
export async function adoptAnnouncedRuns(db: DB, dataDir: string, opts: ReindexOptions = {}): Promise<ReindexReport> {
  const report: ReindexReport = { added: [], running: [], groupsAdded: [], skipped: [], events: 0, seconds: 0 };
  const inbox = join(dataDir, INBOX_DIR);
  let names: string[];
  try {
    names = readdirSync(inbox);
  } catch {
    return report;
  }
  for (const id of names.sort()) {
    if (!RUN_ID_RE.test(id) || id.startsWith('.')) continue;
    try {
      if (!getRunRow(db, id)) await reindexRun(db, dataDir, id, report, { ...opts, source: 'inbox' });
    } catch (e) {
      // one run that cannot be read (the database busy, a file gone) must not stop the others or the poll;
      // its announcement stays, so a later poll tries again
      report.skipped.push({ id, reason: (e as Error).message });
      continue;
    }
    try {
      unlinkSync(join(inbox, id));
    } catch {
      // removed by another process adopting it too
    }
  }
  return report;
}
