/**
 * Scenario (f): look inside real tiny runs (issue 5). A star and a star-norat run on addition
 * (INSPECT_STAR), and scenario (c)'s v-star and quiet-star runs (launched here when (c) did not run):
 *   - traces: open them from the star run's page, filter "solved only through
 *     rationalization" (the total equals `starlab traces --filter rationalized-only`), open a
 *     question, compare two iterations (diff marks where the texts differ) and the same question
 *     in star-norat; the solve matrix draws and re-sorts;
 *   - blind rating: a task star vs star-norat from the form, five pairs rated with the keyboard,
 *     no origin shown while rating, the summary counts them, resumed on reload;
 *   - V-STaR: the verifier panel's recounted Best-of-k chart, score histogram and ranked candidates;
 *   - Quiet-STaR: thoughts inline.
 * Screenshots go to test-results/inspect-*.png.
 */
import type { Page } from 'playwright-core';
import { apiCall, check, log, screenshot, waitFor, watchPage, type Browser, type Server } from './lib';
import { cli, microOverrides, type Variant } from './scenario-variants';

interface RunLite {
  id: string;
  variant: string;
  dataset: string;
  status: string;
}

/**
 * Settings for the star / star-norat pair: the micro overrides' model is too weak to get
 * anything right even through the hint, so this keeps the tiny model and a warm-up long
 * enough to use hints (about 20 s a run; seed 0 gives rationalized-only rows).
 */
const INSPECT_STAR = [
  'runtime.threads=1',
  'task.max_digits=2',
  'task.train_per_digit=30',
  'task.eval_per_digit=10',
  'warmup.examples=200',
  'warmup.steps=250',
  'loop.iterations=2',
  'loop.base_steps=20',
  'loop.max_new_tokens=24',
];

async function launch(server: Server, variant: Variant, sets: string[]): Promise<string> {
  const args = [
    'launch',
    '--variant',
    variant,
    '--dataset',
    'addition',
    '--preset',
    'tiny',
    '--seed',
    '0',
    '--wait',
    '--json',
    '--data-dir',
    server.dataDir,
  ];
  for (const s of sets) args.push('--set', s);
  const r = await cli(args);
  check(r.code === 0, `launching ${variant} failed: ${r.stderr.slice(-2000)}`);
  return (JSON.parse(r.stdout) as { id: string }).id;
}

/** A completed addition run of the variant: scenario (c)'s, or a new micro one through the CLI. */
async function additionRun(server: Server, variant: Variant): Promise<string> {
  const runs = ((await apiCall(server.url, 'listRuns', [])).body?.result ?? []) as RunLite[];
  const found = runs.find((r) => r.variant === variant && r.dataset === 'addition' && r.status === 'completed');
  return found ? found.id : launch(server, variant, microOverrides(variant, 'addition'));
}

async function call<T>(server: Server, cmd: string, args: unknown[]): Promise<T> {
  const r = await apiCall(server.url, cmd, args);
  check(r.body?.ok === true, `${cmd} failed: ${JSON.stringify(r.body).slice(0, 500)}`);
  return r.body.result as T;
}

interface Trace {
  questionId: string;
  iteration: number;
  text: string;
  hintUsed: boolean;
  split: string;
  correct: boolean;
}

async function checkTraces(page: Page, server: Server, star: string, norat: string): Promise<void> {
  await page.goto(`${server.url}/#/runs/${star}`);
  await page.getByTestId('open-traces').click();
  await page.getByTestId('traces-page').waitFor({ timeout: 10_000 });
  await page.getByTestId('trace-row').first().waitFor({ timeout: 10_000 });

  // the filter's total is the CLI's count, and every row shown is one of the CLI's questions
  const r = await cli(['traces', star, '--filter', 'rationalized-only', '--limit', '5000', '--json', '--data-dir', server.dataDir]);
  check(r.code === 0, `starlab traces failed: ${r.stderr}`);
  const expected = JSON.parse(r.stdout) as Trace[];
  check(expected.length > 0, 'the star run has no rationalized-only rows');
  await page.getByTestId('traces-filter').selectOption('rationalized-only');
  await waitFor(
    `traces total ${expected.length}`,
    async () => ((await page.getByTestId('traces-total').textContent()) ?? '').replace(/[^0-9]/g, '') === String(expected.length),
    10_000,
  );
  const ids = new Set(expected.map((t) => t.questionId));
  const shown = await page.getByTestId('trace-row').evaluateAll((els) => els.map((e) => e.getAttribute('data-question-id')));
  check(shown.length > 0 && shown.every((q) => q !== null && ids.has(q)), `rows outside the filter: ${JSON.stringify(shown.slice(0, 5))}`);
  check(page.url().includes('rationalized-only'), `the filter is not in the URL: ${page.url()}`);
  await screenshot(page, 'inspect-traces-rationalized-only');

  // one question across iterations of the run: two iterations side by side, differences marked
  const qid = shown[0]!;
  const all = (await call<{ rows: Trace[] }>(server, 'getTraces', [star, { questionId: qid, limit: 100 }])).rows;
  const its = [...new Set(all.map((t) => t.iteration))].sort((a, b) => a - b);
  await page.getByTestId('trace-row').first().click();
  await page.getByTestId('trace-compare').waitFor({ timeout: 10_000 });
  if (its.length >= 2) {
    await page.getByTestId('compare-iteration-a').selectOption(String(its[0]));
    await page.getByTestId('compare-iteration-b').selectOption(String(its.at(-1)));
    const pair = page.getByTestId('compare-iterations-diff');
    await waitFor(
      'the two iterations side by side',
      async () =>
        (await pair.locator('.diff-side').count()) === 2 &&
        (await pair.locator('.diff-side-head').first().textContent())?.includes(`it ${its[0]}`),
      10_000,
    );
    // each side reads as its whole text; what it alone has is marked by character (not whole
    // lines), green where that side's answer is right and red where it is wrong
    const marked: string[] = [];
    const texts: string[] = [];
    for (const [k, iteration] of [
      [0, its[0]!],
      [1, its.at(-1)!],
    ] as const) {
      const side = pair.locator('.diff-side').nth(k);
      const text = (await side.locator('.diff-text').textContent()) ?? '';
      const row = all.find((t) => t.iteration === iteration && t.text === text);
      check(row !== undefined, `side ${k} shows a text iteration ${iteration} did not sample: ${JSON.stringify(text.slice(0, 60))}`);
      const marks = await side
        .locator('mark')
        .evaluateAll((ms) =>
          ms.map((m) => ({ text: m.textContent ?? '', tone: m.getAttribute('data-tone'), bg: getComputedStyle(m).backgroundColor })),
        );
      const tone = row!.correct ? 'diff-right' : 'diff-wrong';
      const bg = row!.correct ? 'rgb(218, 251, 225)' : 'rgb(255, 235, 233)';
      check(
        marks.every((m) => m.tone === tone && m.bg === bg),
        `side ${k} (${row!.correct ? 'right' : 'wrong'}) marks: ${JSON.stringify(marks.slice(0, 3))}`,
      );
      marked.push(marks.map((m) => m.text).join(''));
      texts.push(text);
      // a shared start or end stays unmarked: a character diff, not the whole line
      check(marked[k]!.length < text.length || !text.length, `side ${k}: all ${text.length} characters marked`);
    }
    if (texts[0] !== texts[1])
      check(
        marked.some((m) => m.length > 0),
        'two different texts with nothing marked',
      );
    log(`trace diff: ${marked.map((m) => `${m.length} characters marked`).join(' | ')}`);
  }
  // the same question in the ablation without rationalization
  await page.getByTestId('compare-run').selectOption(norat);
  const other = (await call<{ rows: Trace[] }>(server, 'getTraces', [norat, { questionId: qid, limit: 100 }])).rows;
  if (other.length)
    await waitFor(
      "star-norat's rationale beside star's",
      async () => ((await page.getByTestId('trace-compare').textContent()) ?? '').includes(other.at(-1)!.text.trim().slice(0, 20)),
      10_000,
    );
  await screenshot(page, 'inspect-trace-compare');

  // the solve matrix draws its rows and re-sorts
  await page.getByTestId('solve-matrix').waitFor({ timeout: 10_000 });
  await page.getByTestId('solve-matrix-sort').selectOption('solved-count');
  await screenshot(page, 'inspect-solve-matrix');
}

async function checkRating(page: Page, server: Server, star: string, norat: string): Promise<void> {
  await page.goto(`${server.url}/#/rate`);
  await page.getByTestId('rating-task-form').waitFor({ timeout: 10_000 });
  await page.getByTestId('rating-name').fill('e2e blind rating');
  await page.getByTestId('rating-rater').fill('e2e rater');
  await waitFor(
    'runs in the source pickers',
    async () => (await page.getByTestId('rating-source-a-run').locator(`option[value="${star}"]`).count()) > 0,
    10_000,
  );
  await page.getByTestId('rating-source-a-run').selectOption(star);
  await page.getByTestId('rating-source-b-run').selectOption(norat);
  await page.getByTestId('rating-split').selectOption('train');
  await page.getByTestId('rating-limit').fill('5');
  await page.getByTestId('rating-only-correct').uncheck();
  await page.getByTestId('rating-create').click();
  await page.getByTestId('rating-start').click();
  await page.getByTestId('rater').waitFor({ timeout: 10_000 });
  const taskId = Number(/#\/rate\/(\d+)/.exec(page.url())?.[1]);
  check(taskId > 0, `not on a task page: ${page.url()}`);
  const task = (await call<{ id: number; items: number }[]>(server, 'listRatingTasks', [])).find((t) => t.id === taskId);
  check(task && task.items === 5, `the task has ${task?.items} pairs, expected 5`);

  // blind: neither run id nor variant appears while rating
  const text = (await page.getByTestId('rater').textContent()) ?? '';
  const html = await page.getByTestId('rater').innerHTML();
  for (const s of [star, norat, 'star-norat']) check(!text.includes(s) && !html.includes(s), `the rater shows an origin (${s})`);

  // five pairs with the keyboard: left, right, both, flag + left, neither. "Right answer, flawed
  // reasoning" is offered only for a side whose answer is right: the fourth pair flags such a side
  // (f left, j right), or, when neither is right, shows that f does nothing there.
  const progress = async (): Promise<string> => ((await page.getByTestId('rating-progress').textContent()) ?? '').trim();
  const keys: string[][] = [['ArrowLeft'], ['ArrowRight'], ['ArrowUp'], ['f', 'ArrowLeft'], ['ArrowDown']];
  let flagsExpected = 0;
  for (let i = 0; i < keys.length; i++) {
    // keys pressed while a choice is being saved are dropped (by design): wait until idle
    await waitFor(
      `pair ${i + 1}`,
      async () => (await progress()).startsWith(`${i} `) && (await page.getByTestId('rater').getAttribute('aria-busy')) === 'false',
      10_000,
    );
    if (i === 3) {
      const leftOk = (await page.getByTestId('rating-flag-left').count()) > 0;
      const rightOk = (await page.getByTestId('rating-flag-right').count()) > 0;
      check(leftOk || (await page.getByTestId('rating-wrong-left').count()) > 0, 'a wrong left answer is not marked as wrong');
      keys[i] = [leftOk ? 'f' : rightOk ? 'j' : 'f', 'ArrowLeft'];
      flagsExpected = leftOk || rightOk ? 1 : 0;
    }
    for (const k of keys[i]!) await page.keyboard.press(k);
  }
  await page.getByTestId('rating-done').waitFor({ timeout: 10_000 });
  await screenshot(page, 'inspect-rating-done');
  const summary = (
    await call<
      {
        a: string;
        b: string;
        n: number;
        winsA: number;
        winsB: number;
        both: number;
        neither: number;
        flaggedShareA: number | null;
        flaggedShareB: number | null;
      }[]
    >(server, 'ratingSummary', [taskId])
  )[0];
  check(
    summary && summary.n === 5 && summary.both === 1 && summary.neither === 1 && summary.winsA + summary.winsB === 3,
    `summary ${JSON.stringify(summary)}`,
  );
  check(
    Math.round(((summary.flaggedShareA ?? 0) + (summary.flaggedShareB ?? 0)) * 5) === flagsExpected,
    `${flagsExpected} flag(s) expected: ${JSON.stringify(summary)}`,
  );
  // resumable: reopening the task shows it done, with the same counts
  await page.reload();
  await page.getByTestId('rating-done').waitFor({ timeout: 10_000 });
  const csv = await call<{ ok: boolean; files: { name: string; base64: string }[] }>(server, 'exportRatings', [taskId]);
  const lines = Buffer.from(csv.files[0]!.base64, 'base64').toString('utf8').trim().split(/\r?\n/);
  check(lines.length >= 6, `the CSV has ${lines.length} lines, expected a header and 5 ratings`);
}

async function checkVerifier(page: Page, server: Server, vstar: string): Promise<void> {
  await page.goto(`${server.url}/#/runs/${vstar}`);
  await page.getByTestId('verifier-panel').waitFor({ timeout: 15_000 });
  const curve = await call<{ ok: boolean; points: { k: number; value: number }[] }>(server, 'getCurve', [
    vstar,
    { kind: 'best-of-k', scorer: 'dpo' },
  ]);
  check(curve.ok && curve.points.length === 3, `getCurve: ${JSON.stringify(curve)}`);
  await waitFor(
    'the recounted Best-of-k chart',
    async () => (await page.getByTestId('verifier-curve-chart').locator('path.recharts-curve').count()) >= 2,
    15_000,
  );
  await waitFor(
    'the score histogram',
    async () => (await page.getByTestId('verifier-histogram').locator('.recharts-bar-rectangle').count()) > 0,
    15_000,
  );
  await page.getByTestId('verifier-question').first().click();
  await waitFor('ranked candidates', async () => (await page.getByTestId('verifier-candidate').count()) === 3, 10_000);
  await page.getByTestId('verifier-panel').scrollIntoViewIfNeeded();
  await screenshot(page, 'inspect-vstar-best-of-k');
}

async function checkThoughts(page: Page, server: Server, quiet: string): Promise<void> {
  await page.goto(`${server.url}/#/runs/${quiet}`);
  await page.getByTestId('thoughts-panel').waitFor({ timeout: 15_000 });
  await waitFor('thoughts inline', async () => (await page.getByTestId('thought-token').count()) > 0, 15_000);
  await screenshot(page, 'inspect-quiet-thoughts');
}

export async function scenarioInspect(browser: Browser, server: Server): Promise<void> {
  const [star, norat, vstar, quiet] = [
    await launch(server, 'star', INSPECT_STAR),
    await launch(server, 'star-norat', INSPECT_STAR),
    await additionRun(server, 'v-star'),
    await additionRun(server, 'quiet-star'),
  ];
  log(`inspecting star ${star}, star-norat ${norat}, v-star ${vstar}, quiet-star ${quiet}`);
  const page = await browser.context.newPage();
  const watch = await watchPage(page);
  await checkTraces(page, server, star, norat);
  await checkRating(page, server, star, norat);
  await checkVerifier(page, server, vstar);
  await checkThoughts(page, server, quiet);
  check(!watch.problems.length, `page problems: ${watch.problems.join('; ')}`);
  await page.close();
}
