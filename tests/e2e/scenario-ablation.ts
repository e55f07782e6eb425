/**
 * Scenario (e): an ablation from the GUI — 2 variants × 2 seeds with the micro overrides —
 * queued two at a time (Settings → Queue), followed on its group page to the end, compared
 * (bands over seeds, regrouped, another x-axis) and exported from the CLI.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, apiCall, check, log, screenshot, waitFor, watchPage, type Browser, type Server } from './lib';
import { microOverrides } from './scenario-variants';

const RUN_TIMEOUT_MS = Number(process.env['STARLAB_E2E_RUN_TIMEOUT_MS'] ?? 240_000);

export async function scenarioAblation(browser: Browser, server: Server): Promise<void> {
  const page = await browser.context.newPage();
  const watch = await watchPage(page);
  await page.goto(`${server.url}/#/settings`);
  await page.getByTestId('queue-max').fill('2');
  await page.getByTestId('queue-save').click();
  await waitFor('the queue setting to be saved', async () => (await apiCall(server.url, 'getSettings', [])).body?.result?.maxConcurrent === 2, 10_000);

  await page.goto(`${server.url}/#/ablate`);
  await page.getByTestId('ablate-form').waitFor();
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
  await waitFor('all 4 runs to end', async () => (await page.getByTestId('group-progress').textContent())?.includes('4 / 4'), RUN_TIMEOUT_MS, 500);
  await screenshot(page, 'group-page');
  const g = (await apiCall(server.url, 'getGroup', [id])).body?.result as { name: string; runs: { status: string; variant: string; seed: number }[] };
  check(g.name === 'e2e ablation', `group name "${g.name}"`);
  check(g.runs.length === 4 && g.runs.every((r) => r.status === 'completed'), `statuses ${JSON.stringify(g.runs.map((r) => r.status))}`);
  check(new Set(g.runs.map((r) => `${r.variant}/${r.seed}`)).size === 4, 'the 4 runs are not the 4 combinations');
  await page.goto(`${server.url}/#/groups`);
  await page.getByTestId(`group-row-${id}`).waitFor({ timeout: 10_000 });

  // the compare view over the group: one mean line (with its band) per variant, then regrouped
  await page.goto(`${server.url}/#/compare?group=${id}`);
  await page.getByTestId('compare-page').waitFor();
  await waitFor('two variant groups on the chart', async () => (await page.getByTestId('compare-chart').getAttribute('data-series-count')) === '2', 15_000);
  await page.getByTestId('compare-x').selectOption('tokens');
  await page.getByTestId('compare-band').selectOption('ci95');
  await page.getByTestId('compare-table').waitFor();
  await screenshot(page, 'compare-group');
  await page.getByTestId('compare-group-by').selectOption('dataset');
  await waitFor('one dataset group', async () => (await page.getByTestId('compare-chart').getAttribute('data-series-count')) === '1', 10_000);
  log('compare view: 2 variant groups, then 1 dataset group');

  // the paper exports of the group, from the CLI
  const out = join(server.dataDir, 'export');
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
    execFile(process.execPath, [join(ROOT, 'bin', 'starlab.js'), 'export', id, '--format', 'csv,tex,pgf,py', '--out', out, '--json', '--data-dir', server.dataDir],
      { cwd: ROOT }, (err, stdout, stderr) => done({ code: err ? 1 : 0, stdout, stderr })));
  check(r.code === 0, `starlab export failed: ${r.stderr}`);
  const files = (JSON.parse(r.stdout) as { files: string[] }).files;
  for (const f of ['addition-accuracy.csv', 'addition-accuracy.pgf.tex', 'addition-accuracy.py', 'table.tex'])
    check(files.some((x) => x.endsWith(f)) && existsSync(join(out, f)), `export did not write ${f}: ${JSON.stringify(files)}`);
  check(readFileSync(join(out, 'table.tex'), 'utf8').includes('\\toprule'), 'table.tex has no booktabs rule');
  log(`exported ${files.length} files`);
  check(watch.problems.length === 0, `page problems: ${watch.problems.join(' | ')}`);
  log(`ablation ${id}: 4 runs completed, two at a time`);
  await page.close();
}
