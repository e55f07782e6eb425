/**
 * npm run faults: kill, lock, fill and cut things under real runs and check that the lab
 * comes back with every event that was written, nothing counted twice, and a clear account.
 * Prints one row per fault and exits non-zero if any row is not ok (a skipped row included).
 */
import { killMidLine, killBeforeFirstEvent, killRealMidIteration } from './experiment';
import { databaseLocked, floodWithQueries, serverKilled } from './host';
import { diskFull, eventsDeleted, eventsTruncated } from './storage';
import { pythonFaults } from './python';
import { hugeEventLine } from './bounds';
import { databaseEmptiedThenReindex, diskFullDuringLaunchWait, lockDuringLaunchWait, resumeFailsToLoad } from './keep';
import { removeTempDirs, type Row } from './lib';

const FAULTS: [string, () => Promise<Row | Row[]>][] = [
  ['experiment SIGKILL mid-line', killMidLine],
  ['experiment SIGKILL before 1st event', killBeforeFirstEvent],
  ['real STaR run SIGKILL mid-iteration + resume', killRealMidIteration],
  ['server SIGKILL mid-ingest + restart', serverKilled],
  ['8 runs flooding + UI queries', floodWithQueries],
  ['database locked 7 s by another process', databaseLocked],
  ['disk full (16 MiB tmpfs data dir)', diskFull],
  ['events file truncated mid-line', eventsTruncated],
  ['events file deleted', eventsDeleted],
  ['python preflight', pythonFaults],
  ['a 50 MB event line', hugeEventLine],
  ['resume whose checkpoint fails to load', resumeFailsToLoad],
  ['database emptied, then reindex', databaseEmptiedThenReindex],
  ['lock held 20 s during launch --wait', lockDuringLaunchWait],
  ['disk full during launch --wait', diskFullDuringLaunchWait],
];

const only = process.argv.slice(2);
const t0 = Date.now();
const rows: Row[] = [];
try {
  for (const [name, fn] of FAULTS) {
    if (only.length && !only.some((o) => name.includes(o))) continue;
    const t = Date.now();
    process.stdout.write(`fault: ${name} …\n`);
    try {
      const r = await fn();
      rows.push(...(Array.isArray(r) ? r : [r]));
    } catch (e) {
      rows.push({ fault: name, runs: 0, written: 0, ingested: 0, duplicates: 0, lost: 0, status: `FAIL: ${(e as Error).message}` });
    }
    process.stdout.write(`  ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
  }
} finally {
  removeTempDirs();
}

const cols = ['fault', 'runs', 'written', 'ingested', 'duplicates', 'lost', 'status'] as const;
const cell = (r: Row, c: (typeof cols)[number]) => String(r[c]);
const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => (c === 'status' ? 0 : cell(r, c).length))));
const line = (vals: string[]) =>
  vals.map((v, i) => (i === cols.length - 1 ? v : i === 0 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join(' | ');
console.log('');
console.log(line([...cols]));
console.log(widths.map((w, i) => '-'.repeat(i === cols.length - 1 ? 6 : w)).join('-|-'));
for (const r of rows) console.log(line(cols.map((c) => cell(r, c))));
console.log(`
written: complete event lines the experiment wrote (counted by reading its events file; for the
  truncated/deleted file, the writer's own count of lines it wrote, as the file no longer holds them).
ingested: events in the (run, seq) gate for the fault's runs: run_events rows and the seqs of
  event_spans (read from the real database).
duplicates: repeated (run, seq) in the gate, metrics repeating (run, name, iteration, step), samples
  repeating (run, iteration, question, kind), event log lines repeating; metrics/samples rows are also
  checked against the values/items of the ingested events.
lost: written events (seqs) missing from the gate. Events a fault destroys before anybody could read
  them would be a property of the fault, not a loss: the file faults wait until everything written is
  ingested before cutting the file, so every written event must be there.
status: ok when the run's final status and reason say what happened; "skipped" is not a pass.`);
const bad = rows.filter((r) => !r.status.startsWith('ok') || r.lost !== 0 || r.duplicates !== 0);
console.log(`\n${rows.length} faults, ${rows.length - bad.length} ok, ${bad.length} not ok; ${((Date.now() - t0) / 1000).toFixed(1)} s`);
for (const r of bad) console.log(`NOT OK: ${r.fault}: ${r.status}`);
process.exit(bad.length ? 1 : 0);
