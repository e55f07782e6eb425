/**
 * Scenario (a): the browser build over the HTTP transport. Launch a tiny STaR run from the
 * form (after checking field errors), watch it to the last iteration and `completed`,
 * then launch a second run and stop it from its page.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { apiCall, check, cspViolations, log, screenshot, waitFor, watchPage, type Browser, type Server } from './lib';

/** Small enough to finish in well under a minute on two idle cores (a few minutes when busy). */
export const QUICK_OVERRIDES = [
  'loop.iterations=2',
  'warmup.examples=120',
  'warmup.steps=150',
  'loop.base_steps=40',
  'task.train_per_digit=30',
  'task.eval_per_digit=15',
];
const RUN_TIMEOUT_MS = Number(process.env['STARLAB_E2E_RUN_TIMEOUT_MS'] ?? 240_000);

export async function status(page: Page): Promise<string | null> {
  return page.getByTestId('run-status').getAttribute('data-status', { timeout: 2000 });
}

async function fillLaunch(page: Page, seed: string, overrides: string[]): Promise<void> {
  await page.getByTestId('field-variant').selectOption('star');
  await page.getByTestId('field-dataset').selectOption('addition');
  await page.getByTestId('field-preset').selectOption('tiny');
  await page.getByTestId('field-seed').fill(seed);
  await page.getByTestId('field-overrides').fill(overrides.join('\n'));
}

async function launchFromForm(page: Page, base: string, seed: string, overrides: string[], shot?: string): Promise<string> {
  await page.goto(`${base}/#/launch`);
  await page.getByTestId('launch-form').waitFor();
  await waitFor('catalog options', async () => (await page.getByTestId('field-variant').locator('option').count()) > 0, 10_000);
  await fillLaunch(page, seed, overrides);
  await waitFor('"config is valid"', async () => (await page.getByTestId('launch-state').textContent()) === 'config is valid', 10_000);
  const shown = await page.getByTestId('config-row-seed').getAttribute('data-value');
  check(shown === seed, `the resolved config preview shows seed ${shown}, expected ${seed}`);
  const iters = /^loop\.iterations=(\d+)$/m.exec(overrides.join('\n'))?.[1];
  if (iters)
    check(
      (await page.getByTestId('config-row-loop.iterations').getAttribute('data-value')) === iters,
      'the preview does not show the loop.iterations override',
    );
  if (shot) await screenshot(page, shot);
  await page.getByTestId('launch-submit').click();
  await page.waitForURL(/#\/runs\/[A-Za-z0-9_-]+$/, { timeout: 15_000 });
  const id = decodeURIComponent(/#\/runs\/([A-Za-z0-9_-]+)$/.exec(page.url())![1]!);
  await page.getByTestId('run-page').waitFor();
  return id;
}

/**
 * Issue 6 from the GUI: tick the completed run, export it as a bundle, back the database
 * up, import the bundle again (the run is present: skipped), check the interpreter.
 */
async function dataKeeping(page: Page, base: string, row: Locator, runId: string): Promise<void> {
  await row.getByTestId('run-row-select').check();
  await page.waitForTimeout(200);
  check(page.url().endsWith('#/runs'), `ticking a run's checkbox navigated to ${page.url()}`);
  const exportButton = page.getByTestId('export-bundle');
  check((await exportButton.textContent()) === 'Export 1 run as a bundle', `export button reads "${await exportButton.textContent()}"`);
  await exportButton.click();
  const exported = page.getByTestId('export-bundle-result');
  await exported.waitFor({ timeout: 60_000 });
  const bundle = (await exported.getAttribute('data-file')) ?? '';
  check((await exported.getAttribute('data-ok')) === 'true' && bundle.endsWith('.tar'), `bundle export: ${await exported.textContent()}`);
  check((await exported.textContent())?.includes(bundle), 'the export note does not show the written path');
  log(`exported ${runId} to ${bundle}`);
  await screenshot(page, 'http-runs-export');

  await page.getByTestId('nav-settings').click();
  await page.getByTestId('data-panel').waitFor();
  await page.getByTestId('backup-now').click();
  const backedUp = page.getByTestId('backup-result');
  await backedUp.waitFor({ timeout: 60_000 });
  const backup = (await backedUp.getAttribute('data-file')) ?? '';
  check(backup.endsWith('.db') && (await backedUp.textContent())?.includes(backup), `backup: ${await backedUp.textContent()}`);
  log(`backed up to ${backup}`);

  await page.getByTestId('bundle-path').fill(bundle);
  await page.getByTestId('bundle-import').click();
  const imported = page.getByTestId('bundle-import-result');
  await imported.waitFor({ timeout: 60_000 });
  const importText = (await imported.textContent()) ?? '';
  check(
    (await imported.getAttribute('data-ok')) === 'true' &&
      (await imported.getAttribute('data-imported')) === '0' &&
      /skipped 1 already present/.test(importText),
    `re-importing the bundle into the same data dir: "${importText}"`,
  );

  const info = (await apiCall(base, 'getDataInfo', [])).body?.result as
    { backups: { file: string; bytes: number }[]; bundles: { file: string; bytes: number }[] } | undefined;
  check(
    info?.backups.some((f) => f.file === backup && f.bytes > 0),
    `getDataInfo lists no backup ${backup}: ${JSON.stringify(info?.backups)}`,
  );
  check(
    info?.bundles.some((f) => f.file === bundle && f.bytes > 0),
    `getDataInfo lists no bundle ${bundle}: ${JSON.stringify(info?.bundles)}`,
  );
  check(existsSync(backup) && existsSync(bundle), 'the backup or the bundle is not on disk');
  await waitFor(
    'the panel to list the backup and the bundle',
    async () => {
      const b = await page.getByTestId('backups-list').textContent();
      const e = await page.getByTestId('bundles-list').textContent();
      return b?.includes(backup) && e?.includes(bundle);
    },
    5000,
  );

  await page.getByTestId('python-check').click();
  const py = page.getByTestId('python-check-result');
  await py.waitFor({ timeout: 130_000 });
  const pyText = await py.textContent();
  check(
    (await py.getAttribute('data-ok')) === 'true' && /^Python 3\.\d+\.\d+ \(.+\), torch .+, transformers .+, peft .+$/.test(pyText ?? ''),
    `interpreter check: "${pyText}"`,
  );
  log(`interpreter: ${pyText}`);
  await screenshot(page, 'http-settings-data');
  // the check is of the path typed in the box, saved or not: a bogus one drops the old OK and fails
  const saved = await page.getByTestId('python-path').inputValue();
  await page.getByTestId('python-path').fill('/nonexistent/bin/python3');
  check((await page.getByTestId('python-check-result').count()) === 0, 'the old interpreter verdict stayed beside an edited path');
  await page.getByTestId('python-check').click();
  await waitFor('the typed path checked', async () => (await py.getAttribute('data-ok', { timeout: 1000 })) === 'false', 30_000);
  check(
    (await py.textContent())?.includes('/nonexistent/bin/python3'),
    `the failed check does not name the typed path: ${await py.textContent()}`,
  );
  await page.getByTestId('python-path').fill(saved);
  await page.getByTestId('nav-runs').click();
  await row.waitFor();
}

export async function scenarioHttp(browser: Browser, server: Server): Promise<{ completedId: string; stoppedId: string }> {
  const page = await browser.context.newPage();
  const watch = await watchPage(page);
  const base = server.url;

  await page.goto(`${base}/#/runs`);
  const kind = await page.getByTestId('app').getAttribute('data-transport');
  check(kind === 'http', `transport is "${kind}", expected "http"`);
  // a link to a page that does not exist says so (it used to show the runs list)
  await page.goto(`${base}/#/no-such-page`);
  await page.getByTestId('not-found').waitFor();
  check((await page.getByTestId('runs-table').count()) === 0, 'an unknown route showed the runs list');

  // --- field errors, by field, before anything launches
  await page.goto(`${base}/#/launch`);
  await page.getByTestId('launch-form').waitFor();
  await waitFor('catalog options', async () => (await page.getByTestId('field-variant').locator('option').count()) > 0, 10_000);
  await fillLaunch(page, '1', ['loop.iterations=2', 'loop.bogus=3']);
  await page.getByTestId('field-error-overrides.loop.bogus').waitFor({ timeout: 10_000 });
  log('field error shown for overrides.loop.bogus');
  await page.getByTestId('field-overrides').fill('loop.lr=fast');
  await page.getByTestId('field-error-loop.lr').waitFor({ timeout: 10_000 });
  log('field error shown for loop.lr (wrong type)');
  await page.getByTestId('field-seed').fill('-3');
  await page.getByTestId('field-error-seed').waitFor({ timeout: 10_000 });
  await screenshot(page, 'http-launch-errors');
  await waitFor('Launch to be disabled while the config is invalid', () => page.getByTestId('launch-submit').isDisabled(), 10_000);
  await page.getByTestId('launch-form').evaluate((f: HTMLFormElement) => f.requestSubmit()); // Enter in a field
  await page.waitForTimeout(500);
  check(page.url().endsWith('#/launch'), `an invalid launch navigated away to ${page.url()}`);
  const listed = ((await apiCall(base, 'listRuns', [])).body?.result as unknown[] | undefined)?.length;
  check(listed === 0, `an invalid launch created ${listed} run(s)`);

  // --- a tiny run, watched to the end
  const completedId = await launchFromForm(page, base, '1', QUICK_OVERRIDES, 'http-launch-valid');
  log(`launched ${completedId}`);
  const preview = await page.getByTestId('run-config').textContent();
  check(preview?.includes('"iterations": 2'), 'run page config does not show loop.iterations = 2');
  await waitFor(
    `${completedId} to leave queued/running`,
    async () => {
      const s = await status(page);
      return s !== 'queued' && s !== 'running' ? s : null;
    },
    RUN_TIMEOUT_MS,
    500,
  );
  const final = await status(page);
  if (final !== 'completed') {
    const reason = await page
      .getByTestId('status-reason')
      .textContent()
      .catch(() => '');
    const tail = await page
      .getByTestId('stderr-tail')
      .textContent()
      .catch(() => '');
    await screenshot(page, 'http-run-failed');
    throw new Error(`run ${completedId} ended "${final}": ${reason}\n${tail}`);
  }
  const chart = page.getByTestId('accuracy-chart');
  await waitFor('accuracy chart at iteration 2', async () => (await chart.getAttribute('data-last-iteration')) === '2', 10_000);
  const legend = await chart.locator('.recharts-wrapper > svg g.svg-legend text').allTextContents();
  check(legend.includes('overall') && legend.some((t) => /digit/.test(t)), `chart legend (inside the svg) is ${JSON.stringify(legend)}`);
  const curves = await chart.locator('.recharts-line-curve').count();
  check(curves >= 2, `accuracy chart draws ${curves} curves`);
  const it = page.getByTestId('iteration-progress');
  check((await it.getAttribute('data-total')) === '2', 'iteration progress total is not 2');
  await waitFor('log lines', async () => Number(await page.getByTestId('run-logs').getAttribute('data-lines')) > 0, 10_000);
  // the wall-time axis of the accounting chart: duration ticks read from the drawn SVG, none repeated
  const wallTicks = await page.getByTestId('accounting-chart').locator('.recharts-yAxis-tick-labels text').allTextContents();
  check(
    wallTicks.length >= 2 &&
      new Set(wallTicks).size === wallTicks.length &&
      wallTicks.every((t) => /^(0|\d+(\.\d+)? (ms|s|min|h))$/.test(t)),
    `accounting chart wall-time ticks: ${JSON.stringify(wallTicks)}`,
  );
  log(`accounting wall-time ticks: ${wallTicks.join(' ')}`);
  await page.waitForTimeout(300);
  await screenshot(page, 'http-run-completed');
  log(`${completedId} completed; accuracy ${await page.getByTestId('run-accuracy').textContent()}`);

  // --- runs table
  await page.getByTestId('nav-runs').click();
  const row = page.getByTestId(`run-row-${completedId}`);
  await row.waitFor();
  check((await row.getAttribute('data-status')) === 'completed', 'runs table does not show the run as completed');
  check((await row.getByTestId('run-row-accuracy').textContent()) !== '—', 'runs table shows no accuracy');
  await dataKeeping(page, base, row, completedId);

  // --- a second run, stopped from its page
  const stoppedId = await launchFromForm(page, base, '2', ['loop.iterations=3']);
  log(`launched ${stoppedId}; stopping it once it reports progress`);
  await waitFor(
    'the run to be running with a phase',
    async () => (await status(page)) === 'running' && (await page.getByTestId('iteration-progress').getAttribute('data-phase')),
    60_000,
  );
  await page.getByTestId('stop-button').click();
  // asks first: Cancel leaves the run running, Stop run stops it
  await page.getByTestId('stop-cancel').click();
  check((await status(page)) !== 'stopped', 'Cancel stopped the run');
  await page.getByTestId('stop-button').click();
  await page.getByTestId('stop-confirm').click();
  await waitFor(`${stoppedId} to be stopped`, async () => (await status(page)) === 'stopped', 30_000, 250);
  check((await page.getByTestId('stop-button').count()) === 0, 'stop button still shown after the run stopped');
  await screenshot(page, 'http-run-stopped');
  await page.getByTestId('nav-runs').click();
  await page.getByTestId(`run-row-${stoppedId}`).waitFor();
  await waitFor(
    'runs table to show stopped',
    async () => (await page.getByTestId(`run-row-${stoppedId}`).getAttribute('data-status')) === 'stopped',
    5000,
  );
  await screenshot(page, 'http-runs');

  // --- settings
  await page.getByTestId('nav-settings').click();
  await waitFor('the settings page', async () => (await page.getByTestId('python-path').inputValue()) !== '', 5000);
  check((await page.getByTestId('data-dir').textContent()) === server.dataDir, 'settings page shows another data directory');
  // the interpreter is checked before it is saved: a file that is not executable is refused next to the field
  const savedPython = await page.getByTestId('python-path').inputValue();
  const notPython = join(server.dataDir, 'starlab.db');
  await page.getByTestId('python-path').fill(notPython);
  await page.getByTestId('python-save').click();
  const refused = (await page.getByTestId('python-path-error').textContent({ timeout: 10_000 })) ?? '';
  check(refused === `${notPython} is not executable by this user`, `python path error: "${refused}"`);
  check((await apiCall(base, 'getSettings', [])).body?.result?.pythonPath === savedPython, 'a refused interpreter was saved');
  await page.getByTestId('python-path').fill(savedPython);
  await screenshot(page, 'http-settings');

  const csp = await cspViolations(page);
  check(csp.length === 0, `CSP violations: ${csp.join('; ')}`);
  check(watch.problems.length === 0, `page problems: ${watch.problems.join('; ')}`);
  await page.close();
  return { completedId, stoppedId };
}
