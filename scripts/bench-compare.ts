/// <reference lib="dom" />
/**
 * Benchmark of the compare view with many long curves (issue 4: "50 runs of 10,000 points,
 * updates under a few hundred ms"). A scratch database gets N runs × P points of
 * eval/accuracy by step (real SQLite, the real schema), then:
 *
 *  1. pipeline (Node): getSeriesColumns from SQLite, and per update buildGroups (x mapping,
 *     smoothing, mean ± band over seeds) + the chart's LTTB downsampling to the plot width,
 *     next to a 1-run baseline measured the same way in the same process;
 *  2. browser (Chromium, the built UI over HTTP, unless --no-browser): the time from a
 *     control change to the next painted frame, for x → steps, smoothing, group by variant,
 *     show individual runs, log y, with the same for a 1-run selection as the baseline.
 *
 *   npm run bench:compare -- [--runs 50] [--points 10000] [--repeat 5] [--no-browser] [--debug] [--screenshot PREFIX]
 *
 * --debug prints every timed change from the page (its series and drawn point counts).
 *
 * Prints a table (median ms) and exits 1 when a median update over the full set exceeds
 * --budget-ms (default 300). Needs `npm run build` and Chromium for part 2.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../db/open';
import * as q from '../db/queries';
import { databasePath } from '../core/paths';
import { buildGroups, type CompareRun, type XKind } from '../renderer/src/compare';
import { MAX_GROUPS_WITH_RAW, pointsPerLine, thinAggregate, thinRun } from '../renderer/src/downsample';
import type { RunSummary, SeriesColumns } from '../shared/contract';
import { VARIANTS } from '../shared/catalogue';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}
const N_RUNS = Number(arg('runs', '50'));
const N_POINTS = Number(arg('points', '10000'));
const REPEAT = Number(arg('repeat', '5'));
const BUDGET_MS = Number(arg('budget-ms', '300'));
const BROWSER = !process.argv.includes('--no-browser');
const PLOT_WIDTH = 1000;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** A scratch database with runs of eval/accuracy logged at every step (a noisy rising curve). */
function seed(dataDir: string, nRuns: number, nPoints: number): string[] {
  const db = openDatabase(databasePath(dataDir));
  const ids: string[] = [];
  const insert = db.prepare('INSERT INTO metrics (run_id, seq, name, iteration, step, value, t) VALUES (?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let r = 0; r < nRuns; r++) {
      const variant = VARIANTS[r % VARIANTS.length]!;
      const id = `bench-${String(r).padStart(3, '0')}`;
      ids.push(id);
      q.insertRun(db, {
        id,
        variant,
        dataset: 'addition',
        preset: 'tiny',
        seed: Math.floor(r / VARIANTS.length),
        model: 'bench',
        config_json: JSON.stringify({ variant, dataset: 'addition', seed: Math.floor(r / VARIANTS.length) }),
        config_hash: 'bench',
        status: 'completed',
        created_at: 1_700_000_000 + r,
        started_at: 1_700_000_000 + r,
        ended_at: 1_700_000_000 + r + nPoints,
        run_dir: join(dataDir, 'runs', id),
      });
      let rng = 1234 + r;
      const rand = () => (rng = (rng * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
      const ceiling = 0.5 + 0.1 * (r % VARIANTS.length);
      for (let s = 0; s < nPoints; s++) {
        const v = ceiling * (1 - Math.exp(-s / (nPoints / 5))) + (rand() - 0.5) * 0.05;
        insert.run(id, s, 'eval/accuracy', Math.floor(s / (nPoints / 10)), s, Math.min(1, Math.max(0, v)), 1_700_000_000 + r + s);
      }
    }
  })();
  db.close();
  return ids;
}

interface Timing {
  what: string;
  full: number;
  baseline: number;
}

function pipelineBench(
  dataDir: string,
  ids: string[],
): { timings: Timing[]; fetchMs: number; fetchBaseMs: number; pointsIn: number; pointsOut: number } {
  const db = openDatabase(databasePath(dataDir));
  const summaries = new Map(q.listRuns(db).map((r) => [r.id, r]));
  const fetch = (sel: string[]) => {
    const t = performance.now();
    const s = q.getSeriesColumns(db, sel, ['eval/accuracy']);
    return { ms: performance.now() - t, series: s };
  };
  const full = fetch(ids);
  const base = fetch(ids.slice(0, 1));
  const fetchMs = median(Array.from({ length: REPEAT }, () => fetch(ids).ms));
  const fetchBaseMs = median(Array.from({ length: REPEAT }, () => fetch(ids.slice(0, 1)).ms));
  db.close();
  const runsOf = (sel: string[]): CompareRun[] => sel.map((id) => ({ summary: summaries.get(id) as RunSummary, config: {} }));
  let pointsOut = 0;
  const update = (
    sel: string[],
    series: Record<string, Record<string, SeriesColumns>>,
    o: { x: XKind; groupBy: string; smoothing: number; showRuns: boolean },
  ) => {
    const t = performance.now();
    const groups = buildGroups({
      runs: runsOf(sel),
      series,
      metric: 'eval/accuracy',
      x: o.x,
      groupBy: o.groupBy,
      template: o.groupBy === 'none' ? '{id}' : '{variant}',
      smoothing: o.smoothing,
      band: 'std',
    });
    let n = 0;
    // as CompareChart: every line cut to the plot width, less when many share the chart
    const withRaw = o.smoothing > 0 && groups.length <= MAX_GROUPS_WITH_RAW;
    const lines = groups.reduce((a, g) => a + (withRaw ? 2 : 1) + (o.showRuns && g.runs.length > 1 ? g.runs.length : 0), 0);
    const per = pointsPerLine(PLOT_WIDTH, lines);
    for (const g of groups) {
      n += thinAggregate(g.cols.smoothed, per, false).length;
      if (withRaw) n += thinAggregate(g.cols.raw, per, false).length;
      if (o.showRuns && g.runs.length > 1) for (const r of g.cols.runsSmoothed) n += thinRun(r, per, false).length;
    }
    pointsOut = n;
    return performance.now() - t;
  };
  const cases: [string, { x: XKind; groupBy: string; smoothing: number; showRuns: boolean }][] = [
    ['x = steps, one line per run', { x: 'step', groupBy: 'none', smoothing: 0, showRuns: false }],
    ['smoothing 0.9', { x: 'step', groupBy: 'none', smoothing: 0.9, showRuns: false }],
    ['group by variant (mean ± std)', { x: 'step', groupBy: 'variant', smoothing: 0.9, showRuns: false }],
    ['+ individual runs', { x: 'step', groupBy: 'variant', smoothing: 0.9, showRuns: true }],
    ['x = iteration', { x: 'iteration', groupBy: 'variant', smoothing: 0, showRuns: false }],
  ];
  // the first draw after a fetch maps every point to the axis (later updates reuse that, cached per fetched record)
  const fresh = (series: Record<string, Record<string, SeriesColumns>>) =>
    Object.fromEntries(Object.entries(series).map(([k, v]) => [k, { ...v }]));
  const cold = (sel: string[], series: Record<string, Record<string, SeriesColumns>>) =>
    median(Array.from({ length: REPEAT }, () => update(sel, fresh(series), cases[0]![1])));
  const coldRow = { what: 'first draw after a fetch', full: cold(ids, full.series), baseline: cold(ids.slice(0, 1), base.series) };
  const timings = [
    coldRow,
    ...cases.map(([what, o]) => {
      update(ids, full.series, o); // warm
      return {
        what,
        full: median(Array.from({ length: REPEAT }, () => update(ids, full.series, o))),
        baseline: median(Array.from({ length: REPEAT }, () => update(ids.slice(0, 1), base.series, o))),
      };
    }),
  ];
  update(ids, full.series, cases[3]![1]);
  return { timings, fetchMs, fetchBaseMs, pointsIn: ids.length * N_POINTS, pointsOut };
}

async function browserBench(dataDir: string, ids: string[]): Promise<Timing[]> {
  const { launchBrowser, startServer } = await import('../tests/e2e/lib');
  const server = await startServer(dataDir);
  const browser = await launchBrowser(server); // holds the server's token cookie
  try {
    const page = await browser.context.newPage();
    // tsx (esbuild keepNames) wraps named functions in __name(), also those sent to page.evaluate
    await page.addInitScript(`globalThis.__name = (f) => f; globalThis.__benchDebug = ${process.argv.includes('--debug')};`);
    page.on('console', (m) => process.argv.includes('--debug') && console.log(`  [page] ${m.text()}`));
    const measure = async (sel: string[]): Promise<Record<string, number>> => {
      await page.goto(`${server.url}/#/compare?runs=${sel.join(',')}`);
      await page.getByTestId('compare-chart').waitFor();
      await page.waitForFunction(
        (n) => document.querySelector('[data-testid=compare-chart]')?.getAttribute('data-series-count') === String(n),
        sel.length,
        { timeout: 60_000 },
      );
      // one control change, timed from the event until the chart shows it (its data-* attribute) and the next frame is painted
      const time = (testId: string, action: 'select' | 'check' | 'range', value: string, attr?: [string, string]) =>
        page.evaluate(
          async ({ testId, action, value, attr }) => {
            const el = document.querySelector(`[data-testid="${testId}"]`) as HTMLInputElement | HTMLSelectElement;
            const chart = () => document.querySelector('[data-testid=compare-chart]');
            const t0 = performance.now();
            if (action === 'check') (el as HTMLInputElement).click();
            else {
              const proto = action === 'select' ? HTMLSelectElement.prototype : HTMLInputElement.prototype;
              Object.getOwnPropertyDescriptor(proto, 'value')!.set!.call(el, value);
              el.dispatchEvent(new Event(action === 'select' ? 'change' : 'input', { bubbles: true }));
            }
            const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
            await frame();
            while (attr && chart()?.getAttribute(attr[0]) !== attr[1]) {
              if (performance.now() - t0 > 30_000) throw new Error(`the chart never showed ${attr[0]}=${attr[1]}`);
              await frame();
            }
            const took = performance.now() - t0;
            if ((globalThis as { __benchDebug?: boolean }).__benchDebug)
              console.log(
                `${testId}=${value}: ${took.toFixed(1)} ms, series ${chart()?.getAttribute('data-series-count')}, points ${chart()?.getAttribute('data-points')}`,
              );
            return took;
          },
          { testId, action, value, attr },
        );
      const out: Record<string, number> = {};
      const runs: [string, () => Promise<number>, () => Promise<unknown>][] = [
        [
          'smoothing 0.9',
          () => time('compare-smoothing', 'range', '0.9', ['data-smoothing', '0.9']),
          () => time('compare-smoothing', 'range', '0', ['data-smoothing', '0']),
        ],
        [
          'show individual runs',
          () => time('compare-show-runs', 'check', '', ['data-show-runs', 'yes']),
          () => time('compare-show-runs', 'check', '', ['data-show-runs', 'no']),
        ],
        [
          'log y',
          () => time('compare-ylog', 'check', '', ['data-y-scale', 'log']),
          () => time('compare-ylog', 'check', '', ['data-y-scale', 'linear']),
        ],
      ];
      // x = steps fetches nothing new (the series are by step already): the first switch maps every point, later ones reuse it
      const xs: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        xs.push(await time('compare-x', 'select', 'step', ['data-x-label', 'training steps']));
        if (i < REPEAT - 1) await time('compare-x', 'select', 'iteration', ['data-x-label', 'iteration']);
      }
      out['x = steps (first switch)'] = xs[0]!;
      out['x = steps (again)'] = median(xs.slice(1));
      await page.waitForTimeout(500);
      for (const [what, go, back] of runs) {
        const xs: number[] = [];
        for (let i = 0; i < REPEAT; i++) {
          xs.push(await go());
          await back();
        }
        out[what] = median(xs);
      }
      const g: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        await time('compare-group-by', 'select', 'variant');
        await page.waitForTimeout(300); // the group-by input is debounced (250 ms): time the render after it
        const v = String(Number((0.5 + i * 0.05).toFixed(2)));
        g.push(await time('compare-smoothing', 'range', v, ['data-smoothing', v]));
        await time('compare-group-by', 'select', 'none');
        await page.waitForTimeout(300);
      }
      out['smoothing, grouped by variant'] = median(g);
      const shot = arg('screenshot', '');
      if (shot) {
        await page.screenshot({ path: `${shot}-${sel.length}-runs.png`, fullPage: true });
        await time('compare-group-by', 'select', 'variant');
        await page.waitForTimeout(500);
        await page.screenshot({ path: `${shot}-${sel.length}-runs-by-variant.png`, fullPage: true });
      }
      return out;
    };
    const full = await measure(ids);
    const base = await measure(ids.slice(0, 1));
    return Object.keys(full).map((what) => ({ what, full: full[what]!, baseline: base[what]! }));
  } finally {
    await browser.close();
    await server.stop();
  }
}

function table(title: string, rows: Timing[]): void {
  console.log(`\n${title}`);
  console.log(`${'update'.padEnd(34)} ${`${N_RUNS} runs`.padStart(10)} ${'1 run'.padStart(10)}`);
  for (const r of rows) console.log(`${r.what.padEnd(34)} ${r.full.toFixed(1).padStart(8)}ms ${r.baseline.toFixed(1).padStart(8)}ms`);
}

const dataDir = mkdtempSync(join(tmpdir(), 'starlab-bench-compare-'));
try {
  const t = performance.now();
  const ids = seed(dataDir, N_RUNS, N_POINTS);
  console.log(
    `seeded ${N_RUNS} runs × ${N_POINTS} points of eval/accuracy in ${((performance.now() - t) / 1000).toFixed(1)} s (${dataDir})`,
  );
  const p = pipelineBench(dataDir, ids);
  console.log(
    `getSeriesColumns (SQLite): ${p.fetchMs.toFixed(1)} ms for ${N_RUNS} runs, ${p.fetchBaseMs.toFixed(1)} ms for 1 run (median of ${REPEAT})`,
  );
  console.log(`points: ${p.pointsIn} stored → ${p.pointsOut} drawn (group by variant + runs, ${PLOT_WIDTH} px plot)`);
  table(`pipeline (Node, median of ${REPEAT}): buildGroups + downsampling`, p.timings);
  let worst = Math.max(...p.timings.map((x) => x.full));
  if (BROWSER) {
    const b = await browserBench(dataDir, ids);
    table(`browser (Chromium, built UI; median of ${REPEAT}): control change → next frame`, b);
    worst = Math.max(worst, ...b.map((x) => x.full));
  }
  console.log(`\nslowest median update: ${worst.toFixed(1)} ms (budget ${BUDGET_MS} ms)`);
  if (worst > BUDGET_MS) process.exitCode = 1;
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
