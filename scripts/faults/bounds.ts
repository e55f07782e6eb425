/**
 * Fault family 5: one input far over the limits. A run writes a 50 MB metrics line of 2
 * million names between normal events while a client asks the real browser-mode server for
 * /api/health every 100 ms: the server must keep answering (each within 1 s), refuse the line
 * as malformed with its reason, ingest every other event once, and answer getRun small.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MAX_EVENT_LINE_BYTES } from '../../shared/protocol';
import { faultRow, eventsFilesOf, FAKE_PYTHON, killRunsOf, measure, type Row, runsOf, Server, sleep, tempDir, waitFor } from './lib';

const SPEC = { variant: 'star', dataset: 'addition', preset: 'tiny', seed: 1 } as const;
const HEALTH_EVERY_MS = 100;
const HEALTH_MAX_MS = 1000;

/** seq of every complete line of the file within the line limit (a longer one is not an event the lab can take). */
function seqsWithinLimit(file: string): { seqs: number[]; over: number } {
  const data = readFileSync(file);
  const seqs: number[] = [];
  let over = 0;
  let start = 0;
  for (let nl = data.indexOf(0x0a); nl >= 0; start = nl + 1, nl = data.indexOf(0x0a, start)) {
    if (nl - start > MAX_EVENT_LINE_BYTES) {
      over++;
      continue;
    }
    try {
      const o = JSON.parse(data.toString('utf8', start, nl)) as { seq?: unknown };
      if (typeof o.seq === 'number') seqs.push(o.seq);
    } catch {
      // not an event
    }
  }
  return { seqs, over };
}

export async function hugeEventLine(): Promise<Row> {
  const fault = 'a 50 MB event line';
  const dataDir = tempDir();
  const dbFile = join(dataDir, 'starlab.db');
  const hugeSeqFile = join(dataDir, 'huge-seq');
  const server = new Server(dataDir, {
    STARLAB_PYTHON: FAKE_PYTHON,
    STARLAB_FAKE_MODE: 'huge-line',
    STARLAB_FAKE_HUGE_SEQ_FILE: hugeSeqFile,
  });
  let polling = true;
  const latencies: number[] = [];
  const healthErrors: string[] = [];
  try {
    await server.start();
    const poller = (async () => {
      while (polling) {
        const t0 = performance.now();
        try {
          const r = await fetch(`${server.url}/api/health`, { signal: AbortSignal.timeout(60_000) });
          await r.text();
          if (!r.ok) healthErrors.push(`HTTP ${r.status}`);
        } catch (e) {
          healthErrors.push((e as Error).message);
        }
        latencies.push(performance.now() - t0);
        await sleep(HEALTH_EVERY_MS);
      }
    })();
    const launched = await server.cmd<{ ok: boolean; id?: string; errors?: unknown }>('launchRun', SPEC);
    if (!launched.ok || !launched.id) throw new Error(`launch refused: ${JSON.stringify(launched.errors)}`);
    const id = launched.id;
    await waitFor(
      () => runsOf(dbFile).find((r) => r.id === id && r.status !== 'running' && r.status !== 'queued'),
      180_000,
      'the run to end',
    );
    await sleep(500); // a few more health answers after the run ended
    polling = false;
    await poller;

    // getRun as the UI asks for it: its size and time
    const t0 = performance.now();
    const res = await fetch(`${server.url}/api/cmd/getRun`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${server.token}` },
      body: JSON.stringify([id]),
    });
    const body = await res.text();
    const getRunMs = performance.now() - t0;
    const getRunBytes = Buffer.byteLength(body);

    const file = eventsFilesOf(dataDir).get(id)!;
    const { seqs, over } = seqsWithinLimit(file);
    const hugeSeq = existsSync(hugeSeqFile) ? Number(readFileSync(hugeSeqFile, 'utf8').trim()) : null;
    const m = measure(dbFile, new Map([[id, seqs]]), new Map([[id, file]]));
    const db = new Database(dbFile, { readonly: true, fileMustExist: true });
    let rejected: { reason: string }[];
    try {
      rejected = db.prepare('SELECT reason FROM rejected_lines WHERE run_id = ?').all(id) as { reason: string }[];
    } finally {
      db.close();
    }
    const run = runsOf(dbFile).find((r) => r.id === id)!;

    const maxMs = Math.max(...latencies);
    const slow = latencies.filter((ms) => ms > HEALTH_MAX_MS).length;
    const problems = [...m.mismatches];
    if (hugeSeq === null || over !== 1) problems.push(`the writer did not write one over-long line (${over})`);
    if (slow) problems.push(`${slow} of ${latencies.length} health answers took over ${HEALTH_MAX_MS} ms (max ${Math.round(maxMs)} ms)`);
    if (healthErrors.length) problems.push(`health failed ${healthErrors.length}×: ${healthErrors[0]}`);
    if (latencies.length < 10) problems.push(`only ${latencies.length} health answers`);
    if (rejected.length !== 1 || !/^line is [\d,]+ bytes, over the limit of [\d,]+$/.test(rejected[0]!.reason))
      problems.push(`malformed lines: ${JSON.stringify(rejected.map((r) => r.reason))}`);
    if (run.status !== 'completed') problems.push(`run ${run.status}: ${run.status_reason}`);
    if (!res.ok || getRunBytes > 1024 * 1024) problems.push(`getRun: HTTP ${res.status}, ${getRunBytes} bytes`);
    const note = `health max ${Math.round(maxMs)} ms over ${latencies.length} polls; huge line: ${rejected[0]?.reason ?? 'not rejected'}; getRun ${getRunBytes} bytes in ${Math.round(getRunMs)} ms`;
    console.log(`  ${note}`);
    return faultRow(fault, 1, seqs.length, m, problems.length ? [...problems.slice(0, 3), note] : [], `${run.status}; ${note}`);
  } finally {
    polling = false;
    await server.stop();
    killRunsOf(dataDir);
  }
}
