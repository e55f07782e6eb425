/** Fault family 3c/3d: the disk full (a small tmpfs as the data directory); the events file truncated or deleted under a running run. */
import { execFileSync } from 'node:child_process';
import { rmSync, truncateSync, unlinkSync, writeFileSync, statSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { createService } from '../../core/service';
import {
  eventsFilesOf,
  FAKE_PYTHON,
  killRunsOf,
  measure,
  mountTmpfs,
  type Row,
  runsOf,
  Server,
  supervisorLogs,
  tempDir,
  waitFor,
  writerCount,
  writtenSeqs,
} from './lib';

const SPEC = { variant: 'star', dataset: 'addition', preset: 'tiny' } as const;

/**
 * The data directory on a 16 MiB tmpfs, mostly filled by a ballast file; two runs flood events
 * until the disk is full (the writer dies with ENOSPC, exit 1, like a Python run would), the
 * database cannot grow either. Then the ballast is removed (someone frees space): every
 * complete line on disk must be ingested once and the runs finalised with the reason.
 */
export async function diskFull(): Promise<Row> {
  const fault = 'disk full (16 MiB tmpfs data dir)';
  const fs = mountTmpfs(fault);
  if ('skipped' in fs) return fs.skipped;
  const { mnt } = fs;
  const dataDir = join(mnt, 'data');
  const server = new Server(dataDir, {
    STARLAB_PYTHON: FAKE_PYTHON,
    STARLAB_FAKE_MODE: 'flood',
    STARLAB_FAKE_EVENTS: '6000',
    STARLAB_FAKE_BURST: '500',
    STARLAB_FAKE_PACE_MS: '50',
  });
  try {
    await server.start();
    const ballast = join(mnt, 'ballast');
    const free = () => {
      const s = execFileSync('df', ['-B1', '--output=avail', mnt], { encoding: 'utf8' }).trim().split('\n').pop()!;
      return Number(s);
    };
    writeFileSync(ballast, Buffer.alloc(Math.max(0, free() - 1_500_000)));
    const ids: string[] = [];
    for (const seed of [1, 2]) {
      const r = await server.cmd<{ ok: boolean; id?: string; errors?: unknown }>('launchRun', { ...SPEC, seed });
      if (!r.ok || !r.id) throw new Error(`launch refused: ${JSON.stringify(r.errors)}`);
      ids.push(r.id);
    }
    const dbFile = join(dataDir, 'starlab.db');
    // both writers die of ENOSPC (or finish, if the space sufficed: then the fault did not happen)
    await waitFor(
      () =>
        ids.every((id) => {
          const pid = runPid(dbFile, id);
          return pid !== null && !alive(pid);
        }),
      90_000,
      'the writers to stop',
    );
    const fullAt = free();
    rmSync(ballast);
    try {
      await waitFor(() => runsOf(dbFile).every((r) => r.status !== 'running'), 30_000, 'the runs to be finalised after space was freed');
    } catch (e) {
      const stuck = runsOf(dbFile).filter((r) => r.status === 'running');
      const detail = stuck.map(
        (r) =>
          `${r.id} pid ${r.pid} ${r.pid && existsSync(`/proc/${r.pid}/stat`) ? readFileSync(`/proc/${r.pid}/stat`, 'utf8').slice(0, 60) : 'gone'} logs: ${supervisorLogs(dbFile, r.id).slice(-3).join(' | ')}`,
      );
      let probe = 'write ok';
      try {
        const Database = (await import('better-sqlite3')).default;
        const db = new Database(dbFile);
        db.prepare("INSERT INTO settings (key, value) VALUES ('probe', '1') ON CONFLICT DO NOTHING").run();
        db.close();
      } catch (err) {
        probe = `write failed: ${(err as Error).message}`;
      }
      probe += `; df ${free()}`;
      throw new Error(`${(e as Error).message}; probe: ${probe}; stuck: ${detail.join('; ')}; server: ${server.output.slice(-600)}`);
    }
    const files = eventsFilesOf(dataDir);
    const expected = new Map(ids.map((id) => [id, writtenSeqs(files.get(id)!)]));
    const m = measure(dbFile, expected, new Map(ids.map((id) => [id, files.get(id)!])));
    const problems = [...m.mismatches];
    const rows = runsOf(dbFile).filter((r) => ids.includes(r.id));
    for (const r of rows)
      if (
        r.status !== 'failed' ||
        !/^exited with code 1/.test(r.status_reason ?? '') ||
        !/the disk holding the run directory was full/.test(r.status_reason ?? '')
      )
        problems.push(`${r.id}: ${r.status}: ${r.status_reason}`);
    const enospc = rows.filter((r) => /ENOSPC|no space/i.test(r.stderr_tail ?? '')).length;
    return {
      fault,
      runs: ids.length,
      written: [...expected.values()].reduce((a, s) => a + s.length, 0),
      ingested: m.ingested,
      duplicates: m.duplicates,
      lost: m.lost,
      status: problems.length
        ? `FAIL: ${problems.join('; ')}`
        : `ok: failed, "${rows[0]!.status_reason}"; ${enospc}/${rows.length} stderr tails show ENOSPC; ${fullAt} bytes free when full`,
    };
  } finally {
    await server.stop();
    killRunsOf(dataDir);
    fs.unmount();
  }
}

function runPid(dbFile: string, id: string): number | null {
  return runsOf(dbFile).find((r) => r.id === id)?.pid ?? null;
}
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^\d+ \(.*\) [ZX]/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * The events file truncated mid-line (or deleted) under a running run. The writer pauses
 * after 1,500 events until they are all ingested, so nothing is destroyed unread; then the
 * file is cut (or unlinked) and the writer appends 3,500 more at full speed (reopening by
 * path, so a deleted file is recreated and quickly grows past the old cursor). written is
 * the writer's own count; every one of those seqs must be in the (run, seq) gate.
 */
async function fileFault(kind: 'truncate' | 'delete'): Promise<Row> {
  const fault = kind === 'truncate' ? 'events file truncated mid-line' : 'events file deleted';
  const dataDir = tempDir();
  const gate = join(dataDir, 'gate');
  const countFile = join(dataDir, 'count');
  const env: Record<string, string> = {
    STARLAB_FAKE_MODE: 'flood',
    STARLAB_FAKE_EVENTS: '5000',
    STARLAB_FAKE_GATE: gate,
    STARLAB_FAKE_GATE_AT: '1500',
    STARLAB_FAKE_COUNT_FILE: countFile,
  };
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const s = createService({ dataDir, pythonPath: FAKE_PYTHON, pollMs: 100 });
  try {
    const r = await s.launchRun({ ...SPEC, seed: 1 });
    if (!r.ok) throw new Error(`launch refused: ${JSON.stringify(r.errors)}`);
    const id = r.id;
    const file = join(s.getRun(id)!.runDir, 'events.jsonl');
    await waitFor(() => existsSync(`${gate}.waiting`), 30_000, 'the writer to pause');
    const before = Number(readFileSync(`${gate}.waiting`, 'utf8'));
    await waitFor(
      () => measure(join(dataDir, 'starlab.db'), new Map([[id, []]])).ingested === before,
      30_000,
      'everything written so far to be ingested',
    );
    const size = statSync(file).size;
    let what: string;
    if (kind === 'truncate') {
      const cut = Math.floor(size * 0.4) + 7;
      truncateSync(file, cut);
      what = `cut from ${size} to ${cut} bytes`;
    } else {
      unlinkSync(file);
      what = `deleted at ${size} bytes`;
      // Keep the writer paused until the deletion is seen: a file recreated at once may get the
      // same inode number back, and is then (rightly) reported as rewritten, not deleted.
      await waitFor(
        () => supervisorLogs(join(dataDir, 'starlab.db'), id).some((l) => l.startsWith('events.jsonl was deleted')),
        30_000,
        'the supervisor to notice the deletion',
      );
    }
    writeFileSync(gate, '');
    const d = (await s.waitForRun(id, { timeoutMs: 60_000 }))!;
    const written = writerCount(countFile);
    const seqs = Array.from({ length: written }, (_, i) => i + 1);
    const m = measure(join(dataDir, 'starlab.db'), new Map([[id, seqs]]));
    const problems = [...m.mismatches];
    const want = kind === 'truncate' ? /events\.jsonl was truncated/ : /events\.jsonl was (deleted|replaced)/;
    if (d.status !== 'completed' || !want.test(d.statusReason ?? '')) problems.push(`${d.status}: ${d.statusReason}`);
    const warned = supervisorLogs(join(dataDir, 'starlab.db'), id).filter((l) => l.startsWith('events.jsonl was')).length;
    return {
      fault,
      runs: 1,
      written,
      ingested: m.ingested,
      duplicates: m.duplicates,
      lost: m.lost,
      status: problems.length
        ? `FAIL: ${problems.join('; ')}`
        : `ok: ${d.status}, "${d.statusReason}" (${what}; ${warned} warning(s) logged)`,
    };
  } finally {
    s.close();
    killRunsOf(dataDir);
    for (const k of Object.keys(env)) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  }
}

export const eventsTruncated = () => fileFault('truncate');
export const eventsDeleted = () => fileFault('delete');
