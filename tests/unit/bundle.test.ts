/**
 * Run bundles (core/bundle.ts) and the database backup, with real SQLite in temp data dirs:
 * round trip, importing twice, damaged / unsafe / newer bundles refused with nothing written,
 * and a backup taken while another connection writes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs, {
  closeSync,
  copyFileSync,
  existsSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import { join, relative } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { backupDatabase, BundleError, CHECKPOINT_DIRS, exportBundle, importBundle, inspectBundle } from '../../core/bundle';
import { databasePath, runsDir } from '../../core/paths';
import { NotRegularFileError, TarWriter, readEntry, readTarEntries } from '../../core/tar';
import { runTables } from '../../db/bundle-rows';
import { integrityProblems, openDatabase, type DB } from '../../db/open';
import { insertRun } from '../../db/queries';
import { queryTraces } from '../../db/traces';
import { cleanupTempDirs, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const LONG = `${'a-very-long-artifact-name-'.repeat(6)}.json`; // > 100 bytes with its run dir: a pax path
const WEIGHTS = randomBytes(3 * (1 << 20) + 123); // several read chunks

/** A data dir with runs r1 (completed, group g1, samples of two iterations) and r2 (running), and their directories. */
function seed(): { dir: string; db: DB } {
  const dir = tempDir();
  const db = openDatabase(databasePath(dir));
  db.prepare("INSERT INTO experiment_groups (id, name, created_at, spec_json) VALUES ('g1', 'ablation', 10, '{}')").run();
  for (const [id, status] of [
    ['r1', 'completed'],
    ['r2', 'running'],
  ] as const) {
    const runDir = join(runsDir(dir), id);
    insertRun(db, {
      id,
      group_id: 'g1',
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 0,
      model: 'm',
      config_json: '{"seed":0}',
      config_hash: 'h',
      status,
      created_at: 100,
      started_at: 101,
      ended_at: status === 'completed' ? 200 : null,
      pid: status === 'running' ? 4242 : null,
      run_dir: runDir,
    });
    mkdirSync(join(runDir, 'artifacts'), { recursive: true });
    mkdirSync(join(runDir, 'checkpoint'), { recursive: true });
    writeFileSync(join(runDir, 'config.json'), `{"run": "${id}"}\n`);
    writeFileSync(join(runDir, 'events.jsonl'), `{"v":1,"seq":1,"type":"run_start"}\n`);
    writeFileSync(join(runDir, 'stdout.log'), 'hello ✓\n');
    writeFileSync(join(runDir, 'stderr.log'), '');
    writeFileSync(join(runDir, 'artifacts', LONG), '{"long": true}');
    writeFileSync(join(runDir, 'checkpoint', 'state.json'), '{"iteration": 1}');
    writeFileSync(join(runDir, 'checkpoint', 'weights.bin'), WEIGHTS);
    db.prepare("INSERT INTO run_events (run_id, seq, type, t) VALUES (?, 1, 'run_start', 101)").run(id);
    db.prepare("INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES (?, 2, 'eval/accuracy', 0, 0, 0.5, 102)").run(id);
    db.prepare("INSERT INTO logs (run_id, t, source, level, message) VALUES (?, 101, 'stdout', 'info', 'hello')").run(id);
    db.prepare(
      "INSERT INTO artifacts (run_id, seq, name, kind, path, size, iteration, t) VALUES (?, 3, 'long', 'json', ?, 14, 0, 103)",
    ).run(id, join(runDir, 'artifacts', LONG));
  }
  const smp =
    db.prepare(`INSERT INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold, correct, hint_used, kept, difficulty)
    VALUES ('r1', ?, ?, ?, 'train', ?, ?, ?, ?, '8', '8', ?, ?, ?, 3)`);
  const rows: [number, string, string, string, number, number][] = [
    [0, 'direct', 'q1', 'we add the digits: 7', 0, 0],
    [0, 'rationalized', 'q1', 'with the hint the sum is 8', 1, 1],
    [0, 'direct', 'q2', 'the zebra ate 3 apples', 1, 0],
    [1, 'direct', 'q1', 'carry the one: 8', 1, 0],
    [1, 'direct', 'q2', 'the answer is 4', 0, 0],
  ];
  rows.forEach(([it, kind, q, text, c, h], i) => smp.run(10 + it, i, it, kind, q, `question ${q}?`, text, c, h, c));
  db.prepare("INSERT INTO phases (run_id, iteration, phase, started_at) VALUES ('r1', 0, 'generate', 101)").run();
  return { dir, db };
}

/** Every run table's rows of a run, without surrogate ids, in insertion order. */
function runRowsOf(db: DB, id: string): Record<string, unknown[]> {
  const out: Record<string, unknown[]> = {};
  for (const t of runTables(db)) {
    const cols = t.columns.filter((c) => !['run_dir', 'path', 'pid', 'status', 'status_reason', 'ended_at'].includes(c));
    out[t.name] = db.prepare(`SELECT ${cols.map((c) => `"${c}"`).join(', ')} FROM ${t.name} WHERE ${t.runColumn} = ? ${t.order}`).all(id);
  }
  return out;
}

const derived = (db: DB, table: string) => db.prepare(`SELECT * FROM ${table} ORDER BY 1, 2, 3, 4`).all();

function filesUnder(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(root, p), readFileSync(p));
    }
  };
  walk(root);
  return out;
}

/** Rewrite a bundle entry by entry (files as buffers), for the damaged / unsafe variants. */
function rewrite(
  src: string,
  dst: string,
  edit: (entries: { path: string; data: Buffer | null }[]) => { path: string; data: Buffer | null }[],
): void {
  const fd = openSync(src, 'r');
  const entries = [...readTarEntries(fd)].map((e) => ({ path: e.path, data: e.type === 'dir' ? null : readEntry(fd, e) }));
  closeSync(fd);
  const out = openSync(dst, 'w');
  const tar = new TarWriter(out);
  for (const e of edit(entries))
    if (e.data) tar.addBuffer(e.path, e.data);
    else tar.addDir(e.path);
  tar.finish();
  closeSync(out);
}

function editManifest(src: string, dst: string, fn: (m: Record<string, unknown>) => void): void {
  rewrite(src, dst, (es) =>
    es.map((e) => {
      if (e.path !== 'manifest.json') return e;
      const m = JSON.parse(e.data!.toString()) as Record<string, unknown>;
      fn(m);
      return { path: e.path, data: Buffer.from(JSON.stringify(m)) };
    }),
  );
}

/** Import must refuse `file` and leave the target data dir without any run, row or file. */
function expectRefused(file: string, message: RegExp): void {
  const dir = tempDir();
  const db = openDatabase(databasePath(dir));
  expect(() => importBundle(db, dir, file)).toThrow(message);
  expect(() => importBundle(db, dir, file)).toThrow(BundleError);
  expect(db.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 0 });
  expect(db.prepare('SELECT count(*) AS n FROM samples').get()).toEqual({ n: 0 });
  expect(db.prepare('SELECT count(*) AS n FROM experiment_groups').get()).toEqual({ n: 0 });
  expect(existsSync(runsDir(dir)) ? readdirSync(runsDir(dir)) : []).toEqual([]);
  expect(existsSync(join(dir, 'x'))).toBe(false);
  db.close();
}

describe('run bundles', () => {
  const src = seed();
  const bundle = join(tempDir(), 'runs.starlab.tar');
  const report = exportBundle(src.db, src.dir, ['r1', 'r2'], bundle);

  it('exports rows, groups and run directories with a manifest', () => {
    expect(report).toMatchObject({ runIds: ['r1', 'r2'], groupIds: ['g1'], files: 14, missingDirs: [], skippedFiles: [] });
    expect(report.rows).toMatchObject({
      runs: 2,
      samples: 5,
      run_events: 2,
      metrics: 2,
      logs: 2,
      artifacts: 2,
      phases: 1,
      ingest_cursors: 2,
      experiment_groups: 1,
    });
    expect(report.rows).not.toHaveProperty('question_summary');
    const m = inspectBundle(bundle);
    expect(m).toMatchObject({ format: 'starlab-run-bundle', formatVersion: 1, runIds: ['r1', 'r2'], checkpoints: true });
    expect(m.files[`runs/r1/checkpoint/weights.bin`]!.size).toBe(WEIGHTS.length);
    // a plain tar file: the system's tar lists it, long names included
    const listed = execFileSync('tar', ['-tf', bundle], { encoding: 'utf8' }).split('\n');
    expect(listed).toContain(`runs/r1/artifacts/${LONG}`);
    expect(listed).toContain('manifest.json');
    expect(() => exportBundle(src.db, src.dir, ['r1'], bundle)).toThrow(/exists/);
    expect(() => exportBundle(src.db, src.dir, ['r1', 'nope'], join(tempDir(), 'b.tar'))).toThrow(/no run "nope"/);
  });

  it('imports into a fresh data dir: rows, derived tables, search and files equal', () => {
    const dst = tempDir();
    const db = openDatabase(databasePath(dst));
    const r = importBundle(db, dst, bundle);
    expect(r.imported).toEqual(['r1', 'r2']);
    expect(r.skipped).toEqual([]);
    expect(r.groupsAdded).toEqual(['g1']);
    expect(r.rows).toMatchObject({ runs: 2, samples: 5, metrics: 2 });
    for (const id of ['r1', 'r2']) expect(runRowsOf(db, id)).toEqual(runRowsOf(src.db, id));
    for (const t of ['question_summary', 'question_outcomes', 'question_counts']) expect(derived(db, t)).toEqual(derived(src.db, t));
    expect(derived(db, 'question_summary')).toHaveLength(2);
    const page = queryTraces(db, 'r1', { search: 'zebra' });
    expect(page.rows.map((x) => x.text)).toEqual(['the zebra ate 3 apples']);
    // files byte-identical
    for (const id of ['r1', 'r2']) {
      const a = filesUnder(join(runsDir(src.dir), id));
      const b = filesUnder(join(runsDir(dst), id));
      expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
      for (const [k, v] of a) expect(b.get(k)!.equals(v)).toBe(true);
    }
    expect(readdirSync(runsDir(dst)).sort()).toEqual(['r1', 'r2']); // no staging left
    // paths point into the new data dir; the running run does not look alive
    expect(db.prepare("SELECT run_dir, status, pid FROM runs WHERE id = 'r1'").get()).toEqual({
      run_dir: join(runsDir(dst), 'r1'),
      status: 'completed',
      pid: null,
    });
    expect(db.prepare("SELECT status, status_reason, pid, ended_at FROM runs WHERE id = 'r2'").get()).toMatchObject({
      status: 'failed',
      status_reason: expect.stringMatching(/^imported while running/),
      pid: null,
      ended_at: expect.any(Number),
    });
    expect(db.prepare("SELECT path FROM artifacts WHERE run_id = 'r2'").get()).toEqual({
      path: join(runsDir(dst), 'r2', 'artifacts', LONG),
    });
    expect(integrityProblems(db)).toEqual([]);

    // importing again adds nothing
    const counts = () =>
      Object.fromEntries(
        ['runs', 'samples', 'metrics', 'logs', 'experiment_groups', 'question_summary'].map((t) => [
          t,
          (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n,
        ]),
      );
    const before = counts();
    const again = importBundle(db, dst, bundle);
    expect(again.imported).toEqual([]);
    expect(again.skipped).toEqual([
      { id: 'r1', reason: 'already present' },
      { id: 'r2', reason: 'already present' },
    ]);
    expect(again.groupsAdded).toEqual([]);
    expect(counts()).toEqual(before);
    expect(readdirSync(runsDir(dst)).sort()).toEqual(['r1', 'r2']);
    db.close();
  });

  it('leaves the checkpoints out on request', () => {
    const f = join(tempDir(), 'nock.tar');
    const r = exportBundle(src.db, src.dir, ['r1'], f, { checkpoints: false });
    expect(r.files).toBe(5);
    const m = inspectBundle(f);
    expect(m.checkpoints).toBe(false);
    expect(Object.keys(m.files).filter((p) => p.includes('checkpoint'))).toEqual([]);
    expect(statSync(f).size).toBeLessThan(WEIGHTS.length);
  });

  it('refuses a damaged bundle (flipped byte, missing file) and writes nothing', () => {
    const flipped = join(tempDir(), 'flipped.tar');
    const buf = readFileSync(bundle);
    // a byte inside weights.bin's data: find it by its content
    const at = buf.indexOf(WEIGHTS.subarray(1000, 1064)) + 10;
    expect(at).toBeGreaterThan(10);
    buf[at] = buf[at]! ^ 0xff;
    writeFileSync(flipped, buf);
    expectRefused(flipped, /damaged: runs\/r1\/checkpoint\/weights\.bin does not match its checksum/);

    const header = join(tempDir(), 'header.tar');
    const b2 = readFileSync(bundle);
    b2[512 * 3 + 5] = b2[512 * 3 + 5]! ^ 0x01; // inside an early header block
    writeFileSync(header, b2);
    expectRefused(header, /not a valid bundle|damaged/);

    const missing = join(tempDir(), 'missing.tar');
    rewrite(bundle, missing, (es) => es.filter((e) => e.path !== 'runs/r2/stdout.log'));
    expectRefused(missing, /runs\/r2\/stdout\.log is listed in the manifest but missing/);

    const truncated = join(tempDir(), 'truncated.tar');
    writeFileSync(truncated, readFileSync(bundle).subarray(0, 100_000));
    expectRefused(truncated, /truncated/);
  });

  it('refuses path traversal and unlisted entries', () => {
    for (const bad of ['../x', 'runs/r1/../../x', '/x', 'runs/../x']) {
      const f = join(tempDir(), 'bad.tar');
      rewrite(bundle, f, (es) => [{ path: bad, data: Buffer.from('evil') }, ...es]);
      expectRefused(f, /refused: entry ".*" has/);
    }
    const extra = join(tempDir(), 'extra.tar');
    rewrite(bundle, extra, (es) => [{ path: 'runs/r1/extra.txt', data: Buffer.from('x') }, ...es]);
    expectRefused(extra, /runs\/r1\/extra\.txt is not listed in the manifest/);
    const badId = join(tempDir(), 'badid.tar');
    editManifest(bundle, badId, (m) => ((m.runIds as string[])[0] = '..'));
    expectRefused(badId, /run id "\.\." is not a valid run id|not listed|belongs to no run/);
  });

  it('refuses a bundle from a newer format or schema', () => {
    const f = join(tempDir(), 'newer.tar');
    editManifest(bundle, f, (m) => (m.formatVersion = 99));
    expectRefused(f, /newer STaR Lab .*bundle format v99.*upgrade/);
    const g = join(tempDir(), 'newer-schema.tar');
    editManifest(bundle, g, (m) => (m.schemaVersion = 999));
    expectRefused(g, /newer STaR Lab .*schema v999/);
    const h = join(tempDir(), 'other.tar');
    editManifest(bundle, h, (m) => (m.format = 'something-else'));
    expectRefused(h, /not a STaR Lab run bundle/);
  });

  it('rolls back rows that do not match the manifest', () => {
    const f = join(tempDir(), 'rows.tar');
    editManifest(bundle, f, (m) => ((m.tables as Record<string, { rows: number }>).samples!.rows = 4));
    expectRefused(f, /tables\/samples\.jsonl has 5 rows, the manifest says 4/);
  });

  it('refuses to overwrite a run directory the database does not know', () => {
    const dst = tempDir();
    const db = openDatabase(databasePath(dst));
    mkdirSync(join(runsDir(dst), 'r2'), { recursive: true });
    expect(() => importBundle(db, dst, bundle)).toThrow(/directory .*r2 exists but the database has no such run/);
    expect(db.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('backupDatabase', () => {
  it('copies a consistent, checked database while another connection writes', async () => {
    const { dir, db } = seed();
    const ins =
      db.prepare(`INSERT INTO samples (run_id, seq, idx, iteration, split, kind, question_id, question, text, answer, gold, correct, hint_used)
      VALUES ('r1', 100, ?, 2, 'train', 'direct', ?, 'q?', ?, '1', '1', 1, 0)`);
    db.transaction(() => {
      for (let i = 0; i < 4000; i++) ins.run(i, `b${i}`, `bulk rationale ${i} `.repeat(10));
    })();
    const writer = openDatabase(databasePath(dir));
    const log = writer.prepare("INSERT INTO logs (run_id, t, source, level, message) VALUES ('r2', ?, 'stdout', 'info', 'tick')");
    let writes = 0;
    const timer = setInterval(() => {
      if (writes < 40) log.run(writes++);
    }, 2);
    const out = join(tempDir(), 'backup.db');
    const r = await backupDatabase(db, out);
    clearInterval(timer);
    writer.close();
    expect(r.file).toBe(out);
    expect(r.bytes).toBe(statSync(out).size);
    const copy = openDatabase(out, { check: true });
    expect(copy.pragma('journal_mode', { simple: true })).toBe('wal'); // openDatabase sets it again; the file itself was self-contained
    expect(copy.prepare('SELECT count(*) AS n FROM samples').get()).toEqual({ n: 4005 });
    const ticks = (copy.prepare("SELECT count(*) AS n FROM logs WHERE message = 'tick'").get() as { n: number }).n;
    expect(ticks).toBeGreaterThanOrEqual(0);
    expect(ticks).toBeLessThanOrEqual(writes);
    expect(derived(copy, 'question_summary')).toEqual(derived(db, 'question_summary'));
    copy.close();
    expect(existsSync(`${out}-wal`)).toBe(false);
    await expect(backupDatabase(db, out)).rejects.toThrow(/exists/);
    db.close();
  });
});

// (keeps the byte-writing helper import used: a partially written file is not a bundle)
it('refuses a file that is not a tar archive', () => {
  const f = join(tempDir(), 'junk.tar');
  const fd = openSync(f, 'w');
  writeSync(fd, Buffer.from('not a tar file at all'.repeat(100)));
  closeSync(fd);
  expectRefused(f, /not a valid bundle/);
});

/** Replace one function of node:fs for the length of `body` (named ESM imports see it too). */
function patchFs<K extends 'renameSync' | 'openSync' | 'readSync'>(
  name: K,
  make: (orig: (typeof fs)[K]) => (typeof fs)[K],
  body: () => void,
): void {
  const orig = fs[name];
  (fs as Record<K, unknown>)[name] = make(orig);
  syncBuiltinESMExports();
  try {
    body();
  } finally {
    (fs as Record<K, unknown>)[name] = orig;
    syncBuiltinESMExports();
  }
}

/** A ustar header block (for hand-made hostile archives). */
function rawHeader(name: string, type: string, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  h.write(name, 0, 100, 'utf8');
  h.write('0000644\0', 100, 'ascii');
  h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
  h.write('00000000000\0', 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(type, 156, 'ascii');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
  return h;
}

/** A tar of one entry of `size` bytes (zeros, sparse) and the end marker. */
function hugeEntryTar(name: string, type: string, size: number): string {
  const f = join(tempDir(), 'huge.tar');
  const fd = openSync(f, 'w');
  writeSync(fd, rawHeader(name, type, size));
  ftruncateSync(fd, 512 + Math.ceil(size / 512) * 512 + 1024);
  closeSync(fd);
  return f;
}

/** A data dir with one run `id` (its directory with config.json and a checkpoint of iteration `it`). */
function oneRun(id: string, status = 'completed'): { dir: string; db: DB; runDir: string } {
  const dir = tempDir();
  const db = openDatabase(databasePath(dir));
  const runDir = join(runsDir(dir), id);
  insertRun(db, {
    id,
    group_id: null,
    variant: 'star',
    dataset: 'addition',
    preset: 'tiny',
    seed: 0,
    model: 'm',
    config_json: '{}',
    config_hash: 'h',
    status,
    created_at: 100,
    started_at: 101,
    ended_at: status === 'running' ? null : 200,
    pid: null,
    run_dir: runDir,
  } as Parameters<typeof insertRun>[1]);
  mkdirSync(runDir, { recursive: true });
  writeFileSync(join(runDir, 'config.json'), '{}');
  return { dir, db, runDir };
}

/** What checkpoint.py writes: model.pt filled with the iteration number, state.json naming it. */
function writeCheckpoint(dir: string, it: number): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.pt'), Buffer.alloc((2 << 20) + 5, it));
  writeFileSync(join(dir, 'state.json'), JSON.stringify({ iteration: it }));
}

/** checkpoint.py's _swap_in: checkpoint → checkpoint.old, checkpoint.tmp → checkpoint, rm checkpoint.old. */
function swapIn(runDir: string, it: number): void {
  writeCheckpoint(join(runDir, 'checkpoint.tmp'), it);
  renameSync(join(runDir, 'checkpoint'), join(runDir, 'checkpoint.old'));
  renameSync(join(runDir, 'checkpoint.tmp'), join(runDir, 'checkpoint'));
  rmSync(join(runDir, 'checkpoint.old'), { recursive: true });
}

/** The checkpoint iterations in a bundle: state.json's and model.pt's (its first byte). */
function bundledCheckpoint(file: string, id: string): { state: number | null; model: number | null } {
  const fd = openSync(file, 'r');
  const out: { state: number | null; model: number | null } = { state: null, model: null };
  for (const e of readTarEntries(fd)) {
    if (e.path === `runs/${id}/checkpoint/state.json`)
      out.state = (JSON.parse(readEntry(fd, e).toString()) as { iteration: number }).iteration;
    if (e.path === `runs/${id}/checkpoint/model.pt`) out.model = readEntry(fd, e)[0]!;
  }
  closeSync(fd);
  return out;
}

describe('bundle and backup regressions', () => {
  it('imports nothing when a run directory cannot be renamed into place (rows roll back, staging removed)', () => {
    const src = seed();
    const f = join(tempDir(), 'b.tar');
    exportBundle(src.db, src.dir, ['r1', 'r2'], f);
    const dst = tempDir();
    const db = openDatabase(databasePath(dst));
    const target = join(runsDir(dst), 'r2');
    let failed = 0;
    patchFs(
      'renameSync',
      (orig) => (a, b) => {
        if (b === target && !failed++)
          throw Object.assign(new Error(`EXDEV: simulated, rename '${String(a)}' -> '${String(b)}'`), { code: 'EXDEV' });
        return orig(a, b);
      },
      () => {
        expect(() => importBundle(db, dst, f)).toThrow(/EXDEV: simulated/);
      },
    );
    expect(failed).toBe(1);
    expect(db.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 0 });
    expect(db.prepare('SELECT count(*) AS n FROM samples').get()).toEqual({ n: 0 });
    expect(readdirSync(runsDir(dst))).toEqual([]); // r1 moved back out, no runs/.import-* left
    // and importing again works: nothing was half-done
    expect(importBundle(db, dst, f).imported).toEqual(['r1', 'r2']);
    expect(readdirSync(runsDir(dst)).sort()).toEqual(['r1', 'r2']);
    db.close();
    src.db.close();
  });

  it('refuses to rename onto a run directory that appeared during the import', () => {
    const src = seed();
    const f = join(tempDir(), 'b.tar');
    exportBundle(src.db, src.dir, ['r1', 'r2'], f);
    const dst = tempDir();
    const db = openDatabase(databasePath(dst));
    const target = join(runsDir(dst), 'r2');
    patchFs(
      'renameSync',
      (orig) => (a, b) => {
        const r = orig(a, b);
        if (b === join(runsDir(dst), 'r1')) mkdirSync(target); // r2's appears meanwhile, empty: a plain rename would replace it
        return r;
      },
      () => {
        expect(() => importBundle(db, dst, f)).toThrow(/r2 exists/);
      },
    );
    expect(db.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 0 });
    expect(readdirSync(runsDir(dst))).toEqual(['r2']);
    expect(readdirSync(target)).toEqual([]);
    db.close();
    src.db.close();
  });

  it('never exports checkpoint.tmp (a checkpoint being written), with or without checkpoints', () => {
    expect(CHECKPOINT_DIRS).toContain('checkpoint.tmp');
    const { dir, db, runDir } = oneRun('r1');
    writeCheckpoint(join(runDir, 'checkpoint'), 1);
    writeCheckpoint(join(runDir, 'checkpoint.tmp'), 2);
    for (const checkpoints of [false, true]) {
      const f = join(tempDir(), 'b.tar');
      exportBundle(db, dir, ['r1'], f, { checkpoints });
      const paths = Object.keys(inspectBundle(f).files).sort();
      expect(paths.filter((p) => p.includes('checkpoint.tmp'))).toEqual([]);
      expect(paths.filter((p) => p.startsWith('runs/'))).toEqual(
        checkpoints ? ['runs/r1/checkpoint/model.pt', 'runs/r1/checkpoint/state.json', 'runs/r1/config.json'] : ['runs/r1/config.json'],
      );
    }
    db.close();
  });

  it('exports one checkpoint iteration of a running run while the run swaps in the next', () => {
    const { dir, db, runDir } = oneRun('r1', 'running');
    writeCheckpoint(join(runDir, 'checkpoint'), 1);
    // (a) the swap happens while model.pt is being streamed: the files opened before are kept
    const a = join(tempDir(), 'a.tar');
    let swapped = false;
    patchFs(
      'readSync',
      (orig) =>
        ((...args: Parameters<typeof fs.readSync>) => {
          const n = (orig as (...x: unknown[]) => number)(...args);
          if (!swapped && (args[1] as Buffer).length === 1 << 20) {
            swapped = true;
            swapIn(runDir, 2);
          }
          return n;
        }) as typeof fs.readSync,
      () => {
        exportBundle(db, dir, ['r1'], a);
      },
    );
    expect(swapped).toBe(true);
    expect(bundledCheckpoint(a, 'r1')).toEqual({ state: 1, model: 1 });
    // (b) the swap happens while the checkpoint's files are being opened: walked again, iteration 3 whole
    const b = join(tempDir(), 'b.tar');
    swapped = false;
    patchFs(
      'openSync',
      (orig) =>
        ((p: fs.PathLike, ...rest: unknown[]) => {
          if (!swapped && String(p).endsWith(join('checkpoint', 'model.pt'))) {
            const fd = (orig as (...x: unknown[]) => number)(p, ...rest);
            swapped = true;
            swapIn(runDir, 3);
            return fd;
          }
          return (orig as (...x: unknown[]) => number)(p, ...rest);
        }) as typeof fs.openSync,
      () => {
        const r = exportBundle(db, dir, ['r1'], b);
        expect(r.warnings).toEqual([]);
      },
    );
    expect(swapped).toBe(true);
    expect(bundledCheckpoint(b, 'r1')).toEqual({ state: 3, model: 3 });
    // (c) checkpoint.old vanishing under the export (the runner's rmtree) is reported, not fatal
    writeCheckpoint(join(runDir, 'checkpoint.old'), 2);
    const c = join(tempDir(), 'c.tar');
    patchFs(
      'openSync',
      (orig) =>
        ((p: fs.PathLike, ...rest: unknown[]) => {
          if (String(p).includes(`checkpoint.old`) && existsSync(join(runDir, 'checkpoint.old')))
            rmSync(join(runDir, 'checkpoint.old'), { recursive: true });
          return (orig as (...x: unknown[]) => number)(p, ...rest);
        }) as typeof fs.openSync,
      () => {
        const r = exportBundle(db, dir, ['r1'], c);
        expect(r.warnings.join('\n')).toMatch(/runs\/r1\/checkpoint\.old\/model\.pt vanished/);
      },
    );
    expect(Object.keys(inspectBundle(c).files).filter((p) => p.includes('checkpoint.old'))).toEqual([]);
    expect(bundledCheckpoint(c, 'r1')).toEqual({ state: 3, model: 3 });
    db.close();
  });

  it('carries infinite REAL values and integers beyond 2^53 exactly', () => {
    const { dir, db } = oneRun('r1');
    const big = 2n ** 60n + 1n;
    db.prepare("UPDATE runs SET exit_code = ?, progress_total = ? WHERE id = 'r1'").run(big, -(2n ** 62n) - 3n);
    const m = db.prepare("INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES ('r1', ?, 'loss', 0, ?, ?, 5.5)");
    m.run(1, 0, Infinity);
    m.run(2, 1, -Infinity);
    m.run(3, 2, 0.1);
    db.prepare("INSERT INTO run_events (run_id, seq, type, t) VALUES ('r1', ?, 'x', 1)").run(2n ** 53n + 1n);
    const f = join(tempDir(), 'b.tar');
    exportBundle(db, dir, ['r1'], f);
    const dst = tempDir();
    const db2 = openDatabase(databasePath(dst));
    expect(importBundle(db2, dst, f).rows).toMatchObject({ runs: 1, metrics: 3, run_events: 1 });
    db2.defaultSafeIntegers(true);
    expect(db2.prepare("SELECT exit_code, progress_total FROM runs WHERE id = 'r1'").get()).toEqual({
      exit_code: big,
      progress_total: -(2n ** 62n) - 3n,
    });
    expect(db2.prepare("SELECT seq FROM run_events WHERE run_id = 'r1'").all()).toEqual([{ seq: 2n ** 53n + 1n }]);
    db2.defaultSafeIntegers(false);
    expect(db2.prepare('SELECT value, typeof(value) AS ty, t FROM metrics ORDER BY seq').all()).toEqual([
      { value: Infinity, ty: 'real', t: 5.5 },
      { value: -Infinity, ty: 'real', t: 5.5 },
      { value: 0.1, ty: 'real', t: 5.5 },
    ]);
    db2.close();
    db.close();
  });

  it('refuses to export a run whose id no import would accept', () => {
    const { dir, db } = oneRun('has space');
    const f = join(tempDir(), 'b.tar');
    expect(() => exportBundle(db, dir, ['has space'], f)).toThrow(/run id "has space" .*cannot be exported/);
    expect(existsSync(f)).toBe(false);
    db.close();
  });

  it('refuses oversized pax headers and manifests without reading them', () => {
    const pax = hugeEntryTar('PaxHeader', 'x', (1 << 20) + 1);
    const fd = openSync(pax, 'r');
    expect(() => [...readTarEntries(fd)]).toThrow(/pax header at byte 0 is 1048577 bytes; at most 1048576 are allowed/);
    closeSync(fd);
    expectRefused(hugeEntryTar('././@LongLink', 'L', (1 << 20) + 1), /long-name header at byte 0 is 1048577 bytes/);
    expectRefused(hugeEntryTar('manifest.json', '0', (64 << 20) + 1), /manifest\.json is 67108865 bytes; at most 67108864 are allowed/);
  });

  it('refuses to back up onto the live database or its -wal/-shm, and removes stale sidecars of the target', async () => {
    const { dir, db } = oneRun('r1');
    const live = databasePath(dir);
    for (const target of [live, `${live}-wal`, `${live}-shm`, join(dir, '.', relative(dir, live))]) {
      await expect(backupDatabase(db, target, { overwrite: true })).rejects.toThrow(/is the live database/);
    }
    expect(integrityProblems(db)).toEqual([]);
    expect(db.prepare('SELECT count(*) AS n FROM runs').get()).toEqual({ n: 1 });
    // an older database at the target with a WAL it never checkpointed
    const out = join(tempDir(), 'old.db');
    const old = new Database(out);
    old.pragma('journal_mode = WAL');
    old.pragma('wal_autocheckpoint = 0');
    old.exec('CREATE TABLE junk (x); INSERT INTO junk VALUES (1), (2);');
    copyFileSync(`${out}-wal`, `${out}.keep-wal`);
    old.close();
    renameSync(`${out}.keep-wal`, `${out}-wal`);
    writeFileSync(`${out}-journal`, 'stale');
    await backupDatabase(db, out, { overwrite: true });
    expect(existsSync(`${out}-wal`)).toBe(false);
    expect(existsSync(`${out}-journal`)).toBe(false);
    const copy = openDatabase(out, { check: true });
    expect(copy.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'junk'").get()).toEqual({ n: 0 });
    expect(copy.prepare('SELECT id FROM runs').all()).toEqual([{ id: 'r1' }]);
    copy.close();
    db.close();
  });

  it('finishes a backup while another process writes every 50 ms', async () => {
    const { dir, db } = oneRun('r1');
    const ins = db.prepare("INSERT INTO logs (run_id, t, source, level, message) VALUES ('r1', ?, 'stdout', 'info', ?)");
    db.transaction(() => {
      for (let i = 0; i < 60_000; i++) ins.run(i, `line ${i} `.padEnd(1000, 'x'));
    })();
    const sqlite = createRequire(import.meta.url).resolve('better-sqlite3');
    const writer = spawn(
      process.execPath,
      [
        '-e',
        `
      const db = new (require(${JSON.stringify(sqlite)}))(${JSON.stringify(databasePath(dir))});
      db.pragma('busy_timeout = 5000');
      const s = db.prepare("INSERT INTO logs (run_id, t, source, level, message) VALUES ('r1', ?, 'stdout', 'info', 'tick')");
      let n = 0;
      setInterval(() => s.run(++n), 50);`,
      ],
      { stdio: 'inherit' },
    );
    try {
      const ticks = () =>
        db.prepare("SELECT count(*) AS n, coalesce(max(t), 0) AS last FROM logs WHERE message = 'tick'").get() as {
          n: number;
          last: number;
        };
      for (let i = 0; i < 200 && ticks().n < 3; i++) await new Promise((r) => setTimeout(r, 50));
      const before = ticks();
      expect(before.n).toBeGreaterThanOrEqual(3);
      const out = join(tempDir(), 'backup.db');
      let timer: NodeJS.Timeout | undefined;
      const r = await Promise.race([
        backupDatabase(db, out),
        new Promise<never>(
          (_, reject) =>
            (timer = setTimeout(() => reject(new Error('the backup did not finish in 40 s with a writer every 50 ms')), 40_000)),
        ),
      ]);
      clearTimeout(timer);
      expect(ticks().n).toBeGreaterThan(before.n); // the writer kept writing meanwhile
      expect(r.file).toBe(out);
      const copy = openDatabase(out, { check: true });
      expect(integrityProblems(copy)).toEqual([]);
      expect(copy.prepare("SELECT count(*) AS n FROM logs WHERE message != 'tick'").get()).toEqual({ n: 60_000 });
      // every tick committed before the backup started is in it
      expect(copy.prepare("SELECT count(*) AS n FROM logs WHERE message = 'tick' AND t <= ?").get(before.last)).toEqual({ n: before.last });
      copy.close();
    } finally {
      writer.kill();
      db.close();
    }
  }, 90_000);
});

describe('paths and messages (issue 13)', () => {
  /** The paths a bundle lists (`tar tf`), and every byte of it as text. */
  const listing = (f: string) => execFileSync('tar', ['-tf', f], { encoding: 'utf8' }).split('\n').filter(Boolean);

  it('leaves out a run directory that is a symbolic link out of the data dir: rows exported, directory not followed, a warning says why', () => {
    const { dir, db, runDir } = oneRun('r1');
    // runs/r1 → a folder elsewhere holding something that must not travel
    const elsewhere = tempDir();
    writeFileSync(join(elsewhere, 'id_rsa'), 'PRIVATE-KEY-MATERIAL');
    rmSync(runDir, { recursive: true });
    fs.symlinkSync(elsewhere, runDir);
    const f = join(tempDir(), 'b.tar');
    const r = exportBundle(db, dir, ['r1'], f);
    expect(r.missingDirs).toEqual([]);
    expect(r.warnings).toEqual([
      `runs/r1 left out: its run directory ${runDir} is a symbolic link, which a bundle does not follow; only the run's database rows are in the bundle`,
    ]);
    expect(listing(f).filter((p) => p.startsWith('runs/r1'))).toEqual([]);
    expect(readFileSync(f).includes('PRIVATE-KEY-MATERIAL')).toBe(false);
    expect(inspectBundle(f).tables.runs!.rows).toBe(1);
    // the rows import elsewhere (without a directory)
    const dst = tempDir();
    const db2 = openDatabase(databasePath(dst));
    expect(importBundle(db2, dst, f).imported).toEqual(['r1']);
    db2.close();

    // a run_dir recorded outside <dataDir>/runs (and none inside) is not followed either
    const outside = tempDir();
    writeFileSync(join(outside, 'config.json'), 'ELSEWHERE');
    rmSync(runDir);
    db.prepare("UPDATE runs SET run_dir = ? WHERE id = 'r1'").run(outside);
    const g = join(tempDir(), 'c.tar');
    const r2 = exportBundle(db, dir, ['r1'], g);
    expect(r2.warnings).toEqual([expect.stringMatching(/^runs\/r1 left out: its run directory .* is outside .*runs/)]);
    expect(listing(g).filter((p) => p.startsWith('runs/r1'))).toEqual([]);
    expect(readFileSync(g).includes('ELSEWHERE')).toBe(false);
    db.close();
  });

  it('never follows links inside a run directory: a checkpoint/ link and a file swapped for a link after listing', () => {
    const { dir, db, runDir } = oneRun('r1');
    const elsewhere = tempDir();
    writeFileSync(join(elsewhere, 'model.pt'), 'FOREIGN-WEIGHTS');
    fs.symlinkSync(elsewhere, join(runDir, 'checkpoint'));
    writeFileSync(join(runDir, 'stdout.log'), 'hello');
    const secret = join(tempDir(), 'secret.txt');
    writeFileSync(secret, 'SWAPPED-IN-SECRET');
    const f = join(tempDir(), 'b.tar');
    // stdout.log becomes a link between the walk (a regular file) and its open
    let swapped = false;
    patchFs(
      'openSync',
      (orig) =>
        ((...args: Parameters<typeof fs.openSync>) => {
          if (!swapped && String(args[0]).endsWith('stdout.log')) {
            swapped = true;
            rmSync(join(runDir, 'stdout.log'));
            fs.symlinkSync(secret, join(runDir, 'stdout.log'));
          }
          return (orig as (...x: unknown[]) => number)(...args);
        }) as typeof fs.openSync,
      () => {
        const r = exportBundle(db, dir, ['r1'], f);
        expect(r.skippedFiles.sort()).toEqual(['runs/r1/checkpoint', 'runs/r1/stdout.log']);
      },
    );
    expect(swapped).toBe(true);
    const bytes = readFileSync(f);
    expect(bytes.includes('FOREIGN-WEIGHTS')).toBe(false);
    expect(bytes.includes('SWAPPED-IN-SECRET')).toBe(false);
    expect(listing(f).filter((p) => p.startsWith('runs/r1/') && !p.endsWith('/'))).toEqual(['runs/r1/config.json']);
    db.close();
  });

  it('TarWriter.addFile refuses a link or a FIFO instead of following or blocking on it', () => {
    const d = tempDir();
    const target = join(d, 'target');
    writeFileSync(target, 'x');
    fs.symlinkSync(target, join(d, 'link'));
    execFileSync('mkfifo', [join(d, 'fifo')]);
    const fd = openSync(join(d, 'out.tar'), 'w');
    const tar = new TarWriter(fd);
    expect(() => tar.addFile('a', join(d, 'link'))).toThrow(NotRegularFileError);
    expect(() => tar.addFile('b', join(d, 'fifo'))).toThrow(NotRegularFileError);
    closeSync(fd);
  });

  it('never quotes the content of a file that is not a bundle in its error', () => {
    const SECRET = 'hunter2!';
    const d = tempDir();
    const cases: string[] = [];
    // a text file (its bytes land in the header's numeric fields: the old message quoted them)
    const text = join(d, 'shadow');
    writeFileSync(text, SECRET.repeat(200));
    cases.push(text);
    // a header whose checksum field is the secret
    const hdr = Buffer.alloc(1024, 0);
    hdr.write('x', 0);
    hdr.write(SECRET, 148, 'ascii');
    const h2 = join(d, 'hdr');
    writeFileSync(h2, hdr);
    cases.push(h2);
    for (const f of cases) {
      const dir = tempDir();
      const db = openDatabase(databasePath(dir));
      let message = '';
      try {
        importBundle(db, dir, f);
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toBe(`${f} is not a valid bundle: it is not a tar archive, so not a STaR Lab run bundle`);
      db.close();
    }
    // a real tar that is not a bundle: its entry names are not listed
    const inner = tempDir();
    writeFileSync(join(inner, `${SECRET}.txt`), SECRET);
    const plain = join(d, 'plain.tar');
    execFileSync('tar', ['-cf', plain, '-C', inner, `${SECRET}.txt`]);
    expectRefused(plain, /^(?!.*hunter2).*is not a STaR Lab run bundle \(no manifest\.json\)$/);
    // one with a symbolic link entry
    fs.symlinkSync('/etc/passwd', join(inner, 'hunter2-link'));
    const withLink = join(d, 'link.tar');
    execFileSync('tar', ['-cf', withLink, '-C', inner, 'hunter2-link']);
    expectRefused(withLink, /^(?!.*hunter2).*unsupported type \(symbolic link\)/);
    // one with a manifest.json that is not a bundle manifest: its values are not quoted
    writeFileSync(join(inner, 'manifest.json'), JSON.stringify({ format: SECRET }));
    const fake = join(d, 'fake.tar');
    execFileSync('tar', ['-cf', fake, '-C', inner, 'manifest.json', `${SECRET}.txt`]);
    expectRefused(fake, /^(?!.*hunter2).*is not a STaR Lab run bundle \(its manifest\.json is not a bundle manifest\)$/);
  });

  it('says in one sentence when the bundle path does not exist, is a folder or a FIFO (without hanging on it)', () => {
    const d = tempDir();
    const dir = tempDir();
    const db = openDatabase(databasePath(dir));
    expect(() => importBundle(db, dir, join(d, 'nope.tar'))).toThrow(
      new BundleError(`cannot read the bundle: ${join(d, 'nope.tar')} does not exist; check the path`),
    );
    expect(() => importBundle(db, dir, d)).toThrow(`${d} is a folder, not a bundle file`);
    execFileSync('mkfifo', [join(d, 'fifo.tar')]);
    expect(() => importBundle(db, dir, join(d, 'fifo.tar'))).toThrow(
      `${join(d, 'fifo.tar')} is not a regular file, so not a STaR Lab run bundle`,
    );
    db.close();
  });

  it('writes a bundle only to a new or regular file: a planted link, a folder or a FIFO is refused', () => {
    const { dir, db } = oneRun('r1');
    const d = tempDir();
    const victim = join(tempDir(), 'bashrc');
    writeFileSync(victim, 'keep me');
    fs.symlinkSync(victim, join(d, 'b.tar'));
    for (const overwrite of [false, true]) {
      expect(() => exportBundle(db, dir, ['r1'], join(d, 'b.tar'), { overwrite })).toThrow(BundleError);
      expect(() => exportBundle(db, dir, ['r1'], join(d, 'b.tar'), { overwrite })).toThrow(
        `cannot write the bundle: ${join(d, 'b.tar')} is a symbolic link`,
      );
    }
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    expect(() => exportBundle(db, dir, ['r1'], d, { overwrite: true })).toThrow(
      `cannot write the bundle: ${d} is a folder; give a file name such as ${join(d, 'runs.tar')}`,
    );
    execFileSync('mkfifo', [join(d, 'pipe.tar')]);
    expect(() => exportBundle(db, dir, ['r1'], join(d, 'pipe.tar'), { overwrite: true })).toThrow(
      /pipe\.tar is a FIFO \(named pipe\), not a regular file/,
    );
    expect(() => exportBundle(db, dir, ['r1'], join(d, 'no', 'such', 'b.tar'))).toThrow(
      `cannot write the bundle: a folder on the way to ${join(d, 'no', 'such', 'b.tar')} does not exist`,
    );
    // the existing-file refusal names --force when the CLI says so; nothing temporary is left
    writeFileSync(join(d, 'old.tar'), 'old');
    expect(() => exportBundle(db, dir, ['r1'], join(d, 'old.tar'), { forceOption: '--force' })).toThrow(
      /old\.tar already exists; choose another name, or pass --force to replace it/,
    );
    exportBundle(db, dir, ['r1'], join(d, 'old.tar'), { overwrite: true });
    expect(inspectBundle(join(d, 'old.tar')).runIds).toEqual(['r1']);
    expect(readdirSync(d).filter((n) => n.includes('.tmp-'))).toEqual([]);
    db.close();
  });

  it('backs up only onto a new or regular file: a FIFO, a device, a link or a folder is refused even with overwrite', async () => {
    const { db } = oneRun('r1');
    const d = tempDir();
    const fifo = join(d, 'pipe.db');
    execFileSync('mkfifo', [fifo]);
    await expect(backupDatabase(db, fifo, { overwrite: true })).rejects.toThrow(
      `cannot write the backup: ${fifo} is a FIFO (named pipe), not a regular file; choose another name`,
    );
    expect(fs.lstatSync(fifo).isFIFO()).toBe(true);
    await expect(backupDatabase(db, '/dev/null', { overwrite: true })).rejects.toThrow(
      'cannot write the backup: /dev/null is a device, not a regular file',
    );
    const victim = join(tempDir(), 'bashrc');
    writeFileSync(victim, 'keep me');
    fs.symlinkSync(victim, join(d, 'link.db'));
    await expect(backupDatabase(db, join(d, 'link.db'), { overwrite: true })).rejects.toThrow(
      `cannot write the backup: ${join(d, 'link.db')} is a symbolic link`,
    );
    expect(readFileSync(victim, 'utf8')).toBe('keep me');
    for (const overwrite of [false, true])
      await expect(backupDatabase(db, d, { overwrite })).rejects.toThrow(
        `cannot write the backup: ${d} is a folder; give a file name such as ${join(d, 'starlab-backup.db')}`,
      );
    // a file where a folder of the path should be: one sentence, not ENOTDIR/EEXIST
    writeFileSync(join(d, 'file'), 'x');
    const under = join(d, 'file', 'b.db');
    const e = await backupDatabase(db, under).catch((x: unknown) => x as Error);
    expect(e).toBeInstanceOf(BundleError);
    expect((e as Error).message).toMatch(new RegExp(`^cannot write the backup: .*${join(d, 'file')}.*; choose another location$`));
    expect(readdirSync(d).filter((n) => n.includes('.tmp-'))).toEqual([]);
    db.close();
  });
});
