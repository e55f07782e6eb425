/**
 * Browser mode over node:http:
 *   POST /api/cmd/<name>  JSON array of arguments → 200 {ok:true,result} | 400 {ok:false,error} | 404
 *   GET  /api/events      Server-Sent Events (event: runsChanged, data: {"ids":[…]}), heartbeat comment every 15 s
 *   GET  /api/health      {"ok":true}
 *   everything else       static files of out/renderer (index.html for client routes)
 * The API needs an access token on every interface, loopback included (a random one when
 * none is given): `Authorization: Bearer <token>`, or the cookie set by opening
 * `/?token=<token>` once (the page's fetches and EventSource then carry it). Whoever holds it
 * can launch runs, i.e. run programs as the server's user. `token: null` turns it off, and
 * only on a loopback address (`--no-token`). /api/health and the static app shell stay open.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, resolve, sep } from 'node:path';
import {
  COMMAND_NAMES,
  EVENT_NAMES,
  parseCommandArgs,
  type CommandName,
  type Commands,
  type EventName,
  type EventPayloads,
} from '../shared/contract';

/** What the server needs from the service. */
export type ServiceLike = Commands & {
  on<E extends EventName>(event: E, cb: (payload: EventPayloads[E]) => void): () => void;
};

export interface StartServerOptions {
  service: ServiceLike;
  host?: string;
  /** 0 = any free port. */
  port?: number;
  /** Directory of the built renderer (out/renderer); null serves the API only. */
  staticDir?: string | null;
  heartbeatMs?: number;
  /**
   * The access token the API requires, on every interface: undefined generates a random one
   * (the default); a string is that token (16-256 URL-safe characters); null means none,
   * which only a loopback host accepts (startServer refuses null on any other address).
   */
  token?: string | null;
}

export interface RunningServer {
  url: string;
  /** The access token the API requires (null: none), and the URL that hands it to a browser. */
  token: string | null;
  openUrl: string;
  host: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** Largest request body: a compare-view figure sent for export (up to 100 series of downsampled points) fits. */
export const BODY_LIMIT = 8 * 1024 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
};

const COMMANDS = new Set<string>(COMMAND_NAMES);

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limit) {
      reject(new HttpError(413, `request body over ${limit} bytes`));
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) {
        failed = true;
        reject(new HttpError(413, `request body over ${limit} bytes`));
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!failed) resolvePromise(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', (e) => {
      if (!failed) reject(e);
      failed = true;
    });
  });
}

/** Loopback host names: a server bound to one only serves requests addressed to one (DNS-rebinding guard). */
export function isLoopbackHost(h: string): boolean {
  return h === '127.0.0.1' || h === 'localhost' || h === '::1' || h === '[::1]';
}

const TOKEN_COOKIE = 'starlab_token';
/** At least 16 characters of URL-safe text: the token travels in a query string and a cookie. */
const TOKEN_RE = /^[A-Za-z0-9_-]{16,256}$/;

export function newToken(): string {
  return randomBytes(24).toString('base64url');
}

/** Constant-time comparison of a presented token with the server's. */
function tokenMatches(presented: string | null | undefined, token: string): boolean {
  if (!presented) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

function hostOf(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  const i = hostHeader.lastIndexOf(':');
  return i >= 0 ? hostHeader.slice(0, i) : hostHeader;
}

export function startServer(opts: StartServerOptions): Promise<RunningServer> {
  const { service } = opts;
  const host = opts.host ?? '127.0.0.1';
  const staticDir = opts.staticDir ? resolve(opts.staticDir) : null;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const sseClients = new Set<ServerResponse>();
  const loopbackOnly = isLoopbackHost(host);
  if (opts.token != null && !TOKEN_RE.test(opts.token))
    return Promise.reject(new Error('the access token must be 16-256 characters of A-Z, a-z, 0-9, "_" or "-"'));
  if (opts.token === null && !loopbackOnly)
    return Promise.reject(
      new Error(`a server without an access token may only listen on a loopback address (127.0.0.1, ::1, localhost), not on ${host}`),
    );
  const token = opts.token === undefined ? newToken() : opts.token;
  /** Whether a request carries the token (header or cookie); always true without one. */
  const authorized = (req: IncomingMessage): boolean => {
    if (token === null) return true;
    const auth = String(req.headers.authorization ?? '');
    const bearer = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    return tokenMatches(bearer, token) || tokenMatches(cookieValue(req.headers.cookie, TOKEN_COOKIE), token);
  };

  async function handleCommand(req: IncomingMessage, res: ServerResponse, name: string): Promise<void> {
    if (!COMMANDS.has(name)) return sendJson(res, 404, { ok: false, error: `unknown command "${name}"` });
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return sendJson(res, 405, { ok: false, error: 'use POST' });
    }
    // A JSON content type forces a CORS preflight for cross-site pages, which is never granted.
    const ct = String(req.headers['content-type'] ?? '');
    if (!/^application\/json\b/i.test(ct)) return sendJson(res, 415, { ok: false, error: 'content-type must be application/json' });
    let body: string;
    try {
      body = await readBody(req, BODY_LIMIT);
    } catch (e) {
      const status = e instanceof HttpError ? e.status : 400;
      res.setHeader('connection', 'close');
      return sendJson(res, status, { ok: false, error: (e as Error).message });
    }
    let args: unknown;
    try {
      args = body.trim() === '' ? [] : JSON.parse(body);
    } catch (e) {
      return sendJson(res, 400, { ok: false, error: `invalid JSON: ${(e as Error).message}` });
    }
    if (!Array.isArray(args)) return sendJson(res, 400, { ok: false, error: 'the body must be a JSON array of arguments' });
    const cmd = name as CommandName;
    const parsed = parseCommandArgs(cmd, args);
    if (!parsed.ok) return sendJson(res, 400, { ok: false, error: parsed.error });
    try {
      const fn = service[cmd] as (...a: unknown[]) => unknown;
      const result = await fn.apply(service, parsed.args as unknown[]);
      sendJson(res, 200, { ok: true, result: result === undefined ? null : result });
    } catch (e) {
      sendJson(res, 500, { ok: false, error: (e as Error)?.message ?? String(e) });
    }
  }

  function handleEvents(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write('retry: 2000\n: connected\n\n');
    sseClients.add(res);
    const unsubs = EVENT_NAMES.map((e) =>
      service.on(e, (payload) => {
        res.write(`event: ${e}\ndata: ${JSON.stringify(payload)}\n\n`);
      }),
    );
    const hb = setInterval(() => res.write(': heartbeat\n\n'), heartbeatMs);
    const done = () => {
      clearInterval(hb);
      for (const u of unsubs) u();
      sseClients.delete(res);
    };
    req.on('close', done);
    res.on('close', done);
  }

  function handleStatic(req: IncomingMessage, res: ServerResponse, pathname: string): void {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return sendText(res, 405, 'method not allowed');
    }
    if (!staticDir) return sendText(res, 404, 'not found (this server has no UI files)');
    let rel: string;
    try {
      rel = decodeURIComponent(pathname);
    } catch {
      return sendText(res, 400, 'bad path');
    }
    if (rel.includes('\0') || rel.split(/[\\/]/).includes('..')) return sendText(res, 403, 'forbidden');
    const file = resolve(join(staticDir, rel));
    if (file !== staticDir && !file.startsWith(staticDir + sep)) return sendText(res, 403, 'forbidden');
    let target = file;
    let st = statOrNull(target);
    if (st?.isDirectory()) {
      target = join(target, 'index.html');
      st = statOrNull(target);
    }
    if (!st || !st.isFile()) {
      // Client-side routes (no file extension) get the app; missing assets get 404.
      if (extname(rel) === '') {
        target = join(staticDir, 'index.html');
        st = statOrNull(target);
      }
      if (!st || !st.isFile()) {
        return sendText(
          res,
          404,
          st === null && !statOrNull(join(staticDir, 'index.html')) ? 'the UI is not built: run "npm run build"' : 'not found',
        );
      }
    }
    const ext = extname(target).toLowerCase();
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[ext] ?? 'application/octet-stream',
      'content-length': st.size,
      'cache-control':
        ext === '.html' ? 'no-cache' : target.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
    });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(target)
      .on('error', () => res.destroy())
      .pipe(res);
  }

  const server = createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://localhost');
    } catch {
      return sendText(res, 400, 'bad request');
    }
    // DNS-rebinding guard: on a loopback address, only loopback Host names are served.
    if (loopbackOnly) {
      const h = hostOf(String(req.headers.host ?? ''));
      if (h && !isLoopbackHost(h)) return sendText(res, 403, 'forbidden host');
    }
    const origin = req.headers.origin;
    if (origin && req.method !== 'GET' && req.method !== 'HEAD') {
      let ok = false;
      try {
        const o = new URL(origin);
        ok = o.host === req.headers.host || (loopbackOnly && isLoopbackHost(o.hostname));
      } catch {
        ok = false;
      }
      if (!ok) return sendJson(res, 403, { ok: false, error: 'cross-origin request refused' });
    }
    const p = url.pathname;
    // Opening /?token=… once: a valid token becomes an HttpOnly cookie, and the address loses it.
    const given = url.searchParams.get('token');
    if (token !== null && given !== null && (req.method === 'GET' || req.method === 'HEAD') && !p.startsWith('/api/')) {
      if (!tokenMatches(given, token)) return sendText(res, 401, 'wrong access token');
      url.searchParams.delete('token');
      res.writeHead(303, {
        location: `${p}${url.search}`,
        'set-cookie': `${TOKEN_COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        'cache-control': 'no-store',
      });
      return void res.end();
    }
    if (p.startsWith('/api/') && p !== '/api/health' && !authorized(req))
      return sendJson(res, 401, {
        ok: false,
        error:
          'this server requires its access token: open the address it printed (…/?token=…) once, or send "Authorization: Bearer <token>"',
      });
    if (p.startsWith('/api/')) {
      if (p.startsWith('/api/cmd/')) {
        handleCommand(req, res, p.slice('/api/cmd/'.length)).catch((e) => {
          if (!res.headersSent) sendJson(res, 500, { ok: false, error: String(e) });
        });
        return;
      }
      if (p === '/api/events' && req.method === 'GET') return handleEvents(req, res);
      if (p === '/api/health' && req.method === 'GET') return sendJson(res, 200, { ok: true });
      return sendJson(res, 404, { ok: false, error: `no route ${req.method} ${p}` });
    }
    handleStatic(req, res, p);
  });
  server.requestTimeout = 60_000;
  server.headersTimeout = 30_000;

  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 5178, host, () => {
      server.off('error', reject);
      const addr = server.address() as AddressInfo;
      const shownHost = addr.family === 'IPv6' || host.includes(':') ? `[${host}]` : host;
      const url = `http://${shownHost}:${addr.port}/`;
      resolvePromise({
        url,
        token,
        openUrl: token === null ? url : `${url}?token=${token}`,
        host,
        port: addr.port,
        server,
        close: () =>
          new Promise<void>((done) => {
            for (const c of sseClients) c.end();
            sseClients.clear();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

function statOrNull(p: string) {
  try {
    return statSync(p);
  } catch {
    return null;
  }
}
