/**
 * Bounded work per input (issue 13): one event line costs at most what the limits allow
 * (bytes, members, metric names; the tailer skips an over-long line in bounded steps without
 * holding it), getRun returns bounded metrics with a paged command for the exact points, and
 * "__proto__" as an override or sweep key is refused on every face instead of being dropped.
 */
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type DB } from '../../db/open';
import { getMetricPoints, getRun, insertRun } from '../../db/queries';
import { ingestEventsFile, readCompleteLines } from '../../core/tailer';
import { EVENT_LIMITS, jsonShape, MAX_EVENT_LINE_BYTES, parseEventLine, runEventJsonSchema } from '../../shared/protocol';
import { METRIC_POINTS_PAGE_MAX, parseCommandArgs, RUN_DETAIL_METRIC_LIMITS } from '../../shared/contract';
import { createService } from '../../core/service';
import { databasePath } from '../../core/paths';
import { parseForm } from '../../renderer/src/launch-form';
import { parseSweeps } from '../../renderer/src/ablation-form';
import { startServer } from '../../server/http';
import { cleanupTempDirs, ev, FAKE_PYTHON, fakeCommand, insertTestRun, REPO, RUN_START_FIELDS, SPEC, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

const RUN = 'run1';
let db: DB;
let dir: string;
let file: string;

beforeEach(() => {
  dir = tempDir();
  file = join(dir, 'events.jsonl');
  db = openDatabase(join(dir, 'starlab.db'));
  insertTestRun(db, RUN, dir);
});

/** The CLI from source, as its own process. */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', ...args],
      { cwd: REPO, env: { ...process.env, STARLAB_PYTHON: FAKE_PYTHON }, timeout: 60_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const limits = JSON.parse(readFileSync(join(REPO, 'experiments', 'starlab', 'limits.json'), 'utf8')) as Record<string, number>;

/** A metrics line with n names of about 20 bytes each. */
function metricsLine(seq: number, n: number): string {
  const values: Record<string, number> = {};
  for (let i = 0; i < n; i++) values[`train/metric_${i}`] = i / 7;
  return ev(seq, 'metrics', { iteration: 0, step: seq, values });
}

describe('limits on one event line', () => {
  it('come from experiments/starlab/limits.json, and the JSON Schema carries them', () => {
    expect(EVENT_LIMITS).toEqual({
      maxLineBytes: limits.max_line_bytes,
      maxMembers: limits.max_members,
      maxMetricNames: limits.max_metric_names,
      maxDepth: limits.max_depth,
    });
    const schema = runEventJsonSchema() as Record<string, unknown>;
    expect(schema['x-starlab-limits']).toEqual({
      max_line_bytes: limits.max_line_bytes,
      max_members: limits.max_members,
      max_metric_names: limits.max_metric_names,
      max_depth: limits.max_depth,
    });
    // the committed schema file is the generated one
    const committed = JSON.parse(readFileSync(join(REPO, 'shared', 'schema', 'run-events.v1.json'), 'utf8')) as Record<string, unknown>;
    expect(committed['x-starlab-limits']).toEqual(schema['x-starlab-limits']);
  });

  it('counts members and depth before parsing exactly as the parsed value has them (strings, escapes, unicode)', () => {
    const count = (v: unknown, d = 1): { depth: number; members: number } => {
      if (Array.isArray(v))
        return v
          .map((x) => count(x, d + 1))
          .reduce((a, b) => ({ depth: Math.max(a.depth, b.depth), members: a.members + b.members }), { depth: d, members: 0 });
      if (v && typeof v === 'object')
        return Object.values(v)
          .map((x) => count(x, d + 1))
          .reduce((a, b) => ({ depth: Math.max(a.depth, b.depth), members: a.members + b.members }), {
            depth: d,
            members: Object.keys(v).length,
          });
      return { depth: d - 1, members: 0 };
    };
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
        const text = JSON.stringify(v);
        expect(jsonShape(text)).toEqual(count(JSON.parse(text)));
      }),
      { numRuns: 500 },
    );
    expect(jsonShape(JSON.stringify({ 'a\\': '\\"{:[', b: [{ 'c:': 1 }] }))).toEqual({ depth: 3, members: 3 });
  });

  it('refuses a line over the byte limit, counted in UTF-8 bytes, with the reason', () => {
    const pad = 'é'.repeat(Math.ceil(MAX_EVENT_LINE_BYTES / 2)); // fewer characters than the limit, more bytes
    const line = ev(1, 'log', { level: 'info', message: pad });
    expect(line.length).toBeLessThan(MAX_EVENT_LINE_BYTES);
    const p = parseEventLine(line);
    expect(p).toEqual({
      kind: 'malformed',
      reason: `line is ${Buffer.byteLength(line).toLocaleString('en-US')} bytes, over the limit of ${MAX_EVENT_LINE_BYTES.toLocaleString('en-US')}`,
    });
    expect(parseEventLine(ev(1, 'log', { level: 'info', message: 'é'.repeat(1000) })).kind).toBe('event');
  });

  it('refuses an event with too many keys before parsing it, and a metrics event with too many names', () => {
    const many = metricsLine(1, 150_000);
    expect(Buffer.byteLength(many)).toBeLessThan(MAX_EVENT_LINE_BYTES);
    const t0 = performance.now();
    expect(parseEventLine(many)).toEqual({ kind: 'malformed', reason: 'event has 150,007 keys, over the limit of 50,000' });
    expect(performance.now() - t0).toBeLessThan(500);
    // keys inside strings are not members
    expect(parseEventLine(ev(1, 'log', { level: 'info', message: '{"a":1,"b":2}'.repeat(50_000) })).kind).toBe('event');
    const names = parseEventLine(metricsLine(2, EVENT_LIMITS.maxMetricNames + 1));
    expect(names).toEqual({
      kind: 'malformed',
      reason: 'bad metrics event (seq 2): values: 10,001 metric names, over the limit of 10,000',
    });
    expect(parseEventLine(metricsLine(3, EVENT_LIMITS.maxMetricNames)).kind).toBe('event');
    // a samples event as the variants write it (200 samples, ~14 fields each) is far inside the limits
    const item = {
      question_id: 'q',
      split: 'train',
      kind: 'direct',
      question: 'Q'.repeat(4000),
      text: 'T'.repeat(8000),
      answer: '1',
      gold: '1',
      correct: true,
      hint_used: false,
      kept: true,
      difficulty: 3,
      scores: { a: 1, b: 2, c: 3 },
    };
    expect(parseEventLine(ev(4, 'samples', { iteration: 0, items: Array.from({ length: 200 }, () => item) })).kind).toBe('event');
  });
});

describe('what a maximal line costs', () => {
  it('a line at the limits (bytes, then members) is parsed and validated in well under a second', () => {
    const item = {
      question_id: 'q',
      split: 'train',
      kind: 'direct',
      question: 'Q'.repeat(1000),
      text: 'é "x"\n'.repeat(2000),
      answer: '1',
      gold: '1',
      correct: true,
      hint_used: false,
    };
    const itemBytes = Buffer.byteLength(JSON.stringify(item)) + 1;
    const bytesLine = ev(2, 'samples', {
      iteration: 0,
      items: Array.from({ length: Math.floor((MAX_EVENT_LINE_BYTES - 200) / itemBytes) }, () => item),
    });
    expect(Buffer.byteLength(bytesLine)).toBeGreaterThan(MAX_EVENT_LINE_BYTES * 0.95);
    const config: Record<string, string> = {};
    for (let i = 0; i < EVENT_LIMITS.maxMembers - 30; i++) config[`k${i}`] = 'v'.repeat(40);
    const membersLine = ev(1, 'run_start', { ...RUN_START_FIELDS, config });
    for (const line of [Buffer.from(bytesLine).toString(), Buffer.from(membersLine).toString()]) {
      parseEventLine(line); // warm
      const t0 = performance.now();
      expect(parseEventLine(line).kind).toBe('event');
      expect(performance.now() - t0).toBeLessThan(1000);
    }
  });
});

describe('the tailer and a huge line', () => {
  it('skips a 50 MB line in bounded steps, never holding it, and ingests every other event', () => {
    writeFileSync(
      file,
      [ev(1, 'run_start', RUN_START_FIELDS), ev(2, 'metrics', { iteration: 0, step: 1, values: { 'train/loss': 1 } })].join('\n') + '\n',
    );
    const values: Record<string, number> = {};
    for (let i = 0; i < 2_000_000; i++) values[`train/m${i}`] = i;
    const huge = ev(3, 'metrics', { iteration: 0, step: 3, values }); // ~48 MB, 2 million names
    expect(Buffer.byteLength(huge)).toBeGreaterThan(45_000_000);
    appendFileSync(file, huge + '\n');
    appendFileSync(
      file,
      [ev(4, 'metrics', { iteration: 0, step: 2, values: { 'train/loss': 0.5 } }), ev(5, 'run_end', { status: 'completed' })].join('\n') +
        '\n',
    );
    // the supervisor's tick batches: 200 lines / 1 MiB, one batch per call
    const calls: number[] = [];
    const heldChars: number[] = [];
    let total = { applied: 0, malformed: 0 };
    for (let i = 0; i < 100; i++) {
      const t0 = performance.now();
      const st = ingestEventsFile(db, RUN, file, { maxLines: 200, maxBytes: 1024 * 1024, maxBatches: 1 });
      calls.push(performance.now() - t0);
      total = { applied: total.applied + st.applied, malformed: total.malformed + st.malformed };
      if (!st.more) break;
    }
    expect(total).toEqual({ applied: 4, malformed: 1 });
    expect(calls.length).toBeGreaterThan(3); // in steps, not one pass
    expect(Math.max(...calls)).toBeLessThan(250);
    const rejected = db.prepare('SELECT line_no, reason, length(text) AS n FROM rejected_lines WHERE run_id = ?').all(RUN) as {
      line_no: number;
      reason: string;
      n: number;
    }[];
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.line_no).toBe(3);
    expect(rejected[0]!.reason).toBe(
      `line is ${Buffer.byteLength(huge).toLocaleString('en-US')} bytes, over the limit of ${MAX_EVENT_LINE_BYTES.toLocaleString('en-US')}`,
    );
    expect(getRun(db, RUN)!.metrics['train/loss']!.map((p) => p.value)).toEqual([1, 0.5]);
    // what a read hands over for the skipped line: its head only
    const r = readCompleteLines(
      file,
      Buffer.byteLength(
        [ev(1, 'run_start', RUN_START_FIELDS), ev(2, 'metrics', { iteration: 0, step: 1, values: { 'train/loss': 1 } })].join('\n') + '\n',
      ),
      2,
      { maxBytes: 1024 * 1024, maxScanBytes: 1024 * 1024 * 1024 },
    );
    heldChars.push(...r.lines.map((l) => l.text.length));
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]!.overLimitBytes).toBe(Buffer.byteLength(huge));
    expect(Math.max(...heldChars)).toBeLessThanOrEqual(4096);
  });

  it('reads a line longer than a batch but within the limit whole, even when its end is found over several calls', () => {
    const item = {
      question_id: 'q',
      split: 'train',
      kind: 'direct',
      question: 'Q',
      text: 'x'.repeat(10_000),
      answer: '1',
      gold: '1',
      correct: true,
      hint_used: false,
    };
    const big = ev(2, 'samples', { iteration: 0, items: Array.from({ length: 300 }, (_, i) => ({ ...item, question_id: `q${i}` })) }); // ~3 MB
    writeFileSync(file, [ev(1, 'run_start', RUN_START_FIELDS), big, ev(3, 'heartbeat')].join('\n') + '\n');
    let applied = 0;
    let calls = 0;
    for (; calls < 100; calls++) {
      const st = ingestEventsFile(db, RUN, file, { maxBytes: 256 * 1024, maxScanBytes: 512 * 1024, maxBatches: 1 });
      applied += st.applied;
      if (!st.more) break;
    }
    expect(applied).toBe(3);
    expect(calls).toBeGreaterThan(3);
    expect((db.prepare('SELECT count(*) AS n FROM samples WHERE run_id = ?').get(RUN) as { n: number }).n).toBe(300);
  });

  it('waits for the newline of a long line still being written, without scanning it again from its start', () => {
    writeFileSync(file, ev(1, 'run_start', RUN_START_FIELDS) + '\n' + '{"v":1,"seq":2,' + ' '.repeat(3 * 1024 * 1024));
    expect(ingestEventsFile(db, RUN, file, { maxBytes: 1024 * 1024, maxBatches: Infinity }).applied).toBe(1);
    appendFileSync(file, ' '.repeat(1024 * 1024));
    expect(ingestEventsFile(db, RUN, file, { maxBytes: 1024 * 1024, maxBatches: Infinity }).applied).toBe(0);
    appendFileSync(file, '"t":1,"type":"heartbeat"}\n' + ev(3, 'heartbeat') + '\n');
    expect(ingestEventsFile(db, RUN, file, { maxBytes: 1024 * 1024, maxBatches: Infinity }).applied).toBe(2);
  });
});

describe('getRun is bounded; getMetricPoints pages the exact points', () => {
  function fill(): void {
    const ins = db.prepare('INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES (?, ?, ?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 50_000; i++)
        ins.run(RUN, 10 + i, 'train/loss', 0, i, i === 31_337 ? 99 : i === 4242 ? -99 : Math.sin(i / 100), i);
      for (let n = 0; n < RUN_DETAIL_METRIC_LIMITS.names + 500; n++)
        ins.run(RUN, 100_000 + n, `a/custom_${String(n).padStart(5, '0')}`, 0, 1, n, 1);
      for (let i = 0; i < 5; i++) ins.run(RUN, 200_000 + i, 'eval/accuracy', i, i, i / 10, i);
    })();
  }

  it('returns at most the limits, with counts, the extremes and the last point kept', () => {
    fill();
    const t0 = performance.now();
    const d = getRun(db, RUN)!;
    const ms = performance.now() - t0;
    const bytes = JSON.stringify(d).length;
    expect(d.metricsDownsampled).toBe(true);
    expect(Object.keys(d.metrics)).toHaveLength(RUN_DETAIL_METRIC_LIMITS.names);
    expect(d.metricNamesOmitted).toBe(502); // 2,500 custom + 2 of ours, 2,000 kept
    // the app's own metrics are kept first
    expect(d.metrics['eval/accuracy']!.map((p) => p.value)).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
    const loss = d.metrics['train/loss']!;
    expect(loss.length).toBeLessThanOrEqual(RUN_DETAIL_METRIC_LIMITS.pointsPerName);
    expect(d.metricCounts['train/loss']).toBe(50_000);
    expect(loss[0]!.step).toBe(0);
    expect(loss[loss.length - 1]!.step).toBe(49_999);
    expect(loss.some((p) => p.value === 99) && loss.some((p) => p.value === -99)).toBe(true);
    expect(loss.every((p, i) => i === 0 || p.step > loss[i - 1]!.step)).toBe(true);
    const points = Object.values(d.metrics).reduce((a, p) => a + p.length, 0);
    expect(points).toBeLessThanOrEqual(RUN_DETAIL_METRIC_LIMITS.totalPoints);
    expect(bytes).toBeLessThan(8 * 1024 * 1024);
    console.log(`getRun: ${bytes} bytes, ${points} points, ${ms.toFixed(0)} ms`);
  });

  it('a small run is returned whole, not marked downsampled', () => {
    writeFileSync(
      file,
      [
        ev(1, 'run_start', RUN_START_FIELDS),
        ev(2, 'metrics', { iteration: 0, step: 1, values: { 'train/loss': 1, 'eval/accuracy': 0.5 } }),
      ].join('\n') + '\n',
    );
    ingestEventsFile(db, RUN, file);
    const d = getRun(db, RUN)!;
    expect(d.metricsDownsampled).toBe(false);
    expect(d.metricNamesOmitted).toBe(0);
    expect(d.metricCounts).toEqual({ 'eval/accuracy': 1, 'train/loss': 1 });
  });

  it('pages through every point in (step, seq) order', () => {
    fill();
    const all: number[] = [];
    let after: { step: number; seq: number } | undefined;
    let pages = 0;
    do {
      const p = getMetricPoints(db, RUN, { name: 'train/loss', ...(after ? { after } : {}), limit: 7_000 });
      expect(p.total).toBe(50_000);
      all.push(...p.points.map((x) => x.step));
      after = p.next ?? undefined;
      pages++;
    } while (after);
    expect(pages).toBe(8);
    expect(all).toEqual(Array.from({ length: 50_000 }, (_, i) => i));
    expect(getMetricPoints(db, RUN, { name: 'train/loss' }).points).toHaveLength(METRIC_POINTS_PAGE_MAX);
    expect(getMetricPoints(db, RUN, { name: 'nope' })).toEqual({ name: 'nope', total: 0, points: [], next: null });
    const tooMany = parseCommandArgs('getMetricPoints', [RUN, { name: 'train/loss', limit: METRIC_POINTS_PAGE_MAX + 1 }]);
    expect(tooMany.ok).toBe(false);
  });
});

describe('starlab show --json keeps its promise of every point', () => {
  it("pages through getMetricPoints past getRun's bound", async () => {
    const dataDir = join(dir, 'show');
    const sdb = openDatabase(databasePath(dataDir));
    insertRun(sdb, {
      id: 'r-show',
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: 0,
      model: 'm',
      config_json: '{}',
      config_hash: 'h',
      status: 'completed',
      created_at: 1,
      run_dir: join(dataDir, 'runs', 'r-show'),
    });
    const ins = sdb.prepare('INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES (?, ?, ?, ?, ?, ?, ?)');
    const n = RUN_DETAIL_METRIC_LIMITS.pointsPerName * 2 + METRIC_POINTS_PAGE_MAX + 7;
    sdb.transaction(() => {
      for (let i = 0; i < n; i++) ins.run('r-show', 1 + i, 'train/loss', 0, i, i / 2, i);
    })();
    sdb.close();
    const out = await cli(['show', 'r-show', '--json', '--data-dir', dataDir]);
    expect(out.code).toBe(0);
    const shown = JSON.parse(out.stdout) as { metrics: Record<string, { step: number; value: number }[]> };
    expect(shown.metrics['train/loss']).toHaveLength(n);
    expect(shown.metrics['train/loss']!.every((p, i) => p.step === i && p.value === i / 2)).toBe(true);
    const text = await cli(['show', 'r-show', '--data-dir', dataDir]);
    expect(text.stdout).toMatch(new RegExp(`train/loss .*; ${n} points\\)`));
  });
});

describe('"__proto__" as an override or sweep key', () => {
  const proto = () => JSON.parse('{"__proto__":"1"}') as Record<string, string>;

  it('is refused by the contract, naming the field, for launches and ablations', () => {
    for (const cmd of ['launchRun', 'validateLaunch'] as const) {
      const r = parseCommandArgs(cmd, [{ ...SPEC, overrides: proto() }]);
      expect(r.ok).toBe(false);
      expect(!r.ok && r.error).toMatch(/overrides\.__proto__: /);
    }
    const abl = { variants: ['star'], datasets: ['addition'], seeds: [0], preset: 'tiny' };
    const o = parseCommandArgs('planAblation', [{ ...abl, overrides: proto() }]);
    expect(!o.ok && o.error).toMatch(/overrides\.__proto__: /);
    const g = parseCommandArgs('createAblation', [{ ...abl, grid: JSON.parse('{"__proto__":["1","2"]}') }]);
    expect(!g.ok && g.error).toMatch(/grid\.__proto__: /);
    for (const k of ['constructor', 'prototype']) {
      const r = parseCommandArgs('launchRun', [{ ...SPEC, overrides: { [k]: '1' } }]);
      expect(!r.ok && r.error).toMatch(new RegExp(`overrides\\.${k}: `));
    }
    const fine = parseCommandArgs('launchRun', [{ ...SPEC, overrides: { 'loop.iterations': '2' } }]);
    expect(fine.ok && fine.args[0].overrides).toEqual({ 'loop.iterations': '2' });
  });

  it('is refused by the launch and ablation forms as typed, with the same field', () => {
    const launch = parseForm({
      variant: 'star',
      dataset: 'addition',
      preset: 'tiny',
      seed: '0',
      overrides: '__proto__=1\nloop.iterations=2\nconstructor=3',
    });
    expect(launch.local.map((e) => e.field)).toEqual(['overrides.__proto__', 'overrides.constructor']);
    expect(launch.local[0]!.message).toMatch(/cannot be a config key/);
    const sweeps = parseSweeps('__proto__=1,2\nloop.lr=0.1,0.2');
    expect(sweeps.errors.map((e) => e.field)).toEqual(['grid.__proto__']);
    expect(Object.keys(sweeps.grid)).toEqual(['loop.lr']);
  });

  it('is refused over HTTP, and nothing is launched', async () => {
    const service = createService({ dataDir: join(dir, 'data'), commandFor: fakeCommand('complete'), pollMs: 100 });
    const srv = await startServer({ service, host: '127.0.0.1', port: 0, staticDir: null, token: 'bounds-test-token' });
    try {
      const post = (name: string, body: string) =>
        new Promise<{ status: number; json: { ok: boolean; error?: string; result?: unknown } }>((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port: srv.port,
              method: 'POST',
              path: `/api/cmd/${name}`,
              headers: { 'content-type': 'application/json', authorization: 'Bearer bounds-test-token' },
            },
            (res) => {
              const chunks: Buffer[] = [];
              res.on('data', (c: Buffer) => chunks.push(c));
              res.on('end', () => resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) }));
            },
          );
          req.on('error', reject);
          req.end(body);
        });
      // the body as a client sends it: JSON text with a "__proto__" key
      const r = await post('launchRun', `[{"variant":"star","dataset":"addition","preset":"tiny","overrides":{"__proto__":"1"}}]`);
      expect(r.status).toBe(400);
      expect(r.json.error).toMatch(/overrides\.__proto__: /);
      const g = await post(
        'planAblation',
        `[{"variants":["star"],"datasets":["addition"],"seeds":[0],"preset":"tiny","grid":{"__proto__":["1","2"]}}]`,
      );
      expect(g.status).toBe(400);
      expect(g.json.error).toMatch(/grid\.__proto__: /);
      expect((await post('listRuns', '[]')).json.result).toEqual([]);
      const page = await post('getMetricPoints', `["${RUN}",{"name":"x","limit":${METRIC_POINTS_PAGE_MAX + 1}}]`);
      expect(page.status).toBe(400);
    } finally {
      await srv.close();
      service.close();
    }
  });

  it('is refused by the CLI: ablate --sweep __proto__=1,2 --dry-run exits 2 naming overrides.__proto__', async () => {
    const out = await cli([
      'ablate',
      '--variants',
      'star',
      '--datasets',
      'addition',
      '--seeds',
      '0',
      '--preset',
      'tiny',
      '--sweep',
      '__proto__=1,2',
      '--dry-run',
      '--data-dir',
      join(dir, 'cli'),
    ]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/overrides\.__proto__: .*unknown key "__proto__"/);
    expect(out.stdout).not.toMatch(/runs/);
  });
});
