/**
 * The Electron shell, tested through its BUILT bundles (run `npx electron-vite build`
 * first) against tests/electron-stub.ts: out/main/index.js is imported with 'electron'
 * aliased to the stub (vitest.config.ts), out/preload/index.cjs is evaluated as a
 * sandboxed preload would be, with a `require` that knows only 'electron'.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import * as electron from '../electron-stub';
import { FakeEvent, app, ipcRenderer, stub, type FakeUtilityProcess } from '../electron-stub';
import { COMMAND_NAMES, EVENT_NAMES, ipcChannel } from '../../shared/contract';
import { SAVE_FILES_CHANNEL } from '../../electron/host-protocol';

const root = resolve(import.meta.dirname, '../..');
const built = {
  main: join(root, 'out/main/index.js'),
  host: join(root, 'out/main/service-host.js'),
  preload: join(root, 'out/preload/index.cjs'),
  renderer: join(root, 'out/renderer/index.html'),
};

function requireBuilt(): void {
  for (const [k, p] of Object.entries(built))
    if (!existsSync(p)) throw new Error(`${k} bundle ${p} is missing: run "npx electron-vite build" before the unit tests`);
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));
const ownPage = pathToFileURL(join(root, 'out/renderer/index.html')).href;
const trusted = { senderFrame: { url: `${ownPage}#/runs` } };
/** URLs that are not our page: remote, other local files, look-alikes of our own path, schemes. */
const foreignUrls = [
  'https://example.invalid/',
  'http://localhost:5173/',
  'file:///etc/passwd',
  'file:///tmp/other.html',
  `${ownPage}.evil.html`,
  `${ownPage}/../../index.html`,
  `${ownPage}?x=1`,
  'javascript:alert(1)',
  'data:text/html,<script>alert(1)</script>',
  'about:blank',
  '',
];
const DATA_DIR = '/tmp/starlab-electron-shell-test';

describe('electron main process (out/main/index.js)', () => {
  let host: FakeUtilityProcess;

  beforeAll(async () => {
    requireBuilt();
    stub.reset();
    process.env['STARLAB_DATA_DIR'] = DATA_DIR;
    // 'electron' in the bundle resolves to tests/electron-stub.ts through the vitest alias.
    await import(pathToFileURL(built.main).href);
    expect(stub.windows).toHaveLength(0); // nothing before 'ready'
    app.markReady();
    await tick();
    host = stub.forks[0]!;
    // Answer every call as the service host would: echo the validated arguments.
    stub.onHostMessage = (child, m) => {
      const msg = m as { type: string; id: number; cmd: string; args: unknown[] };
      if (msg.type !== 'call') return;
      if (msg.cmd === 'stopRun') child.reply({ type: 'result', id: msg.id, ok: false, error: 'boom from the service' });
      else child.reply({ type: 'result', id: msg.id, ok: true, result: { cmd: msg.cmd, args: msg.args } });
    };
  });

  it('registers exactly one ipcMain handler per contract command, plus the save-files channel', () => {
    expect([...stub.handlers.keys()].sort()).toEqual([...COMMAND_NAMES.map((c) => ipcChannel.command(c)), SAVE_FILES_CHANNEL].sort());
  });

  it('saves exported files through the native dialogs, refusing bad names and strangers', async () => {
    const save = stub.handlers.get(SAVE_FILES_CHANNEL)!;
    const dir = mkdtempSync(join(tmpdir(), 'starlab-save-'));
    const file = (name: string, text: string) => ({ name, mime: 'text/plain', base64: Buffer.from(text).toString('base64') });
    // one file: the save dialog, written where the user chose
    electron.dialog.saveAnswer = { canceled: false, filePath: join(dir, 'chosen.svg') };
    await expect(save(trusted, [file('fig.svg', '<svg/>')])).resolves.toEqual({ ok: true, result: { saved: [join(dir, 'chosen.svg')] } });
    expect(readFileSync(join(dir, 'chosen.svg'), 'utf8')).toBe('<svg/>');
    expect(electron.dialog.calls.at(-1)).toMatchObject({ kind: 'save', options: { defaultPath: 'fig.svg' } });
    // a figure set: a folder
    electron.dialog.openAnswer = { canceled: false, filePaths: [dir] };
    const r = (await save(trusted, [file('a.csv', 'x'), file('b@2x.png', 'y')])) as { ok: true; result: { saved: string[] } };
    expect(r.result.saved).toEqual([join(dir, 'a.csv'), join(dir, 'b@2x.png')]);
    expect(electron.dialog.calls.at(-1)).toMatchObject({ kind: 'open', options: { properties: ['openDirectory', 'createDirectory'] } });
    // cancelled
    electron.dialog.openAnswer = { canceled: true, filePaths: [] };
    await expect(save(trusted, [file('a.csv', 'x'), file('b.csv', 'y')])).resolves.toEqual({ ok: true, result: { cancelled: true } });
    // nothing outside the chosen folder, no junk, not from a stranger
    const n = electron.dialog.calls.length;
    for (const bad of ['../evil.sh', '/etc/passwd', '.bashrc', 'a/b.csv', 'a\\b.csv', '']) {
      const res = (await save(trusted, [file(bad, 'x')])) as { ok: boolean; error?: string };
      expect(res.ok, bad).toBe(false);
      expect(res.error).toMatch(/saveFiles: 0.0.name: a plain file name/);
    }
    expect(((await save(trusted, [{ name: 'a.csv', mime: 'x', base64: 'not base64!' }])) as { error: string }).error).toMatch(/base64/);
    expect(((await save(trusted, [])) as { error: string }).error).toMatch(/saveFiles/);
    expect(((await save({ senderFrame: { url: 'https://evil.example/' } }, [file('a.csv', 'x')])) as { error: string }).error).toMatch(
      /refused/,
    );
    expect(electron.dialog.calls.length).toBe(n); // no dialog opened for any of them
  });

  it('opens one window with secure webPreferences and the built preload and page', () => {
    expect(stub.windows).toHaveLength(1);
    const wp = stub.windows[0]!.options['webPreferences'] as Record<string, unknown>;
    expect(wp).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      webviewTag: false,
    });
    // no remote module, no opt-outs of isolation
    expect(wp).not.toHaveProperty('enableRemoteModule');
    expect(wp).not.toHaveProperty('enableBlinkFeatures');
    expect(wp).not.toHaveProperty('additionalArguments');
    expect(wp['preload']).toBe(built.preload);
    expect(stub.windows[0]!.loaded.file).toBe(built.renderer);
  });

  it('runs the service in a utilityProcess (service-host.js) with the data directory', () => {
    expect(stub.forks).toHaveLength(1);
    expect(host.modulePath).toBe(built.host);
    const i = host.args.indexOf('--data-dir');
    expect(i).toBeGreaterThanOrEqual(0);
    expect(host.args[i + 1]).toBe(DATA_DIR);
  });

  it('blocks navigation and redirects away from its own page, and webviews', () => {
    const wc = stub.windows[0]!.webContents;
    for (const ev of ['will-navigate', 'will-redirect']) {
      expect(wc.listenerCount(ev)).toBeGreaterThan(0);
      for (const url of foreignUrls) expect(wc.fire(ev, url).defaultPrevented, `${ev} ${url}`).toBe(true);
      // our own page (a reload, a route) stays allowed
      for (const url of [ownPage, `${ownPage}#/runs/run_1`]) expect(wc.fire(ev, url).defaultPrevented, `${ev} ${url}`).toBe(false);
    }
    expect(wc.fire('will-attach-webview', {}, {}).defaultPrevented).toBe(true);
  });

  it('denies every new window; only https links go to the system browser', () => {
    const wc = stub.windows[0]!.webContents;
    expect(wc.windowOpenHandler).toBeTypeOf('function');
    stub.openedExternal.length = 0;
    const open = (url: string) => wc.windowOpenHandler!({ url, frameName: '', features: '', disposition: 'new-window' });
    for (const url of [...foreignUrls, ownPage, 'https://user:pw@example.invalid/', 'mailto:a@b.c', 'smb://host/share', 'https//x'])
      expect(open(url), url).toEqual({ action: 'deny' });
    expect(stub.openedExternal).toEqual(['https://example.invalid/']);
    expect(open('https://arxiv.org/abs/2203.14465')).toEqual({ action: 'deny' });
    expect(stub.openedExternal).toEqual(['https://example.invalid/', 'https://arxiv.org/abs/2203.14465']);
  });

  it('applies the same guards to web contents created later', () => {
    const wc = new electron.FakeWebContents();
    app.emit('web-contents-created', new FakeEvent(), wc);
    expect(wc.fire('will-navigate', 'https://example.invalid/').defaultPrevented).toBe(true);
    expect(wc.fire('will-redirect', 'file:///etc/passwd').defaultPrevented).toBe(true);
    expect(wc.fire('will-attach-webview', {}, {}).defaultPrevented).toBe(true);
    expect(wc.windowOpenHandler!({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
  });

  it('denies every permission request and permission check', () => {
    const wc = stub.windows[0]!.webContents;
    for (const permission of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'fileSystem']) {
      let granted: boolean | undefined;
      stub.permissionHandler!(wc, permission, (g: boolean) => (granted = g), { requestingUrl: trusted.senderFrame.url });
      expect(granted, permission).toBe(false);
      expect(stub.permissionCheckHandler!(wc, permission, trusted.senderFrame.url, {}), permission).toBe(false);
    }
  });

  it('forwards valid commands to the service host and returns {ok, result}', async () => {
    const before = host.posted.length;
    const r = await stub.handlers.get(ipcChannel.command('getRun'))!(trusted, 'run_1');
    expect(r).toEqual({ ok: true, result: { cmd: 'getRun', args: ['run_1'] } });
    const r2 = await stub.handlers.get(ipcChannel.command('getLogs'))!(trusted, 'run_1', { afterId: 3, limit: 10 });
    expect(r2).toEqual({ ok: true, result: { cmd: 'getLogs', args: ['run_1', { afterId: 3, limit: 10 }] } });
    expect(host.posted.length).toBe(before + 2);
  });

  it('refuses invalid arguments without reaching the service, naming the argument', async () => {
    const before = host.posted.length;
    // [command, arguments, the error after "<command>: " (argument path, then the problem)]
    const cases: [string, unknown[], RegExp][] = [
      ['getRun', ['../../etc/passwd'], /^0: invalid run id/],
      ['getRun', [], /^args: Too small/],
      ['getRun', [42], /^0: .*expected string, received number/],
      ['stopRun', [null], /^0: .*expected string, received null/],
      ['listRuns', ['extra'], /^args: Too big/],
      ['getLogs', ['run_1', { afterId: -1 }], /^1\.afterId: Too small/],
      ['getLogs', ['run_1', { evil: true }], /^1: Unrecognized key: "evil"/],
      ['getTraces', ['run_1', { limit: 1e9 }], /^1\.limit: Too big/],
      ['getSeries', [['run_1'], ['x'.repeat(10_000)]], /^1\.0: Too big/],
      ['launchRun', [{ variant: 'star', dataset: 'addition', preset: 'tiny', extra: 1 }], /^0: Unrecognized key: "extra"/],
      ['importDataset', ['x'], /^0: .*expected object, received string/],
      ['exportGroup', ['g', 'exe'], /^1: .*expected object/],
      ['setPythonPath', [''], /^0: Too small/],
    ];
    for (const [cmd, args, error] of cases) {
      const r = (await stub.handlers.get(ipcChannel.command(cmd as (typeof COMMAND_NAMES)[number]))!(trusted, ...args)) as {
        ok: boolean;
        error?: string;
      };
      expect(r.ok, `${cmd}(${JSON.stringify(args).slice(0, 60)})`).toBe(false);
      expect(r.error!.startsWith(`${cmd}: `), r.error).toBe(true);
      expect(r.error!.slice(cmd.length + 2)).toMatch(error);
    }
    expect(host.posted.length).toBe(before);
  });

  it('validates sender and arguments in every command handler', async () => {
    const before = host.posted.length;
    for (const cmd of COMMAND_NAMES) {
      const handler = stub.handlers.get(ipcChannel.command(cmd))!;
      // no command takes 40 arguments: the schema, not the service, must say so
      const tooMany = (await handler(trusted, ...Array.from({ length: 40 }, () => ({})))) as { ok: boolean; error?: string };
      expect(tooMany.ok, cmd).toBe(false);
      expect(tooMany.error, cmd).toMatch(new RegExp(`^${cmd}: args: Too big`));
      const stranger = (await handler({ senderFrame: { url: 'https://evil.example/' } })) as { ok: boolean; error?: string };
      expect(stranger, cmd).toEqual({ ok: false, error: 'refused: the sender is not the STaR Lab window' });
    }
    expect(host.posted.length).toBe(before);
  });

  it('refuses calls from any page but its own', async () => {
    const before = host.posted.length;
    for (const cmd of ['listRuns', 'getRun', 'launchRun', 'setPythonPath'] as const) {
      const args = cmd === 'listRuns' ? [] : cmd === 'launchRun' ? [{ variant: 'star', dataset: 'addition', preset: 'tiny' }] : ['run_1'];
      for (const url of foreignUrls) {
        const r = (await stub.handlers.get(ipcChannel.command(cmd))!({ senderFrame: { url } }, ...args)) as { ok: boolean; error?: string };
        expect(r, `${cmd} from ${url}`).toEqual({ ok: false, error: 'refused: the sender is not the STaR Lab window' });
      }
      // a destroyed frame (senderFrame null) is a stranger too
      expect(((await stub.handlers.get(ipcChannel.command(cmd))!({ senderFrame: null }, ...args)) as { ok: boolean }).ok).toBe(false);
    }
    expect(host.posted.length).toBe(before);
  });

  it('turns a service error into {ok:false, error}', async () => {
    const r = await stub.handlers.get(ipcChannel.command('stopRun'))!(trusted, 'run_1');
    expect(r).toEqual({ ok: false, error: 'boom from the service' });
  });

  it('relays service events to the window on the contract channel, and only contract events', () => {
    const wc = stub.windows[0]!.webContents;
    wc.sent.length = 0;
    host.reply({ type: 'event', event: 'runsChanged', payload: { ids: ['run_1'] } });
    host.reply({ type: 'event', event: 'notAnEvent', payload: {} });
    expect(wc.sent).toEqual([{ channel: ipcChannel.event('runsChanged'), args: [{ ids: ['run_1'] }] }]);
  });

  it('rejects pending calls when the service host exits, and restarts it', async () => {
    stub.onHostMessage = null; // the host never answers
    const pending = stub.handlers.get(ipcChannel.command('listRuns'))!(trusted) as Promise<{ ok: boolean; error?: string }>;
    await tick();
    host.emit('exit', 1);
    const r = await pending;
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/exited/);
    await new Promise((res) => setTimeout(res, 1100));
    expect(stub.forks).toHaveLength(2);
  });
});

describe('preload (out/preload/index.cjs)', () => {
  let api: Record<string, unknown> & {
    kind: string;
    invoke: (cmd: string, ...args: unknown[]) => Promise<unknown>;
    on: (event: string, cb: (p: unknown) => void) => () => void;
  };
  const required: string[] = [];

  beforeAll(() => {
    requireBuilt();
    stub.exposed.length = 0;
    const code = readFileSync(built.preload, 'utf8');
    expect(code).not.toMatch(/^\s*(import|export)\s/m); // CommonJS, not ESM
    const sandboxRequire = (name: string): unknown => {
      required.push(name);
      if (name === 'electron') return electron;
      throw new Error(`a sandboxed preload cannot require "${name}": bundle it into the preload`);
    };
    const module = { exports: {} };
    new Function('require', 'module', 'exports', code)(sandboxRequire, module, module.exports);
    api = stub.exposed[0]!.api as typeof api;
  });

  it('is one self-contained CommonJS file that requires only electron', () => {
    expect([...new Set(required)]).toEqual(['electron']);
  });

  it('exposes exactly window.starlab = {kind, invoke, on, saveFiles}', () => {
    expect(stub.exposed.map((e) => e.key)).toEqual(['starlab']);
    expect(Object.keys(api).sort()).toEqual(['invoke', 'kind', 'on', 'saveFiles']);
    expect(api.kind).toBe('electron-ipc');
    expect(api.invoke).toBeTypeOf('function');
    expect(api.on).toBeTypeOf('function');
    expect(Object.values(api)).not.toContain(ipcRenderer);
  });

  it('invokes every contract command on its channel and unwraps the reply', async () => {
    stub.rendererInvokes.length = 0;
    stub.invokeReply = (channel, args) => ({ ok: true, result: { channel, args } });
    for (const c of COMMAND_NAMES) {
      await expect(api.invoke(c, 'x', 1)).resolves.toEqual({ channel: ipcChannel.command(c), args: ['x', 1] });
    }
    expect(stub.rendererInvokes.map((i) => i.channel)).toEqual(COMMAND_NAMES.map((c) => ipcChannel.command(c)));
  });

  it('hands files to the save-files channel and unwraps the reply', async () => {
    stub.rendererInvokes.length = 0;
    stub.invokeReply = () => ({ ok: true, result: { saved: ['/x/a.svg'] } });
    const files = [{ name: 'a.svg', mime: 'image/svg+xml', base64: '' }];
    await expect((api['saveFiles'] as (f: unknown) => Promise<unknown>)(files)).resolves.toEqual({ saved: ['/x/a.svg'] });
    expect(stub.rendererInvokes).toEqual([{ channel: SAVE_FILES_CHANNEL, args: [files] }]);
    stub.invokeReply = () => ({ ok: false, error: 'saveFiles: 0.0.name: a plain file name' });
    await expect((api['saveFiles'] as (f: unknown) => Promise<unknown>)(files)).rejects.toThrow(/plain file name/);
  });

  it('turns {ok:false} into a rejected promise with the message', async () => {
    stub.invokeReply = () => ({ ok: false, error: 'getRun: args.0: invalid run id' });
    await expect(api.invoke('getRun', '..')).rejects.toThrow('getRun: args.0: invalid run id');
  });

  it('refuses a name outside the contract without touching IPC', async () => {
    stub.rendererInvokes.length = 0;
    for (const bad of ['notACommand', 'constructor', '__proto__', 'toString', 'starlab:cmd:listRuns', ''])
      await expect(api.invoke(bad)).rejects.toThrow(/not a command/);
    await expect(api.invoke(42 as unknown as string)).rejects.toThrow(/not a command/);
    expect(stub.rendererInvokes).toHaveLength(0);
  });

  it('subscribes to contract events only, passes the payload alone, and unsubscribes', () => {
    for (const e of EVENT_NAMES) {
      const channel = ipcChannel.event(e);
      const got: unknown[][] = [];
      const off = api.on(e, (...a: unknown[]) => got.push(a));
      expect(ipcRenderer.listenerCount(channel)).toBe(1);
      ipcRenderer.emit(channel, { sender: ipcRenderer }, { ids: ['r1'] });
      expect(got).toEqual([[{ ids: ['r1'] }]]);
      off();
      expect(ipcRenderer.listenerCount(channel)).toBe(0);
    }
    expect(() => api.on('notAnEvent', () => {})).toThrow(/not an event/);
    expect(ipcRenderer.eventNames()).toEqual([]);
  });
});

describe('renderer page (out/renderer/index.html)', () => {
  it('carries the strict CSP and no inline script or style', () => {
    requireBuilt();
    const html = readFileSync(built.renderer, 'utf8');
    const metas = [...html.matchAll(/<meta\s+http-equiv="Content-Security-Policy"\s+content="([^"]+)"/gi)];
    expect(metas).toHaveLength(1);
    const csp = metas[0]![1]!;
    const directives = new Map(
      csp.split(';').map((d) => {
        const [name, ...sources] = d.trim().split(/\s+/);
        return [name!, sources] as const;
      }),
    );
    expect(Object.fromEntries(directives)).toEqual({
      'default-src': ["'self'"],
      'script-src': ["'self'"],
      'style-src': ["'self'"],
      'img-src': ["'self'", 'data:', 'blob:'], // PNG export draws an SVG blob onto a canvas
      'font-src': ["'self'", 'data:'],
      'connect-src': ["'self'"],
      'object-src': ["'none'"],
      'frame-src': ["'none'"],
      'form-action': ["'none'"],
      'base-uri': ["'none'"],
    });
    // nothing that re-opens script injection or remote loading
    expect(csp).not.toMatch(/unsafe-eval|unsafe-inline|unsafe-hashes|wasm-unsafe-eval|\*|https?:|strict-dynamic/);
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/i);
    expect(html).not.toMatch(/<style/i);
    expect(html).not.toMatch(/\sstyle=/i);
  });
});
