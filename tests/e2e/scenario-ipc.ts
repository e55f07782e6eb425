/**
 * Scenario (b): the same renderer with the Electron preload bridge emulated in the page.
 * `window.starlab` gets exactly the preload's shape ({kind, invoke, on}, same allow-lists);
 * invoke goes through page.exposeFunction to a relay that does what electron/main.ts does
 * (validate with the contract, forward to the service: here the server's HTTP API), and
 * service events are pushed into the page as main pushes them to the window.
 */
import { COMMAND_NAMES, EVENT_NAMES, parseCommandArgs, type CommandName } from '../../shared/contract';
import { apiCall, check, cspViolations, followEvents, log, screenshot, waitFor, watchPage, type Browser, type Server } from './lib';
import { status } from './scenario-http';

/** The emulated preload: window.starlab = {kind, invoke, on} with the preload's allow-lists. */
export function bridgeScript(commands: string[], events: string[]): string {
  return `(() => {
  const commands = ${JSON.stringify(commands)};
  const events = ${JSON.stringify(events)};
  const listeners = new Map();
  Object.defineProperty(globalThis, '__starlabEmit', {
    enumerable: false,
    value: (event, payload) => { for (const cb of [...(listeners.get(event) || [])]) cb(payload); },
  });
  const api = Object.freeze({
    kind: 'electron-ipc',
    invoke: async (cmd, ...args) => {
      if (typeof cmd !== 'string' || !commands.includes(cmd)) throw new Error('starlab: "' + String(cmd) + '" is not a command');
      const reply = await globalThis.__starlabInvoke(cmd, args);
      if (reply && reply.ok === true) return reply.result;
      throw new Error(reply && reply.ok === false ? reply.error : 'starlab: ' + cmd + ': malformed reply');
    },
    on: (event, cb) => {
      if (typeof event !== 'string' || !events.includes(event)) throw new Error('starlab: "' + String(event) + '" is not an event');
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(cb);
      return () => { set.delete(cb); };
    },
  });
  Object.defineProperty(globalThis, 'starlab', { value: api, enumerable: true, writable: false, configurable: false });
})();`;
}

export async function scenarioIpc(browser: Browser, server: Server, known: { completedId: string; stoppedId: string }): Promise<void> {
  const page = await browser.context.newPage();
  const watch = await watchPage(page);
  const apiRequests: string[] = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname.startsWith('/api/')) apiRequests.push(r.url());
  });
  const forwarded: string[] = [];

  // main.ts's ipcMain handler, minus Electron.
  await page.exposeFunction('__starlabInvoke', async (cmd: string, args: unknown[]) => {
    if (!(COMMAND_NAMES as string[]).includes(cmd)) return { ok: false, error: `unknown command "${cmd}"` };
    const parsed = parseCommandArgs(cmd as CommandName, args);
    if (!parsed.ok) return { ok: false, error: `${cmd}: ${parsed.error}` };
    forwarded.push(cmd);
    const r = await apiCall(server.url, cmd, parsed.args as unknown[]);
    return r.body?.ok === true ? { ok: true, result: r.body.result } : { ok: false, error: r.body?.error ?? `HTTP ${r.status}` };
  });
  // preload.ts, as the page sees it. (A string: tsx would wrap a function's inner
  // functions in helpers that do not exist in the page.)
  await page.addInitScript(bridgeScript(COMMAND_NAMES as string[], EVENT_NAMES as string[]));

  let delivered = 0;
  const stopEvents = followEvents(server.url, (event, data) => {
    if (!(EVENT_NAMES as string[]).includes(event)) return;
    delivered++;
    void page.evaluate(([e, d]) => (globalThis as any).__starlabEmit(e, d), [event, data] as const).catch(() => {});
  });

  try {
    await page.goto(`${server.url}/#/runs`);
    const kind = await page.getByTestId('app').getAttribute('data-transport');
    check(kind === 'electron-ipc', `transport is "${kind}", expected "electron-ipc"`);
    const shape = await page.evaluate(() => Object.keys((globalThis as any).starlab).sort());
    check(JSON.stringify(shape) === '["invoke","kind","on"]', `window.starlab keys ${JSON.stringify(shape)}`);
    const refused = await page.evaluate(() =>
      (globalThis as any).starlab.invoke('dropDatabase').then(
        () => 'resolved',
        (e: Error) => e.message,
      ),
    );
    check(/not a command/.test(refused), `invoke('dropDatabase') gave ${refused}`);

    // The runs of scenario (a), as the IPC transport sees them.
    for (const [id, want] of [
      [known.completedId, 'completed'],
      [known.stoppedId, 'stopped'],
    ] as const) {
      const row = page.getByTestId(`run-row-${id}`);
      await row.waitFor({ timeout: 10_000 });
      const s = await row.getAttribute('data-status');
      check(s === want, `runs table shows ${id} as ${s}, expected ${want}`);
    }
    await screenshot(page, 'ipc-runs');
    await page.getByTestId(`run-row-${known.completedId}`).click();
    await page.getByTestId('run-page').waitFor();
    check((await status(page)) === 'completed', 'run page status is not completed');
    await waitFor(
      'the accuracy chart',
      async () => (await page.getByTestId('accuracy-chart').getAttribute('data-last-iteration')) === '2',
      10_000,
    );
    await waitFor('log lines', async () => Number(await page.getByTestId('run-logs').getAttribute('data-lines')) > 0, 10_000);
    await screenshot(page, 'ipc-run-page');

    // Events through the bridge: with no run active the runs page does not poll, so a run
    // launched elsewhere can only appear through a relayed runsChanged.
    await page.getByTestId('nav-runs').click();
    await page.getByTestId('runs-table').waitFor();
    const before = delivered;
    const launched = await apiCall(server.url, 'launchRun', [
      { variant: 'star', dataset: 'addition', preset: 'tiny', seed: 3, overrides: { 'loop.iterations': '3' } },
    ]);
    check(launched.body?.result?.ok === true, `launchRun over HTTP failed: ${JSON.stringify(launched.body)}`);
    const id = launched.body.result.id as string;
    await page.getByTestId(`run-row-${id}`).waitFor({ timeout: 4000 });
    check(delivered > before, 'no runsChanged event was relayed into the page');
    log(`run ${id} appeared through a relayed event; stopping it through the bridge`);
    await page.getByTestId(`run-row-${id}`).click();
    await waitFor('the run to be running', async () => (await status(page)) === 'running', 60_000);
    await page.getByTestId('stop-button').click();
    await page.getByTestId('stop-confirm').click();
    await waitFor(`${id} to be stopped`, async () => (await status(page)) === 'stopped', 30_000);
    check(forwarded.includes('stopRun'), 'stopRun did not go through the bridge');

    check(apiRequests.length === 0, `the renderer used HTTP in IPC mode: ${apiRequests.slice(0, 3).join(', ')}`);
    const csp = await cspViolations(page);
    check(csp.length === 0, `CSP violations: ${csp.join('; ')}`);
    check(watch.problems.length === 0, `page problems: ${watch.problems.join('; ')}`);
  } finally {
    stopEvents();
    await page.close();
  }
}
