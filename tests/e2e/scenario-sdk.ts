/**
 * Scenario (g): a plain Python script, not launched by the lab, reports in while the app
 * serves: through the wandb shim (`import starlab.compat.wandb as wandb`, the one-line change),
 * 1,000 steps, held at step 500 until the test has seen the live curve. The run appears in the
 * runs table by its name while it runs, its page draws the curve live (500 points, ticks read
 * from the drawn SVG), and after the script finishes the run is completed with all 1,000.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT, apiCall, check, log, screenshot, tempDir, waitFor, watchPage, type Browser, type Server } from './lib';

const SCRIPT = (gate: string) => `
import os, time
import starlab.compat.wandb as wandb

wandb.init(project="e2e sdk", name="sdk live probe", config={"lr": 3e-4, "seed": 5})
for step in range(1000):
    if step == 500:
        while not os.path.exists(${JSON.stringify(gate)}):
            time.sleep(0.05)
    wandb.log({"train/loss": 2.0 / (1 + step / 100)})
wandb.finish()
`;

async function chartPoints(page: Page, metric: string): Promise<number> {
  const n = await page.getByTestId(`metric-chart-${metric}`).getAttribute('data-points', { timeout: 2000 });
  return Number(n ?? 0);
}

export async function scenarioSdk(browser: Browser, server: Server): Promise<void> {
  const python = process.env['STARLAB_E2E_PYTHON'] ?? join(ROOT, 'experiments', '.venv', 'bin', 'python');
  const gate = join(tempDir('starlab-e2e-sdk-'), 'go');
  const page = await browser.context.newPage();
  const watch = await watchPage(page);
  await page.goto(`${server.url}/#/runs`);
  await page.locator('[data-testid="runs-empty"], [data-testid="runs-table"]').first().waitFor({ timeout: 10_000 });

  let stderr = '';
  const child = spawn(python, ['-c', SCRIPT(gate)], {
    env: { ...process.env, STARLAB_DATA_DIR: server.dataDir, PYTHONPATH: join(ROOT, 'experiments') },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  try {
    // the runs table picks it up by itself (the server adopts the announcement, the page hears runsChanged)
    const row = page.locator('tr', { has: page.getByTestId('run-row-name').filter({ hasText: 'sdk live probe' }) });
    await row.waitFor({ timeout: 30_000 });
    await waitFor('the script run to show as running', async () => (await row.getAttribute('data-status')) === 'running', 15_000);
    await row.getByTestId('run-row-name').locator('a').click();
    await page.getByTestId('run-page').waitFor();
    check((await page.getByTestId('run-name').textContent()) === 'sdk live probe', 'the run page does not show the script run by its name');
    await waitFor('the live curve to reach step 500', async () => (await chartPoints(page, 'train/loss')) === 500, 30_000, 300);
    check((await page.getByTestId('run-status').getAttribute('data-status')) === 'running', 'the run is not running at step 500');
    // the tick labels as drawn: the SVG text of the x axis
    const xTicks = () => page.getByTestId('metric-chart-train/loss').locator('.recharts-xAxis-tick-labels text').allTextContents();
    const ticks = await waitFor(
      "the live curve's x ticks",
      async () => {
        const t = await xTicks();
        return t.length >= 3 ? t : null;
      },
      10_000,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}; chart: ${(await page.getByTestId('metric-chart-train/loss').innerHTML()).slice(0, 2000)}`);
    });
    check(ticks.length >= 3 && new Set(ticks).size === ticks.length, `x ticks of the live curve: ${ticks.join(', ')}`);
    check(
      ticks.every((t) => /^\d+$/.test(t)),
      `step ticks are not whole numbers: ${ticks.join(', ')}`,
    );
    await screenshot(page, 'sdk-run-live');
    log(`live at step 500, x ticks ${ticks.join(' ')}`);

    writeFileSync(gate, '');
    check((await exited) === 0, `the script failed: ${stderr.slice(-2000)}`);
    await waitFor(
      'the run to complete',
      async () => (await page.getByTestId('run-status').getAttribute('data-status')) === 'completed',
      30_000,
    );
    await waitFor('all 1,000 points drawn', async () => (await chartPoints(page, 'train/loss')) === 1000, 15_000, 300);
    await screenshot(page, 'sdk-run-done');
    // the run page's charts zoom: drag across the middle, double-click back
    const chart = page.getByTestId('metric-chart-train/loss');
    const full = await xTicks();
    const box = (await chart.locator('.zoomable-plot').boundingBox())!;
    const y = box.y + box.height / 2;
    await page.mouse.move(box.x + box.width * 0.4, y);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.55, y, { steps: 5 });
    await page.mouse.up();
    await waitFor('the run chart zoomed', async () => (await chart.getAttribute('data-zoomed')) === 'yes', 5_000);
    const zoomed = await xTicks();
    const nums = zoomed.map(Number);
    check(
      zoomed.join() !== full.join() && nums.every((v) => v > 200 && v < 800),
      `x ticks after zooming into the middle: ${zoomed.join(' ')} (were ${full.join(' ')})`,
    );
    await chart.locator('.zoomable-plot').dblclick();
    await waitFor('the run chart back to all of it', async () => (await chart.getAttribute('data-zoomed')) === 'no', 5_000);
    check((await xTicks()).join() === full.join(), 'x ticks after a double-click are not the full range again');
    log(`run chart zoom: ${full.join(' ')} → ${zoomed.join(' ')} → back`);
    // and fills the window on demand; Escape leaves
    await chart.getByTestId('chart-fullscreen').click();
    await waitFor('the run chart full screen', async () => (await chart.getAttribute('data-fullscreen')) === 'yes', 5_000);
    const viewport = page.viewportSize()!;
    const big = (await chart.boundingBox())!;
    const svgHeight = (await chart.locator('svg.recharts-surface').first().boundingBox())!.height;
    check(
      big.width >= viewport.width - 2 && big.height >= viewport.height - 2 && svgHeight >= viewport.height - 60,
      `full screen: the chart is ${Math.round(big.width)}×${Math.round(big.height)} (plot ${Math.round(svgHeight)} high) in a ${viewport.width}×${viewport.height} window`,
    );
    await screenshot(page, 'run-chart-fullscreen');
    await page.keyboard.press('Escape');
    await waitFor('the run chart back in its panel', async () => (await chart.getAttribute('data-fullscreen')) === 'no', 5_000);
    log(`run chart full screen: ${Math.round(big.width)}×${Math.round(big.height)}, plot ${Math.round(svgHeight)} high`);
    const id = (await page.getByTestId('run-id').textContent())!.trim();
    await labelsAndRunsTable(page, server, id);
    check(!watch.problems.length, `page problems: ${watch.problems.join('; ')}`);
    const inbox = join(server.dataDir, 'inbox');
    check(!existsSync(inbox) || readdirSync(inbox).length === 0, 'the announcement was left in inbox/');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await page.close();
  }
}

/**
 * The runs table's chosen columns (a config key, a metric's final value), a range filter, and
 * archiving the ticked run (it leaves the table, Show archived brings it back, Unarchive); Delete
 * asks first (cancelled here: the unit tests delete).
 */
async function chosenColumnsAndArchive(page: Page, id: string): Promise<void> {
  const row = page.getByTestId(`run-row-${id}`);
  await page.getByTestId('runs-columns').click();
  await page.getByTestId('column-choice-config:lr').check();
  await page.getByTestId('column-choice-metric:train/loss').check();
  await page.getByTestId('runs-columns').click();
  await waitFor(
    'the chosen columns filled',
    async () => (await row.getByTestId('run-row-col-config:lr').textContent()) === '0.0003',
    10_000,
  );
  const loss = (await row.getByTestId('run-row-col-metric:train/loss').textContent()) ?? '';
  check(Number.isFinite(Number(loss)), `the final train/loss cell: "${loss}"`);
  check(
    (await page.locator('th').allTextContents()).some((t) => t.includes('train/loss (final)')),
    'no "train/loss (final)" column header',
  );
  // ranges the run is outside of and inside (its seed is 5; it logs no accuracy)
  await page.getByTestId('runs-search').fill('tag:sdk-probe seed>5');
  await waitFor('the run filtered out by seed>5', async () => (await row.count()) === 0, 10_000);
  await page.getByTestId('runs-search').fill('tag:sdk-probe seed>=5');
  await waitFor('the run found by seed>=5', async () => (await row.count()) === 1, 10_000);
  await page.getByTestId('runs-search').fill('tag:sdk-probe acc>0.5');
  await waitFor('the run filtered out by acc>0.5', async () => (await row.count()) === 0, 10_000);
  await page.getByTestId('runs-search').fill(`tag:sdk-probe created>=${new Date().toLocaleDateString('sv')}`);
  await waitFor("the run found by today's date", async () => (await row.count()) === 1, 10_000);
  // the chosen columns filter too, by their keys: its lr is 3e-4, its final loss the cell's
  await page.getByTestId('runs-search').fill('tag:sdk-probe lr<3e-4');
  await waitFor('the run filtered out by lr<3e-4', async () => (await row.count()) === 0, 10_000);
  await page.getByTestId('runs-search').fill(`tag:sdk-probe lr=3e-4 train/loss<=${Number(loss) * 1.01}`);
  await waitFor('the run found by lr=3e-4 and its final loss', async () => (await row.count()) === 1, 10_000);
  await page.getByTestId('runs-search').fill(`tag:sdk-probe train/loss>${Number(loss) * 1.01}`);
  await waitFor('the run filtered out by a loss above its own', async () => (await row.count()) === 0, 10_000);
  await page.getByTestId('runs-search').fill('');

  await page.getByTestId('bulk-archive').click();
  await waitFor('the archived run out of the table', async () => (await row.count()) === 0, 10_000);
  await page.getByTestId('runs-show-archived').check();
  await waitFor('the archived run shown again, marked', async () => (await row.getByTestId('run-row-archived').count()) === 1, 10_000);
  check((await page.getByTestId('bulk-archive').textContent()) === 'Unarchive', 'the ticked archived run does not offer Unarchive');
  await page.getByTestId('bulk-archive').click();
  await waitFor('the run unarchived', async () => (await row.getByTestId('run-row-archived').count()) === 0, 10_000);
  await page.getByTestId('bulk-delete').click();
  check(
    (await page.getByTestId('bulk-delete-confirm-box').textContent())?.includes('Delete 1 run?'),
    'Delete did not ask for confirmation',
  );
  await page.getByTestId('bulk-delete-cancel').click();
  check((await row.count()) === 1, 'the run is gone after a cancelled delete');
  log('runs table: columns lr and train/loss (final), range filters, archived and back, delete cancelled');
}

/** Rename and tag the run on its page; find it in the runs table by tag, sort by name, tag it in bulk, compare the selection. */
async function labelsAndRunsTable(page: Page, server: Server, id: string): Promise<void> {
  await page.getByTestId('edit-labels').click();
  await page.getByTestId('labels-tags').fill(`ok, ${'x'.repeat(41)}`);
  check(
    (await page.getByTestId('labels-problem').textContent())?.includes('at most 40') &&
      (await page.getByTestId('labels-save').isDisabled()),
    'a 41-character tag is not refused before saving',
  );
  await page.getByTestId('labels-name').fill('sdk renamed');
  await page.getByTestId('labels-tags').fill('e2e, sdk-probe');
  await page.getByTestId('labels-notes').fill('reported by a wandb script');
  await page.getByTestId('labels-save').click();
  await waitFor('the new name in the header', async () => (await page.getByTestId('run-name').textContent()) === 'sdk renamed', 10_000);
  const tags = await page.getByTestId('run-tag').allTextContents();
  check(tags.join(',') === 'e2e,sdk-probe', `tags on the run page: ${tags.join(',')}`);
  const stored = (await apiCall(server.url, 'getRun', [id])).body?.result as { name: string; tags: string[]; notes: string };
  check(stored.name === 'sdk renamed' && stored.notes === 'reported by a wandb script', `stored labels: ${JSON.stringify(stored)}`);

  await page.goto(`${server.url}/#/runs`);
  await page.getByTestId('runs-table').waitFor();
  await page.getByTestId('runs-search').fill('tag:sdk-probe');
  await waitFor(
    'one run found by its tag',
    async () => (await page.getByTestId('run-row-name').allTextContents()).join('|') === 'sdk renamed',
    10_000,
  );
  await page.getByTestId('runs-search').fill('');
  await page.getByTestId('runs-sort-name').click();
  const names = await page.getByTestId('run-row-name').allTextContents();
  const sorted = [...names].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  check(names.join('|') === sorted.join('|'), `sorted by name: ${names.join(' | ')}`);
  await page.getByTestId('runs-sort-name').click();
  const desc = await page.getByTestId('run-row-name').allTextContents();
  check(
    desc.join('|') === [...sorted].reverse().join('|') || new Set(names).size < names.length,
    `sorted by name, descending: ${desc.join(' | ')}`,
  );

  const row = page.getByTestId(`run-row-${id}`);
  await row.getByTestId('run-row-select').check();
  await page.getByTestId('bulk-tag-input').fill('bulk');
  await page.getByTestId('bulk-tag-add').click();
  await waitFor('the bulk tag on the row', async () => (await row.getByTestId('run-row-tags').textContent())?.includes('bulk'), 10_000);
  await chosenColumnsAndArchive(page, id);
  await screenshot(page, 'runs-table');
  await page.getByTestId('compare-selected').click();
  await page.waitForURL(/#\/compare\?/, { timeout: 10_000 });
  await waitFor('the run ticked in the compare view', async () => page.getByTestId(`compare-run-${id}`).isChecked(), 10_000);
  // the script's project is a group: its page lists the run
  await page.goto(`${server.url}/#/runs`);
  await page.getByTestId(`run-row-${id}`).getByTestId('run-row-group').locator('a').click();
  await waitFor("the project's group page", async () => (await page.getByTestId('group-name').textContent()) === 'e2e sdk', 10_000);
  await screenshot(page, 'sdk-project-group');
  log(`labels: renamed, tagged, found by tag, sorted by name, bulk-tagged, compared (${id})`);
}
