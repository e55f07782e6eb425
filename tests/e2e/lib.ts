/**
 * E2E helpers: the built server as a child process, Debian's Chromium through
 * playwright-core with a fresh profile, a tiny SSE reader, and a scenario runner.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const ROOT = resolve(import.meta.dirname, '../..');
export const RESULTS = join(ROOT, 'test-results');
export const CHROMIUM = process.env['STARLAB_CHROMIUM'] ?? '/usr/bin/chromium';

const t0 = Date.now();
export function log(msg: string): void {
  console.log(`[e2e ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}`);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface Server {
  /** The server's address, without the token (pages are opened under it once the browser holds the cookie). */
  url: string;
  /** The access token it printed, and the address that hands it to a browser (`/?token=…`). */
  token: string;
  openUrl: string;
  dataDir: string;
  child: ChildProcess;
  output: () => string;
  stop: () => Promise<void>;
}

/** The access token of each server this process started, by its URL: apiCall and followEvents send it. */
const tokens = new Map<string, string>();
function authHeaders(base: string): Record<string, string> {
  const token = tokens.get(base.replace(/\/$/, ''));
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** The lines `serve` prints: the address, then the address with the access token. */
const SERVING_RE = /serving at (https?:\/\/\S+?)\/? \(data: /;
const TOKEN_RE = /access token required: open (https?:\/\/\S+\?token=([A-Za-z0-9_-]+)) once/;

/** Start `node out/main/server.js --port 0 --data-dir <dir>` and read its URL and token lines. */
export async function startServer(dataDir: string, timeoutMs = 20_000): Promise<Server> {
  const child = spawn(process.execPath, [join(ROOT, 'out/main/server.js'), '--port', '0', '--data-dir', dataDir], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env },
  });
  let out = '';
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => (out += d));
  const { url, token, openUrl } = await new Promise<{ url: string; token: string; openUrl: string }>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`server printed no URL and token in ${timeoutMs} ms:\n${out}`)), timeoutMs);
    child.stdout!.on('data', (d: string) => {
      out += d;
      const m = SERVING_RE.exec(out);
      const t = TOKEN_RE.exec(out);
      if (m && t) {
        clearTimeout(timer);
        resolveUrl({ url: m[1]!, token: t[2]!, openUrl: t[1]! });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before printing its URL:\n${out}`));
    });
  });
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
  tokens.set(url, token);
  return { url, token, openUrl, dataDir, child, output: () => out, stop };
}

/** POST /api/cmd/<cmd> with a JSON array; returns the parsed body and the HTTP status. */
export async function apiCall(base: string, cmd: string, args: unknown[]): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base}/api/cmd/${encodeURIComponent(cmd)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...authHeaders(base) },
    body: JSON.stringify(args),
  });
  let body: any = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  return { status: res.status, body };
}

/** Follow GET /api/events and call `onEvent` for every event; returns a closer. */
export function followEvents(base: string, onEvent: (event: string, data: unknown) => void): () => void {
  const req = request(`${base}/api/events`, { headers: { accept: 'text/event-stream', ...authHeaders(base) } }, (res) => {
    res.setEncoding('utf8');
    let buf = '';
    res.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        let event = 'message';
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).trimStart());
        }
        if (!data.length) continue;
        try {
          onEvent(event, JSON.parse(data.join('\n')));
        } catch {
          onEvent(event, data.join('\n'));
        }
      }
    });
  });
  req.on('error', () => {});
  req.end();
  return () => req.destroy();
}

export interface Browser {
  context: BrowserContext;
  close: () => Promise<void>;
}

/**
 * A fresh Chromium profile. Given a server, the browser opens its `/?token=…` address once, as
 * a user would: the server answers with its HttpOnly cookie, which the pages' fetches and
 * EventSource then carry.
 */
export async function launchBrowser(server?: Server): Promise<Browser> {
  const profile = tempDir('starlab-e2e-profile-');
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
  const close = async (): Promise<void> => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  if (server) {
    try {
      const page = await context.newPage();
      await page.goto(server.openUrl);
      check(!page.url().includes('token='), `the server kept the token in the address: ${page.url()}`);
      const cookies = await context.cookies(server.url);
      check(
        cookies.some((c) => c.name === 'starlab_token' && c.value === server.token && c.httpOnly),
        `opening ${server.openUrl} set no HttpOnly token cookie (cookies: ${cookies.map((c) => c.name).join(', ') || 'none'})`,
      );
      await page.close();
    } catch (e) {
      await close();
      throw e;
    }
  }
  return { context, close };
}

/** Collect page errors, console errors and CSP violations. */
export async function watchPage(page: Page): Promise<{ problems: string[] }> {
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console.error: ${m.text()}`);
  });
  await page.addInitScript(`(() => {
    globalThis.__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      globalThis.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI);
    });
  })();`);
  return { problems };
}

export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate(() => ((globalThis as any).__cspViolations ?? []) as string[]);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(RESULTS, { recursive: true });
  const path = join(RESULTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  log(`screenshot ${path}`);
  return path;
}

export function check(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}

/** Poll `fn` until it returns a truthy value. */
export async function waitFor<T>(what: string, fn: () => Promise<T> | T, timeoutMs: number, everyMs = 250): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
