/**
 * Scenario (e): an ablation from the GUI — 2 variants × 2 seeds with the micro overrides —
 * queued two at a time (Settings → Queue), followed on its group page to the end, compared
 * (bands over seeds, regrouped, another x-axis, per-difficulty curves), exported in every
 * format from the GUI (the group's figure set and the compare chart, as browser downloads)
 * and from the CLI; the files are checked: SVG renders in Chromium, PDF fonts embedded
 * (pdffonts) with its labels extractable (pdftotext), PNG sizes, CSV numbers = `starlab show`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT, apiCall, check, log, screenshot, waitFor, watchPage, type Browser, type Server } from './lib';
import { microOverrides } from './scenario-variants';

const RUN_TIMEOUT_MS = Number(process.env['STARLAB_E2E_RUN_TIMEOUT_MS'] ?? 240_000);

export async function scenarioAblation(browser: Browser, server: Server): Promise<void> {
  const page = await browser.context.newPage();
  const watch = await watchPage(page);
  await page.goto(`${server.url}/#/settings`);
  // the form shows the stored settings first (an edit made before they arrive is kept, too)
  await waitFor('the queue settings to load', async () => (await page.getByTestId('queue-max').inputValue()) !== '', 10_000);
  await page.getByTestId('queue-max').fill('2');
  await page.getByTestId('queue-save').click();
  await waitFor(
    'the queue setting to be saved',
    async () => (await apiCall(server.url, 'getSettings', [])).body?.result?.maxConcurrent === 2,
    10_000,
  );

  await page.goto(`${server.url}/#/ablate`);
  await page.getByTestId('ablate-form').waitFor();
  // an empty form is not a mistake yet: its errors wait for the first input
  await page.waitForTimeout(800);
  check((await page.locator('[data-testid^="ablate-error-"]').count()) === 0, 'the New ablation form shows errors before any input');
  await page.getByTestId('ablate-variant-star').check();
  await page.getByTestId('ablate-variant-star-norat').check();
  await page.getByTestId('ablate-dataset-addition').check();
  await page.getByTestId('ablate-seeds').fill('0,1');
  await page.getByTestId('ablate-name').fill('e2e ablation');
  await page.getByTestId('ablate-overrides').fill(microOverrides('star', 'addition').join('\n'));
  await waitFor('a 4-run plan', async () => (await page.getByTestId('ablate-plan-count').textContent())?.trim() === '4', 10_000);
  await screenshot(page, 'ablate-plan');
  await page.getByTestId('ablate-submit').click();
  await page.waitForURL(/#\/groups\/[A-Za-z0-9_-]+$/, { timeout: 15_000 });
  const id = decodeURIComponent(/#\/groups\/([A-Za-z0-9_-]+)$/.exec(page.url())![1]!);
  // while it runs: the time left (unknown until a run completes, then an estimate from them)
  await page.getByTestId('group-eta').waitFor({ timeout: 15_000 });
  const etas = new Set<string>();
  // and the group's curves, drawn while its runs are still going (points counted each poll)
  const livePoints: number[] = [];
  await waitFor(
    'an estimate of the time left from a completed run, and the curves while the runs go on',
    async () => {
      const t =
        (await page
          .getByTestId('group-eta')
          .textContent({ timeout: 1000 })
          .catch(() => '')) ?? '';
      if (t) etas.add(t);
      const done = (await page.getByTestId('group-progress').textContent())?.includes('4 / 4');
      const chart = page.getByTestId('group-curves').getByTestId('compare-chart');
      if (!done && (await chart.count())) livePoints.push(Number(await chart.getAttribute('data-points')));
      // until both were seen (the curves reload a few seconds after a run's first evaluation), or the group ended
      return ([...etas].some((e) => /about .* left/.test(e)) && livePoints.some((n) => n > 0)) || done;
    },
    RUN_TIMEOUT_MS,
    300,
  );
  log(`group page time left: ${[...etas].join(' → ')}; live curve points: ${livePoints.join(' ')}`);
  // two at a time over four runs: the second pair runs after the first completed, so an estimate shows
  check(
    [...etas].some((t) => /about .* left/.test(t)),
    `no estimate of the time left while the runs went on: ${[...etas].join(' → ')}`,
  );
  check(
    livePoints.some((n) => n > 0),
    `the group page drew no curve while its runs were going (points per poll: ${livePoints.join(' ')})`,
  );
  await waitFor(
    'all 4 runs to end',
    async () => (await page.getByTestId('group-progress').textContent())?.includes('4 / 4'),
    RUN_TIMEOUT_MS,
    500,
  );
  // the group's curves: one mean line per variant over its two seeds
  await waitFor(
    'the group curves',
    async () => (await page.getByTestId('compare-chart').getAttribute('data-series-count')) === '2',
    15_000,
  );
  check((await page.getByTestId('group-run-phase').count()) === 4, 'the group table has no iteration / phase column');
  await screenshot(page, 'group-page');
  const g = (await apiCall(server.url, 'getGroup', [id])).body?.result as {
    name: string;
    runs: { status: string; variant: string; seed: number }[];
  };
  check(g.name === 'e2e ablation', `group name "${g.name}"`);
  check(g.runs.length === 4 && g.runs.every((r) => r.status === 'completed'), `statuses ${JSON.stringify(g.runs.map((r) => r.status))}`);
  check(new Set(g.runs.map((r) => `${r.variant}/${r.seed}`)).size === 4, 'the 4 runs are not the 4 combinations');
  await page.goto(`${server.url}/#/groups`);
  await page.getByTestId(`group-row-${id}`).waitFor({ timeout: 10_000 });

  // the compare view over the group: one mean line (with its band) per variant, then regrouped
  await page.goto(`${server.url}/#/compare?group=${id}`);
  await page.getByTestId('compare-page').waitFor();
  await waitFor(
    'two variant groups on the chart',
    async () => (await page.getByTestId('compare-chart').getAttribute('data-series-count')) === '2',
    15_000,
  );
  // the sidebar shows each run's whole id under its name (two runs of one name stay told apart)
  const sideIds = page.getByTestId('compare-run-id');
  const shownIds = await sideIds.evaluateAll((els) => els.map((e) => ({ text: e.textContent, cut: e.scrollWidth > e.clientWidth + 1 })));
  check(
    shownIds.length >= 4 && shownIds.every((x) => /^\d{8}-\d{6}-[0-9a-f]{4}$/.test(x.text ?? '') && !x.cut),
    `compare sidebar ids: ${JSON.stringify(shownIds.slice(0, 3))}`,
  );
  await page.getByTestId('compare-x').selectOption('tokens');
  await page.getByTestId('compare-band').selectOption('ci95');
  await page.getByTestId('compare-table').waitFor();
  // the x ticks as drawn (the SVG's text): token counts with SI prefixes (400k, 1.2M), no label twice,
  // and every tick the chart asked recharts for is drawn
  const xTickTexts = async () =>
    ((await page.getByTestId('compare-chart').getAttribute('data-x-ticks')) ?? '').split(' | ').filter(Boolean);
  const drawnTicks = () =>
    page.getByTestId('compare-chart').locator('.recharts-xAxis-tick-labels .recharts-cartesian-axis-tick-value').allTextContents();
  await waitFor('token ticks', async () => (await drawnTicks()).length >= 2, 10_000);
  const tokenTicks = await drawnTicks();
  check(
    tokenTicks.every((t) => /^\d+(\.\d+)?[kMG]?$/.test(t)) && new Set(tokenTicks).size === tokenTicks.length,
    `token axis ticks drawn: ${tokenTicks.join(', ')}`,
  );
  check(
    tokenTicks.join() === (await xTickTexts()).join(),
    `ticks drawn ${tokenTicks.join(', ')} are not those asked ${(await xTickTexts()).join(', ')}`,
  );
  // the tooltip at a point: per group its mean, the band and how many runs the mean is over
  const box = (await page.getByTestId('compare-chart').locator('svg.recharts-surface').first().boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.6);
  const tipRows = page.getByTestId('compare-tooltip-row');
  await tipRows.first().waitFor({ timeout: 10_000 });
  const tips = await tipRows.allTextContents();
  // (on a tokens axis the groups' points sit at different x: the tooltip shows those at the hovered one)
  check(tips.length >= 1 && tips.every((t) => /: \S+.* n = 2$/.test(t)), `compare tooltip rows: ${tips.join(' | ')}`);
  // zoom: a drag across the plot narrows x (ticks redrawn for the range), a double-click resets it
  await checkChartZoom(page, 'svg');
  await checkFullScreen(page);
  await screenshot(page, 'compare-group');
  await page.getByTestId('compare-group-by').selectOption('dataset');
  await waitFor(
    'one dataset group',
    async () => (await page.getByTestId('compare-chart').getAttribute('data-series-count')) === '1',
    10_000,
  );
  log('compare view: 2 variant groups, then 1 dataset group');

  // the view lives in the URL (replaced, not pushed): a reload shows the same view, another compare hash its own
  const historyLength = () => page.evaluate(() => window.history.length);
  const lengthBefore = await historyLength();
  await waitFor('the view in the URL', () => ['x=tokens', 'band=ci95', 'by=dataset'].every((p) => page.url().includes(p)), 5_000);
  check((await historyLength()) === lengthBefore, 'changing the compare view added history entries');
  await page.reload();
  await waitFor(
    'one dataset group after the reload',
    async () => (await page.getByTestId('compare-chart').getAttribute('data-series-count')) === '1',
    15_000,
  );
  const controls = async () =>
    [
      await page.getByTestId('compare-x').inputValue(),
      await page.getByTestId('compare-band').inputValue(),
      await page.getByTestId('compare-group-by').inputValue(),
    ].join(' ');
  check((await controls()) === 'tokens ci95 dataset', `the reloaded compare view shows ${await controls()}`);
  await page.evaluate((h) => (window.location.hash = h), `#/compare?group=${id}&x=step`);
  await waitFor('the view of the new hash', async () => (await controls()) === 'step std variant', 10_000);
  await waitFor(
    'two variant groups again',
    async () => (await page.getByTestId('compare-chart').getAttribute('data-series-count')) === '2',
    15_000,
  );
  log('compare view: restored by a reload, followed a hash change');

  // per-difficulty curves: every digit count of every variant on one chart
  await page.getByTestId('compare-group-by').selectOption('variant');
  await page.getByTestId('compare-x').selectOption('iteration');
  await page.getByTestId('compare-per-difficulty').check();
  await waitFor(
    '2 variants × 2 digit counts on the chart',
    async () => (await page.getByTestId('compare-chart').getAttribute('data-series-count')) === '4',
    15_000,
  );
  const iterationTicks = await xTickTexts();
  check(
    iterationTicks.length >= 2 && iterationTicks.every((t, i) => t === String(i)),
    `an iteration axis ticks every iteration from 0: ${iterationTicks.join(', ')}`,
  );
  log(`compare view: x ticks ${tokenTicks.join(' ')} (tokens), ${iterationTicks.join(' ')} (iterations)`);
  await screenshot(page, 'compare-per-difficulty');
  // more than 12 lines (4 smoothed means, their 4 raw curves, 8 runs): drawn on a canvas in the plot area
  await page.getByTestId('compare-show-runs').check();
  await page.getByTestId('compare-smoothing').fill('0.5');
  await waitFor(
    'the chart to switch to canvas',
    async () => (await page.getByTestId('compare-chart').getAttribute('data-render')) === 'canvas',
    10_000,
  );
  const inked = await page.getByTestId('compare-canvas').evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
    return n;
  });
  check(inked > 500, `the canvas has ${inked} drawn pixels`);
  // the canvas chart has its own tooltip: per group mean, band and n at the hovered iteration
  const cbox = (await page.getByTestId('compare-canvas').boundingBox())!;
  await page.mouse.move(cbox.x + cbox.width - 2, cbox.y + cbox.height / 2);
  const canvasTip = page.getByTestId('canvas-tooltip');
  await canvasTip.waitFor({ timeout: 10_000 });
  const canvasRows = await canvasTip.getByTestId('compare-tooltip-row').allTextContents();
  check(canvasRows.length >= 2 && canvasRows.every((t) => /: \S+.* n = \d+/.test(t)), `canvas tooltip rows: ${canvasRows.join(' | ')}`);
  await page.mouse.move(cbox.x + cbox.width / 2, cbox.y - 40); // off the plot: it goes
  await canvasTip.waitFor({ state: 'detached', timeout: 5_000 });
  // the canvas is redrawn for the zoomed range too
  await checkChartZoom(page, 'canvas');
  await screenshot(page, 'compare-canvas');
  await page.getByTestId('compare-show-runs').uncheck();
  await page.getByTestId('compare-smoothing').fill('0');
  await waitFor(
    'the chart back to SVG',
    async () => (await page.getByTestId('compare-chart').getAttribute('data-render')) === 'svg',
    10_000,
  );

  // export the compare chart in every format it offers (a .zip download in browser mode)
  await page.getByTestId('compare-export').locator('summary').click();
  // the labels are edited before exporting, and the y axis is exported as drawn ([0, 1] for accuracies)
  check((await page.getByTestId('export-y-label').inputValue()).startsWith('Held-out accuracy'), 'the y label default is not readable');
  await page.getByTestId('export-title').fill('Fig. 2 edited title');
  await page.getByTestId('export-y-label').fill('Accuracy (edited)');
  const compareDir = await exportFromPanel(page, 'compare-export', join(server.dataDir, 'gui-compare'));
  const compareFiles = readdirSync(compareDir).sort();
  const cbase = 'compare-eval_accuracy-by-difficulty';
  for (const ext of ['.svg', '.pdf', '@2x.png', '@3x.png', '.csv', '.pgf.tex', '.standalone.tex', '.py'])
    check(compareFiles.includes(cbase + ext), `compare export lacks ${cbase}${ext}: ${compareFiles.join(', ')}`);
  check(
    readFileSync(join(compareDir, `${cbase}.csv`), 'utf8').includes('\r\nstar-norat · 2 digits,'),
    'compare CSV has no per-difficulty series',
  );
  await checkFigureFiles(browser, compareDir, cbase, ['star · 1 digit', 'star-norat · 2 digits', 'Accuracy (edited)']);
  // the screen's y axis runs to 1: so does the export's, though no point reaches it
  check(/>1\.0</.test(readFileSync(join(compareDir, `${cbase}.svg`), 'utf8')), 'the exported y axis does not reach 1.0 as drawn');
  check(
    readFileSync(join(compareDir, `${cbase}.pgf.tex`), 'utf8').includes('title={Fig. 2 edited title}'),
    'the edited title is not in the pgfplots figure',
  );
  log(`compare chart exported from the GUI: ${compareFiles.length} files`);

  // the group's whole figure set from its page, every format
  await page.goto(`${server.url}/#/groups/${id}`);
  await page.getByTestId('group-export').locator('summary').click();
  // its texts are editable too: the title is a template over each figure's dataset
  await page.getByTestId('group-export-title').fill('{dataset}: STaR vs no rationalization');
  await page.getByTestId('group-export-xLabel').fill('Outer-loop iteration');
  check(
    (await page.getByTestId('group-export-title-example').textContent())?.includes('addition: STaR vs no rationalization') ?? false,
    'the group export does not show its title filled in for a dataset',
  );
  const groupDir = await exportFromPanel(page, 'group-export', join(server.dataDir, 'gui-group'));
  const groupFiles = readdirSync(groupDir).sort();
  for (const f of [
    'addition-accuracy.svg',
    'addition-accuracy.pdf',
    'addition-accuracy@2x.png',
    'addition-accuracy@3x.png',
    'addition-accuracy.csv',
    'table.tex',
    'addition-accuracy.pgf.tex',
    'addition-accuracy.py',
  ])
    check(groupFiles.includes(f), `group export lacks ${f}: ${groupFiles.join(', ')}`);
  await checkFigureFiles(browser, groupDir, 'addition-accuracy', ['star', 'star-norat', 'Outer-loop iteration', 'Held-out accuracy']);
  check(
    readFileSync(join(groupDir, 'addition-accuracy.pgf.tex'), 'utf8').includes('title={addition: STaR vs no rationalization}'),
    'the edited group title is not in the pgfplots figure',
  );
  await screenshot(page, 'group-export');
  log(`group figure set exported from the GUI: ${groupFiles.length} files`);

  // the same from the CLI, every format; its numbers are the runs' (starlab show)
  const out = join(server.dataDir, 'export');
  const cli = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(
        process.execPath,
        [join(ROOT, 'bin', 'starlab.js'), ...args, '--data-dir', server.dataDir],
        { cwd: ROOT },
        (err, stdout, stderr) => done({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
  const r = await cli(['export', id, '--format', 'svg,pdf,png,csv,tex,pgf,py', '--out', out, '--json']);
  check(r.code === 0, `starlab export failed: ${r.stderr}`);
  const files = (JSON.parse(r.stdout) as { files: string[] }).files;
  for (const f of [
    'addition-accuracy.svg',
    'addition-accuracy.pdf',
    'addition-accuracy@2x.png',
    'addition-accuracy.csv',
    'addition-accuracy.pgf.tex',
    'addition-accuracy.py',
    'table.tex',
  ])
    check(files.some((x) => x.endsWith(f)) && existsSync(join(out, f)), `export did not write ${f}: ${JSON.stringify(files)}`);
  check(readFileSync(join(out, 'table.tex'), 'utf8').includes('\\toprule'), 'table.tex has no booktabs rule');
  check(
    readFileSync(join(out, 'addition-accuracy.csv'), 'utf8') === readFileSync(join(groupDir, 'addition-accuracy.csv'), 'utf8'),
    'the CLI and the GUI exported different CSVs',
  );
  const finals = new Map<string, number[]>();
  for (const run of (await apiCall(server.url, 'getGroup', [id])).body.result.runs as { id: string; variant: string }[]) {
    const shown = await cli(['show', run.id, '--json']);
    const acc = (JSON.parse(shown.stdout) as { metrics: Record<string, { iteration: number; value: number }[]> }).metrics['eval/accuracy']!;
    finals.set(run.variant, [...(finals.get(run.variant) ?? []), acc[acc.length - 1]!.value]);
  }
  const rows = readFileSync(join(out, 'addition-accuracy.csv'), 'utf8')
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((l) => l.split(','));
  for (const [variant, vals] of finals) {
    const last = rows.filter((x) => x[0] === variant && x[5] === '').at(-1)!;
    const want = vals.reduce((a, b) => a + b, 0) / vals.length;
    check(
      Math.abs(Number(last[2]) - want) < 1e-12,
      `${variant}: exported final mean ${last[2]} ≠ mean of starlab show's ${JSON.stringify(vals)}`,
    );
  }
  log(`exported ${files.length} files from the CLI; final means agree with starlab show`);
  check(watch.problems.length === 0, `page problems: ${watch.problems.join(' | ')}`);
  log(`ablation ${id}: 4 runs completed, two at a time`);
  await page.close();
}

/** Pixels with ink on the compare chart's canvas. */
async function canvasInk(page: Page): Promise<number> {
  return page.getByTestId('compare-canvas').evaluate((c: HTMLCanvasElement) => {
    const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i]! > 0) n++;
    return n;
  });
}

/**
 * Zoom the compare chart with the mouse (issue 17): a drag over 40% of the plot shows the
 * selection, then narrows the x domain to about that share with other x ticks drawn in the
 * SVG; a double-click brings back the whole domain and its ticks. `render`: how the lines are
 * drawn (on a canvas they must be drawn for the zoomed range too).
 */
async function checkChartZoom(page: Page, render: 'svg' | 'canvas'): Promise<void> {
  const chart = page.getByTestId('compare-chart');
  const attr = async (name: string) => (await chart.getAttribute(name)) ?? '';
  const xDomain = async () => (await attr('data-x-domain')).split(',').map(Number);
  const svgTicks = () => chart.locator('.recharts-xAxis-tick-labels .recharts-cartesian-axis-tick-value').allTextContents();
  check((await attr('data-render')) === render, `the chart is drawn as ${await attr('data-render')}, not ${render}`);
  check((await attr('data-zoomed')) === 'no', 'the chart is zoomed before any drag');
  check((await page.getByTestId('chart-reset-zoom').count()) === 0, 'a Reset zoom button shows while not zoomed');
  const [lo0, hi0] = await xDomain();
  check(Number.isFinite(lo0) && Number.isFinite(hi0) && hi0! > lo0!, `the x domain before zooming: ${await attr('data-x-domain')}`);
  const ticks0 = await svgTicks();
  check(ticks0.length >= 2, `x ticks before zooming: ${ticks0.join(', ')}`);
  // the plot area is where the grid is
  const plot = (await chart.locator('.recharts-cartesian-grid').first().boundingBox())!;
  const y = plot.y + plot.height / 2;
  const x0 = plot.x + plot.width * 0.3;
  await page.mouse.move(x0, y);
  await page.mouse.down();
  await page.mouse.move(x0 + plot.width * 0.4, y, { steps: 8 });
  await waitFor('the drag selection drawn', async () => (await chart.locator('.recharts-reference-area').count()) === 1, 5_000);
  await page.mouse.up();
  await waitFor('the chart to zoom', async () => (await attr('data-zoomed')) === 'yes', 5_000);
  check((await chart.locator('.recharts-reference-area').count()) === 0, 'the drag selection stays after the mouse is released');
  const [lo1, hi1] = await xDomain();
  const share = (hi1! - lo1!) / (hi0! - lo0!);
  check(lo1! > lo0! && hi1! < hi0! && share > 0.3 && share < 0.5, `zoomed x domain ${lo1},${hi1} of ${lo0},${hi0} (${share.toFixed(2)})`);
  const ticks1 = await waitFor(
    'other x ticks for the zoomed range',
    async () => {
      const t = await svgTicks();
      return t.length >= 1 && t.join() !== ticks0.join() ? t : null;
    },
    5_000,
  );
  check(await page.getByTestId('chart-reset-zoom').isVisible(), 'no Reset zoom button while zoomed');
  if (render === 'canvas') {
    check((await attr('data-render')) === 'canvas', 'the zoomed chart left the canvas');
    const ink = await canvasInk(page);
    check(ink > 500, `the zoomed canvas has ${ink} drawn pixels`);
  }
  await screenshot(page, `compare-zoomed-${render}`);
  // the range is part of the view's URL: a reload (or a colleague given the link) sees the same zoom
  await waitFor('the zoomed range in the URL', async () => /[?&]xrange=[^&]+/.test(page.url()), 5_000);
  const zoomedDomain = (await attr('data-x-domain')) ?? '';
  await page.reload();
  await waitFor('the zoom back after a reload', async () => (await attr('data-zoomed')) === 'yes', 15_000);
  const [lo3, hi3] = await xDomain();
  check(
    Math.abs(lo3! - lo1!) <= 1e-5 * Math.max(1, Math.abs(lo1!)) && Math.abs(hi3! - hi1!) <= 1e-5 * Math.max(1, Math.abs(hi1!)),
    `x domain after a reload: ${lo3},${hi3}, zoomed ${zoomedDomain}`,
  );
  await page.mouse.dblclick(plot.x + plot.width / 2, y);
  await waitFor('the zoom reset by a double-click', async () => (await attr('data-zoomed')) === 'no', 5_000);
  const [lo2, hi2] = await xDomain();
  check(lo2 === lo0 && hi2 === hi0, `x domain after the reset: ${lo2},${hi2}, before zooming ${lo0},${hi0}`);
  await waitFor("the whole range's x ticks back", async () => (await svgTicks()).join() === ticks0.join(), 5_000);
  check((await page.getByTestId('chart-reset-zoom').count()) === 0, 'the Reset zoom button stays after the reset');
  // the button resets as well
  await page.mouse.move(x0, y);
  await page.mouse.down();
  await page.mouse.move(x0 + plot.width * 0.2, y, { steps: 4 });
  await page.mouse.up();
  await waitFor('zoomed again', async () => (await attr('data-zoomed')) === 'yes', 5_000);
  await page.getByTestId('chart-reset-zoom').click();
  await waitFor('the zoom reset by the button', async () => (await attr('data-zoomed')) === 'no', 5_000);
  log(`compare chart zoom (${render}): x ticks ${ticks0.join(' ')} → ${ticks1.join(' ')} → back`);
}

/** The compare chart's Full screen button fills the window with it (the chart redrawn to its width); Escape leaves. */
async function checkFullScreen(page: Page): Promise<void> {
  const chart = page.getByTestId('compare-chart');
  const surface = chart.locator('svg.recharts-surface').first();
  const viewport = page.viewportSize()!;
  const before = (await chart.boundingBox())!;
  const svgBefore = (await surface.boundingBox())!;
  check(before.width < viewport.width - 300, `the chart is ${before.width} px wide before full screen (window ${viewport.width})`);
  await page.getByTestId('chart-fullscreen').click();
  await waitFor(
    'the chart to fill the window',
    async () => {
      const b = (await chart.boundingBox())!;
      const s = (await surface.boundingBox())!;
      return (
        b.width >= viewport.width - 20 && b.height >= viewport.height - 20 && s.width >= viewport.width - 60 && s.height > svgBefore.height
      );
    },
    5_000,
  );
  check((await chart.getAttribute('data-fullscreen')) === 'yes', 'data-fullscreen is not yes in full screen');
  await screenshot(page, 'compare-fullscreen');
  await page.keyboard.press('Escape');
  await waitFor(
    'the chart back in the page',
    async () => {
      const b = (await chart.boundingBox())!;
      const s = (await surface.boundingBox())!;
      return Math.abs(b.width - before.width) < 2 && Math.abs(s.width - svgBefore.width) < 2 && Math.abs(s.height - svgBefore.height) < 2;
    },
    5_000,
  );
  check((await chart.getAttribute('data-fullscreen')) === 'no', 'data-fullscreen is not no after Escape');
  log(`compare chart full screen: ${Math.round(before.width)} px → the window's ${viewport.width} px → back`);
}

/** Tick every format in an export panel, export, and unpack the download into `dir`. */
async function exportFromPanel(page: Page, testId: string, dir: string): Promise<string> {
  const boxes = page.getByTestId(`${testId}-panel`).locator('input[type=checkbox]');
  for (let i = 0; i < (await boxes.count()); i++) await boxes.nth(i).check();
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 30_000 }), page.getByTestId(`${testId}-button`).click()]);
  mkdirSync(dir, { recursive: true });
  const zip = join(dir, download.suggestedFilename());
  await download.saveAs(zip);
  check(zip.endsWith('.zip'), `a multi-file export downloads one .zip, got ${zip}`);
  execFileSync('python3', [
    '-c',
    'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; z.extractall(sys.argv[2])',
    zip,
    dir,
  ]);
  await waitFor(
    'the export message',
    async () => (await page.getByTestId(`${testId}-message`).textContent())?.includes('Downloaded'),
    10_000,
  );
  return dir;
}

/** SVG renders in Chromium (not blank), PDF fonts embedded and texts extractable, PNG sizes. */
async function checkFigureFiles(browser: Browser, dir: string, base: string, texts: string[]): Promise<void> {
  const svg = readFileSync(join(dir, `${base}.svg`));
  const p = await browser.context.newPage();
  try {
    await p.setContent('<canvas id="c"></canvas>');
    const r = await p.evaluate(async (b64: string) => {
      const img = new Image();
      img.src = `data:image/svg+xml;base64,${b64}`;
      await img.decode();
      const c = document.getElementById('c') as HTMLCanvasElement;
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const d = ctx.getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i]! < 200 || d[i + 1]! < 200 || d[i + 2]! < 200) ink++;
      return { w: img.naturalWidth, h: img.naturalHeight, ink: ink / (d.length / 4) };
    }, svg.toString('base64'));
    check(r.w > 200 && r.h > 100 && r.ink > 0.01 && r.ink < 0.6, `${base}.svg in Chromium: ${JSON.stringify(r)}`);
  } finally {
    await p.close();
  }
  const pdf = join(dir, `${base}.pdf`);
  const fonts = execFileSync('pdffonts', [pdf]).toString().trim().split('\n').slice(2);
  check(
    fonts.length > 0 && fonts.every((l) => l.split(/\s+/).at(-5) === 'yes'),
    `${base}.pdf fonts not all embedded:\n${fonts.join('\n')}`,
  );
  const text = execFileSync('pdftotext', [pdf, '-']).toString();
  for (const t of texts) check(text.includes(t), `${base}.pdf has no "${t}" (pdftotext: ${JSON.stringify(text.slice(0, 300))})`);
  for (const [scale, w] of [
    [2, 624],
    [3, 936],
  ] as const) {
    const png = readFileSync(join(dir, `${base}@${scale}x.png`));
    check(png.readUInt32BE(16) === w, `${base}@${scale}x.png is ${png.readUInt32BE(16)} px wide, not ${w}`);
  }
}
