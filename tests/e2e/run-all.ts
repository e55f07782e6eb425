/**
 * End-to-end tests (npm run test:e2e): the built server (out/main/server.js) and the built
 * renderer in Debian's Chromium via playwright-core.
 *   (a) HTTP transport: launch from the form, field errors, a run to completion, a stopped run
 *   (b) the Electron preload bridge emulated in the page over the same runs
 *   (c) every variant on every dataset through the CLI, (d) V-STaR, Quiet-STaR and STaR-norat from the form
 *   (e) an ablation from the GUI through the queue
 *   (f) traces, blind rating, V-STaR and Quiet-STaR panels over real tiny runs
 *   (g) a plain Python script (the wandb shim) reporting in live while the app serves
 * Needs `npx electron-vite build` first and the Python venv (experiments/.venv);
 * STARLAB_E2E_PYTHON=<path> runs the experiments with another interpreter.
 * Prints one PASS/FAIL line per scenario and `E2E: N passed, M failed`; exits 1 on failure.
 * Screenshots go to test-results/*.png.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CHROMIUM, ROOT, apiCall, launchBrowser, log, startServer, tempDir, waitFor, type Browser, type Server } from './lib';
import { scenarioHttp } from './scenario-http';
import { scenarioIpc } from './scenario-ipc';
import { scenarioAblation } from './scenario-ablation';
import { scenarioVariantsCli, scenarioVariantsUi } from './scenario-variants';
import { scenarioInspect } from './scenario-inspect';
import { scenarioSdk } from './scenario-sdk';

/** Stop runs a failed scenario left running (they are detached from the server). */
async function stopLeftovers(server: Server): Promise<void> {
  try {
    const runs = ((await apiCall(server.url, 'listRuns', [])).body?.result ?? []) as { id: string; status: string }[];
    const live = runs.filter((r) => r.status === 'running' || r.status === 'queued');
    for (const r of live) await apiCall(server.url, 'stopRun', [r.id]);
    if (live.length) {
      log(`stopping ${live.length} leftover run(s)`);
      await waitFor(
        'leftover runs to stop',
        async () => {
          const now = ((await apiCall(server.url, 'listRuns', [])).body?.result ?? []) as { status: string }[];
          return !now.some((r) => r.status === 'running' || r.status === 'queued');
        },
        20_000,
        500,
      ).catch(() => log('some runs did not stop in 20 s'));
    }
  } catch {
    // the server may be gone already
  }
}

async function main(): Promise<number> {
  for (const f of ['out/main/server.js', 'out/renderer/index.html'])
    if (!existsSync(join(ROOT, f))) {
      console.error(`e2e: ${f} is missing: run "npx electron-vite build" first`);
      console.log('E2E: 0 passed, 1 failed');
      return 1;
    }
  if (!existsSync(CHROMIUM)) {
    console.error(`e2e: no Chromium at ${CHROMIUM} (set STARLAB_CHROMIUM)`);
    console.log('E2E: 0 passed, 1 failed');
    return 1;
  }
  const dataDir = tempDir('starlab-e2e-data-');
  // GSM8K and CommonsenseQA runs read the shared copies by path (never copied into the project)
  process.env['STARLAB_DATASETS_DIR'] ??= join(ROOT, '..', 'shared', 'datasets');
  let server: Server | null = null;
  let browser: Browser | null = null;
  let passed = 0;
  let failed = 0;
  const t = Date.now();
  try {
    server = await startServer(dataDir);
    log(`server at ${server.url} (data ${dataDir})`);
    const python = process.env['STARLAB_E2E_PYTHON'];
    if (python) {
      const r = await apiCall(server.url, 'setPythonPath', [python]);
      if (r.body?.ok !== true || r.body.result?.ok !== true) throw new Error(`setPythonPath failed: ${JSON.stringify(r.body)}`);
      log(`python for runs: ${python}`);
    }
    browser = await launchBrowser(server); // opens the printed ?token= address once: the cookie
    log('chromium up');

    let known: { completedId: string; stoppedId: string } | null = null;
    const scenarios: [string, () => Promise<void>][] = [
      [
        '(a) http transport: launch form, field errors, run to completion, stop',
        async () => {
          known = await scenarioHttp(browser!, server!);
        },
      ],
      [
        '(b) electron-ipc bridge emulated in the page: runs table, run page, events, stop',
        async () => {
          if (!known) throw new Error('skipped: needs the runs of scenario (a)');
          await scenarioIpc(browser!, server!, known);
        },
      ],
      ['(c) cli: every variant on every dataset (real Python), curves and V-STaR candidates stored', () => scenarioVariantsCli(server!)],
      ['(d) ui: V-STaR, Quiet-STaR and STaR-norat launched from the form, Best-of-k panel', () => scenarioVariantsUi(browser!, server!)],
      ['(e) ui: a 2-variant × 2-seed ablation queued two at a time, followed on its group page', () => scenarioAblation(browser!, server!)],
      [
        '(f) ui: traces, solve matrix, blind rating of five pairs, V-STaR verifier panel, Quiet-STaR thoughts',
        () => scenarioInspect(browser!, server!),
      ],
      [
        '(g) sdk: a script not launched by the lab reports 1,000 steps; its curve is drawn live, then complete',
        () => scenarioSdk(browser!, server!),
      ],
    ];
    // STARLAB_E2E_SCENARIOS=c,e runs only those scenarios (development)
    const only = (process.env['STARLAB_E2E_SCENARIOS'] ?? '').split(',').filter(Boolean);
    for (const [name, fn] of scenarios) {
      if (only.length && !only.some((k) => name.startsWith(`(${k})`))) continue;
      const s = Date.now();
      try {
        await fn();
        passed++;
        console.log(`PASS ${name} (${((Date.now() - s) / 1000).toFixed(1)} s)`);
      } catch (e) {
        failed++;
        console.log(`FAIL ${name} (${((Date.now() - s) / 1000).toFixed(1)} s)\n     ${(e as Error).message.replace(/\n/g, '\n     ')}`);
      }
    }
  } catch (e) {
    failed++;
    console.log(`FAIL setup: ${(e as Error).message}`);
  } finally {
    await browser?.close();
    if (server) await stopLeftovers(server);
    await server?.stop();
    if (failed && server) console.log(`--- server output ---\n${server.output().slice(-4000)}`);
    if (!process.env['STARLAB_E2E_KEEP']) rmSync(dataDir, { recursive: true, force: true });
    else log(`kept data dir ${dataDir}`);
  }
  log(`total ${((Date.now() - t) / 1000).toFixed(1)} s`);
  console.log(`E2E: ${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
