/**
 * Scenarios (c) and (d): every variant on every dataset, with the real Python package.
 *   (c) through the CLI (`node bin/starlab.js launch … --wait --json`) into the server's data
 *       dir: each run completes and its curve is stored; V-STaR's candidates carry their
 *       scores and its Best-of-k / majority curves are logged.
 *   (d) through the UI: V-STaR, Quiet-STaR and STaR-norat launched from the form run to completion, and
 *       V-STaR's Best-of-k panel draws.
 * Micro overrides keep every run to seconds: these check the code paths, not the learning
 * (the tiny presets' learning is measured by `npm run bench:tiny`).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ROOT, apiCall, check, log, screenshot, waitFor, watchPage, type Browser, type Server } from './lib';

export const VARIANTS = ['star', 'star-norat', 'v-star', 'quiet-star'] as const;
export const DATASETS = ['addition', 'gsm8k', 'commonsenseqa', 'pair-sum'] as const;
export type Variant = (typeof VARIANTS)[number];
export type Dataset = (typeof DATASETS)[number];

const RUN_TIMEOUT_MS = Number(process.env['STARLAB_E2E_RUN_TIMEOUT_MS'] ?? 240_000);

/** Overrides that shrink a tiny preset to a few seconds of work for (variant, dataset). */
export function microOverrides(variant: Variant, dataset: Dataset): string[] {
  const sets = ['model.n_layer=1', 'model.n_embd=32', 'model.n_head=2', 'runtime.threads=1'];
  const newTokens = dataset === 'addition' ? 20 : dataset === 'pair-sum' ? 12 : 24;
  if (dataset === 'addition')
    sets.push(
      'model.max_len=64',
      'task.max_digits=2',
      'task.train_per_digit=10',
      'task.eval_per_digit=5',
      'warmup.examples=20',
      'warmup.max_digits=2',
      'warmup.steps=10',
    );
  else if (dataset === 'pair-sum') sets.push('task.train_per_length=4', 'task.eval_per_length=2', 'warmup.examples=20', 'warmup.steps=10');
  else sets.push('task.train_limit=4', 'task.eval_limit=4', 'warmup.examples=4', 'warmup.steps=2');
  if (variant === 'quiet-star')
    sets.push('quiet.steps=4', 'quiet.eval_every=2', 'quiet.batch_size=2', 'quiet.seq_len=32', `quiet.max_new_tokens=${newTokens}`);
  else sets.push('loop.iterations=2', 'loop.base_steps=4', `loop.max_new_tokens=${newTokens}`);
  if (variant === 'v-star')
    sets.push('loop.samples_per_question=2', 'verifier.steps=3', 'verifier.candidates=3', 'verifier.orm_steps=2', 'verifier.batch_size=4');
  return sets;
}

interface Shown {
  id: string;
  status: string;
  statusReason: string | null;
  variant: string;
  dataset: string;
  metrics: Record<string, { iteration: number; step: number; value: number }[]>;
}

export function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(ROOT, 'bin', 'starlab.js'), ...args],
      { cwd: ROOT, env: { ...process.env, ...env }, timeout: RUN_TIMEOUT_MS },
      (err, stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

function checkCurve(shown: Shown, what: string): void {
  check(shown.status === 'completed', `${what}: status ${shown.status} (${shown.statusReason ?? ''})`);
  const its = (shown.metrics['eval/accuracy'] ?? []).map((p) => p.iteration);
  check(JSON.stringify(its) === '[0,1,2]', `${what}: eval/accuracy at iterations ${JSON.stringify(its)}, expected [0,1,2]`);
  check((shown.metrics['compute/tokens'] ?? []).length > 0 || shown.variant === 'quiet-star', `${what}: no compute/tokens metric`);
}

async function checkVStar(server: Server, shown: Shown, what: string): Promise<void> {
  for (const k of [1, 2, 3])
    for (const m of ['vstar/pass', 'vstar/majority', 'vstar/best_of_k/dpo', 'vstar/best_of_k/orm'])
      check((shown.metrics[`${m}@${k}`] ?? []).length === 2, `${what}: ${m}@${k} not logged for both iterations`);
  const samples = ((await apiCall(server.url, 'getSamples', [shown.id, { iteration: 2, kind: 'candidate', limit: 1000 }])).body?.result ??
    []) as {
    kind: string;
    questionId: string;
    scores: Record<string, number> | null;
  }[];
  const cands = samples.filter((s) => s.kind === 'candidate');
  const perQ = new Map<string, number>();
  for (const c of cands) perQ.set(c.questionId, (perQ.get(c.questionId) ?? 0) + 1);
  check(
    cands.length > 0 && [...perQ.values()].every((n) => n === 3),
    `${what}: expected 3 stored candidates per eval question, got ${JSON.stringify([...perQ.values()])}`,
  );
  check(
    cands.every((c) => c.scores && ['logp', 'reward', 'orm'].every((k) => typeof c.scores![k] === 'number')),
    `${what}: a candidate lacks its scores`,
  );
  // starlab curves recounts from the stored candidates what the experiment logged
  for (const [kind, scorer, metric] of [
    ['pass-at-k', null, 'vstar/pass'],
    ['majority', null, 'vstar/majority'],
    ['best-of-k', 'dpo', 'vstar/best_of_k/dpo'],
    ['best-of-k', 'orm', 'vstar/best_of_k/orm'],
  ] as const) {
    const r = await cli([
      'curves',
      shown.id,
      '--kind',
      kind,
      '--iteration',
      '2',
      ...(scorer ? ['--scorer', scorer] : []),
      '--json',
      '--data-dir',
      server.dataDir,
    ]);
    check(r.code === 0, `${what}: starlab curves --kind ${kind} failed: ${r.stderr}`);
    const points = JSON.parse(r.stdout) as { k: number; value: number }[];
    check(
      JSON.stringify(points.map((p) => p.k)) === '[1,2,3]',
      `${what}: curves ${kind} has k = ${JSON.stringify(points.map((p) => p.k))}`,
    );
    for (const p of points) {
      const logged = shown.metrics[`${metric}@${p.k}`]?.find((m) => m.iteration === 2)?.value;
      check(logged !== undefined && Math.abs(logged - p.value) < 1e-9, `${what}: ${metric}@${p.k} logged ${logged}, recounted ${p.value}`);
    }
  }
}

export async function scenarioVariantsCli(server: Server): Promise<void> {
  // two runs at a time, as two people launching from two terminals: the runs are independent,
  // and each waits on its own Python (on this 2-core machine 16 runs one by one took 279 s)
  const cases = DATASETS.flatMap((dataset) => VARIANTS.map((variant) => ({ variant, dataset })));
  const lane = async (k: number) => {
    for (let i = k; i < cases.length; i += 2) await cliCase(server, cases[i]!.variant, cases[i]!.dataset);
  };
  await Promise.all([lane(0), lane(1)]);
}

async function cliCase(server: Server, variant: Variant, dataset: Dataset): Promise<void> {
  const what = `${variant} on ${dataset}`;
  const t = Date.now();
  const args = [
    'launch',
    '--variant',
    variant,
    '--dataset',
    dataset,
    '--preset',
    'tiny',
    '--seed',
    '1',
    '--wait',
    '--json',
    '--data-dir',
    server.dataDir,
  ];
  for (const s of microOverrides(variant, dataset)) args.push('--set', s);
  const r = await cli(args);
  let shown: Shown;
  try {
    shown = JSON.parse(r.stdout) as Shown;
  } catch {
    throw new Error(`${what}: the CLI printed no JSON (exit ${r.code}):\n${r.stderr.slice(-2000)}`);
  }
  checkCurve(shown, what);
  check(r.code === 0, `${what}: exit code ${r.code}`);
  if (variant === 'v-star') await checkVStar(server, shown, what);
  // every variant's per-question traces are there; star's include rationalizations (rows through the hint)
  const tr = await cli(['traces', shown.id, '--limit', '5000', '--json', '--data-dir', server.dataDir]);
  check(tr.code === 0, `${what}: starlab traces failed: ${tr.stderr}`);
  const traces = JSON.parse(tr.stdout) as { split: string; hintUsed: boolean; text: string }[];
  check(
    traces.some((t) => t.split === 'eval') && (variant === 'quiet-star' || traces.some((t) => t.split === 'train')),
    `${what}: traces lack a split (${traces.length} rows)`,
  );
  if (variant === 'star')
    check(
      traces.some((t) => t.hintUsed),
      `${what}: no rationalized trace`,
    );
  if (variant === 'star-norat')
    check(!traces.some((t) => t.hintUsed), `${what}: a trace through the hint in the ablation without rationalization`);
  if (variant === 'quiet-star')
    check(
      ['quiet/policy_loss', 'quiet/mixed_loss'].every((m) => (shown.metrics[m] ?? []).length > 0),
      `${what}: quiet/* losses not logged`,
    );
  // the server (watching the same data dir) lists it too
  const d = (await apiCall(server.url, 'getRun', [shown.id])).body?.result as Shown | null;
  check(d?.status === 'completed', `${what}: the server shows ${d?.status}`);
  log(`${what}: completed in ${((Date.now() - t) / 1000).toFixed(1)} s`);
}

async function launchFromForm(page: Page, base: string, variant: Variant, dataset: Dataset): Promise<string> {
  await page.goto(`${base}/#/launch`);
  await page.getByTestId('launch-form').waitFor();
  await waitFor('catalog options', async () => (await page.getByTestId('field-variant').locator('option').count()) >= 4, 10_000);
  await page.getByTestId('field-variant').selectOption(variant);
  await page.getByTestId('field-dataset').selectOption(dataset);
  await page.getByTestId('field-preset').selectOption('tiny');
  await page.getByTestId('field-seed').fill('2');
  await page.getByTestId('field-overrides').fill(microOverrides(variant, dataset).join('\n'));
  await waitFor(
    `"config is valid" for ${variant}`,
    async () => (await page.getByTestId('launch-state').textContent()) === 'config is valid',
    10_000,
  );
  await page.getByTestId('launch-submit').click();
  await page.waitForURL(/#\/runs\/[A-Za-z0-9_-]+$/, { timeout: 15_000 });
  return decodeURIComponent(/#\/runs\/([A-Za-z0-9_-]+)$/.exec(page.url())![1]!);
}

export async function scenarioVariantsUi(browser: Browser, server: Server): Promise<void> {
  const page = await browser.context.newPage();
  const watch = await watchPage(page);
  // Settings → Datasets: found through $STARLAB_DATASETS_DIR; import CommonsenseQA into the data dir
  await page.goto(`${server.url}/#/settings`);
  await page.getByTestId('dataset-row-gsm8k').waitFor({ timeout: 10_000 });
  check(
    (await page.getByTestId('dataset-row-gsm8k').getAttribute('data-found')) === 'yes',
    'GSM8K is not found through $STARLAB_DATASETS_DIR',
  );
  const shared = process.env['STARLAB_DATASETS_DIR']!;
  await page.getByTestId('import-dataset').selectOption('commonsenseqa');
  await page.getByTestId('import-train').fill(join(shared, 'commonsenseqa', 'train_rand_split.jsonl'));
  await page.getByTestId('import-eval').fill(join(shared, 'commonsenseqa', 'dev_rand_split.jsonl'));
  await page.getByTestId('import-submit').click();
  const imported = (await page.getByTestId('import-result').textContent({ timeout: 60_000 })) ?? '';
  check(imported.includes(join(server.dataDir, 'datasets', 'commonsenseqa')) && imported.includes('9741'), `import result: "${imported}"`);
  log('Settings → Datasets: imported CommonsenseQA into the data dir');
  for (const [variant, dataset] of [
    ['v-star', 'addition'],
    ['quiet-star', 'gsm8k'],
    ['star-norat', 'commonsenseqa'],
  ] as const) {
    const id = await launchFromForm(page, server.url, variant, dataset);
    await page.getByTestId('run-page').waitFor();
    await waitFor(
      `${variant} run ${id} to complete`,
      async () => (await page.getByTestId('run-status').getAttribute('data-status')) === 'completed',
      RUN_TIMEOUT_MS,
      500,
    );
    await waitFor(
      `${variant}: accuracy chart at its last evaluation`,
      async () => (await page.getByTestId('accuracy-chart').getAttribute('data-last-iteration')) === '2',
      15_000,
    );
    if (variant === 'v-star') await page.getByTestId('bestofk-chart').waitFor({ timeout: 15_000 });
    await screenshot(page, `run-page-${variant}`);
    log(`${variant} on ${dataset} launched from the form: completed`);
  }
  check(watch.problems.length === 0, `page problems: ${watch.problems.join(' | ')}`);
  await page.close();
}
