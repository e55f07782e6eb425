import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type Service } from '../../core/service';
import { BODY_LIMIT, startServer, type RunningServer } from '../../server/http';
import { NO_TOKEN_WARNING, serveToken, servingLines } from '../../server/serve';
import { getSetting } from '../../db/queries';
import { cleanupTempDirs, fakeCommand, SPEC, tempDir, waitFor } from '../fixtures/helpers';

let service: Service;
let srv: RunningServer;
let staticDir: string;

beforeAll(async () => {
  const root = tempDir();
  staticDir = join(root, 'renderer');
  mkdirSync(join(staticDir, 'assets'), { recursive: true });
  writeFileSync(join(staticDir, 'index.html'), '<!doctype html><title>STaR Lab</title>');
  writeFileSync(join(staticDir, 'assets', 'app.js'), 'console.log(1)');
  writeFileSync(join(root, 'secret.txt'), 'TOP SECRET');
  service = createService({ dataDir: join(root, 'data'), commandFor: fakeCommand('complete'), pollMs: 100 });
  srv = await startServer({ service, host: '127.0.0.1', port: 0, staticDir, heartbeatMs: 200 });
});
afterAll(async () => {
  await srv?.close();
  service?.close();
  cleanupTempDirs();
});

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}
/** Raw request to srv with its token (the path is sent exactly as given). */
function raw(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Res> {
  return anon(method, path, body, { authorization: `Bearer ${srv.token}`, ...headers });
}
/** Raw request to srv as any local process could send it: no token. */
function anon(method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: srv.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}
async function cmd(name: string, args: unknown): Promise<{ status: number; json: { ok: boolean; result?: unknown; error?: string } }> {
  const r = await raw('POST', `/api/cmd/${name}`, JSON.stringify(args), { 'content-type': 'application/json' });
  return { status: r.status, json: JSON.parse(r.body) };
}

describe('HTTP server', () => {
  it('reports the URL and health', async () => {
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}/`);
    const r = await raw('GET', '/api/health');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ ok: true });
  });

  it('runs commands and pushes runsChanged over SSE', async () => {
    const events: string[] = [];
    let heartbeats = 0;
    const sse = request({ host: '127.0.0.1', port: srv.port, path: '/api/events', headers: { authorization: `Bearer ${srv.token}` } });
    const connected = new Promise<void>((resolve) => {
      sse.on('response', (res) => {
        expect(res.headers['content-type']).toMatch(/text\/event-stream/);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          events.push(chunk);
          if (chunk.includes(': heartbeat')) heartbeats++;
        });
        resolve();
      });
    });
    sse.end();
    await connected;

    expect((await cmd('listRuns', [])).json).toEqual({ ok: true, result: [] });
    const cat = await cmd('catalog', []);
    expect((cat.json.result as { presets: string[] }).presets).toContain('tiny');
    const launched = await cmd('launchRun', [{ ...SPEC, seed: 1 }]);
    expect(launched.status).toBe(200);
    const id = (launched.json.result as { ok: true; id: string }).id;
    expect(id).toBeTruthy();
    await waitFor(() => events.join('').includes(`event: runsChanged\ndata: {"ids":["${id}"]}`), 5000, 'runsChanged');
    let status = '';
    for (let i = 0; i < 100 && status !== 'completed'; i++) {
      status = ((await cmd('getRun', [id])).json.result as { status: string }).status;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(status).toBe('completed');
    const logs = await cmd('getLogs', [id, { afterId: 0, limit: 10 }]);
    expect(Array.isArray(logs.json.result)).toBe(true);
    const samples = await cmd('getSamples', [id, { iteration: 0 }]);
    expect((samples.json.result as unknown[]).length).toBe(2);
    expect((await cmd('getRun', ['unknown-run'])).json).toEqual({ ok: true, result: null });
    await waitFor(() => heartbeats > 0, 3000, 'heartbeat');
    sse.destroy();
  });

  it('answers 400 for invalid arguments, 404 for unknown commands', async () => {
    const bad = await cmd('getRun', ['../etc']);
    expect(bad.status).toBe(400);
    expect(bad.json.ok).toBe(false);
    expect(bad.json.error).toMatch(/invalid run id/);
    expect((await cmd('getRun', [])).status).toBe(400);
    expect((await cmd('launchRun', [{ ...SPEC, extra: 1 }])).status).toBe(400);
    expect((await cmd('listRuns', { not: 'an array' })).status).toBe(400);
    const badJson = await raw('POST', '/api/cmd/listRuns', '[1,', { 'content-type': 'application/json' });
    expect(badJson.status).toBe(400);
    expect((await cmd('nope', [])).status).toBe(404);
    expect((await cmd('constructor', [])).status).toBe(404);
    expect((await raw('POST', '/api/cmd/listRuns', '[]', { 'content-type': 'text/plain' })).status).toBe(415);
    expect((await raw('GET', '/api/cmd/listRuns')).status).toBe(405);
    expect((await raw('GET', '/api/nothing')).status).toBe(404);
    const big = await raw('POST', '/api/cmd/listRuns', Buffer.alloc(BODY_LIMIT + 10, 32), { 'content-type': 'application/json' });
    expect(big.status).toBe(413);
    const invalid = await cmd('launchRun', [{ ...SPEC, overrides: { 'loop.lr': 'abc' } }]);
    expect(invalid.status).toBe(200);
    expect(invalid.json.result).toEqual({ ok: false, errors: [{ field: 'loop.lr', message: expect.any(String) }] });
  });

  it('refuses cross-origin commands and foreign Host names', async () => {
    const r = await raw('POST', '/api/cmd/listRuns', '[]', { 'content-type': 'application/json', origin: 'http://evil.example' });
    expect(r.status).toBe(403);
    const h = await raw('GET', '/api/health', undefined, { host: 'evil.example:80' });
    expect(h.status).toBe(403);
  });

  it('serves static files with content types and an index.html fallback', async () => {
    const index = await raw('GET', '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toMatch(/text\/html/);
    expect(index.body).toContain('STaR Lab');
    const js = await raw('GET', '/assets/app.js');
    expect(js.headers['content-type']).toMatch(/text\/javascript/);
    expect(js.body).toBe('console.log(1)');
    const route = await raw('GET', '/runs/20260101-000000-abcd');
    expect(route.status).toBe(200);
    expect(route.body).toContain('STaR Lab');
    expect((await raw('GET', '/assets/missing.js')).status).toBe(404);
    expect((await raw('HEAD', '/assets/app.js')).body).toBe('');
  });

  it('refuses path traversal', async () => {
    for (const p of [
      '/../secret.txt',
      '/..%2fsecret.txt',
      '/assets/..%2f..%2fsecret.txt',
      '/%2e%2e/secret.txt',
      '/..\\secret.txt',
      '/%00',
    ]) {
      const r = await raw('GET', p);
      expect(r.body, p).not.toContain('TOP SECRET');
      expect(
        r.status === 403 || r.status === 404 || r.status === 400 || (r.status === 200 && r.body.includes('STaR Lab')),
        `${p} → ${r.status}`,
      ).toBe(true);
    }
    expect((await raw('GET', '/..%2fsecret.txt')).status).toBe(403);
  });
});

describe('access token off loopback', () => {
  /** A request to a server bound to every address (reached here through 127.0.0.1). */
  function to(port: number, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Res> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      req.end();
    });
  }
  const json = { 'content-type': 'application/json' };

  it('generates a token when bound to 0.0.0.0 and refuses the API without it', async () => {
    const open = await startServer({ service, host: '0.0.0.0', port: 0, staticDir });
    try {
      expect(open.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
      expect(open.openUrl).toBe(`${open.url}?token=${open.token}`);
      // no token, a wrong one, a token in the query of an API call: refused
      for (const headers of [{}, { authorization: 'Bearer wrong-token-wrong-token-xx' }, { cookie: 'starlab_token=nope' }] as Record<
        string,
        string
      >[]) {
        const r = await to(open.port, 'POST', '/api/cmd/listRuns', { ...json, ...headers }, '[]');
        expect(r.status).toBe(401);
        expect(JSON.parse(r.body).error).toMatch(/requires its access token/);
      }
      expect((await to(open.port, 'POST', `/api/cmd/listRuns?token=${open.token}`, json, '[]')).status).toBe(401);
      expect((await to(open.port, 'GET', '/api/events')).status).toBe(401);
      // health stays open (for monitors); the app shell is static
      expect((await to(open.port, 'GET', '/api/health')).status).toBe(200);
      expect((await to(open.port, 'GET', '/')).status).toBe(200);
      // the bearer header works
      const ok = await to(open.port, 'POST', '/api/cmd/listRuns', { ...json, authorization: `Bearer ${open.token}` }, '[]');
      expect(ok.status).toBe(200);
      expect(JSON.parse(ok.body).ok).toBe(true);
      // opening /?token=… sets an HttpOnly cookie and drops the token from the address; the cookie works
      const hand = await to(open.port, 'GET', `/runs?token=${open.token}&x=1`);
      expect(hand.status).toBe(303);
      expect(hand.headers.location).toBe('/runs?x=1');
      const cookie = String(hand.headers['set-cookie']);
      expect(cookie).toContain('HttpOnly');
      expect(cookie).toContain('SameSite=Strict');
      const viaCookie = await to(open.port, 'POST', '/api/cmd/listRuns', { ...json, cookie: cookie.split(';')[0]! }, '[]');
      expect(viaCookie.status).toBe(200);
      expect((await to(open.port, 'GET', '/?token=not-the-token-at-all')).status).toBe(401);
    } finally {
      await open.close();
    }
  });

  it('takes a given token, refuses a malformed one, and needs one on loopback too', async () => {
    await expect(startServer({ service, host: '0.0.0.0', port: 0, staticDir, token: 'short' })).rejects.toThrow(/16-256 characters/);
    const given = await startServer({ service, host: '0.0.0.0', port: 0, staticDir, token: 'a-given-token-0123456789' });
    try {
      expect(given.token).toBe('a-given-token-0123456789');
      expect(
        (await to(given.port, 'POST', '/api/cmd/listRuns', { ...json, authorization: 'Bearer a-given-token-0123456789' }, '[]')).status,
      ).toBe(200);
      expect((await to(given.port, 'POST', '/api/cmd/listRuns', json, '[]')).status).toBe(401);
    } finally {
      await given.close();
    }
    expect(srv.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect((await cmd('listRuns', [])).status).toBe(200);
    expect((await anon('POST', '/api/cmd/listRuns', '[]', json)).status).toBe(401);
  });
});

describe('access token on loopback (the default)', () => {
  const json = { 'content-type': 'application/json' };

  it('generates a token when none is given, so a local process cannot set the interpreter', async () => {
    expect(srv.host).toBe('127.0.0.1');
    expect(srv.token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(srv.openUrl).toBe(`${srv.url}?token=${srv.token}`);
    const before = service.getSettings().pythonPath;
    // the attack: any local process points the interpreter at its own program, then asks for a check
    const set = await anon('POST', '/api/cmd/setPythonPath', JSON.stringify(['/tmp/evil-program']), json);
    expect(set.status).toBe(401);
    expect(JSON.parse(set.body)).toMatchObject({ ok: false, error: expect.stringMatching(/requires its access token/) });
    expect((await anon('POST', '/api/cmd/checkPython', '[]', json)).status).toBe(401);
    expect((await anon('POST', '/api/cmd/launchRun', JSON.stringify([SPEC]), json)).status).toBe(401);
    expect((await anon('GET', '/api/events')).status).toBe(401);
    expect(service.getSettings().pythonPath).toBe(before);
    expect(getSetting(service.db, 'pythonPath')).toBeUndefined();
    // a wrong token, and a token in an API call's query, do not help
    expect((await anon('POST', '/api/cmd/listRuns', '[]', { ...json, authorization: 'Bearer wrong-token-wrong-token-xx' })).status).toBe(
      401,
    );
    expect((await anon('POST', `/api/cmd/listRuns?token=${srv.token}`, '[]', json)).status).toBe(401);
    // health and the static shell stay open; opening ?token= hands the browser its cookie
    expect((await anon('GET', '/api/health')).status).toBe(200);
    expect((await anon('GET', '/')).status).toBe(200);
    const hand = await anon('GET', `/?token=${srv.token}`);
    expect(hand.status).toBe(303);
    const cookie = String(hand.headers['set-cookie']).split(';')[0]!;
    expect((await anon('POST', '/api/cmd/listRuns', '[]', { ...json, cookie })).status).toBe(200);
  });

  it('runs open only when asked for (token: null), and only on loopback', async () => {
    const open = await startServer({ service, host: '127.0.0.1', port: 0, staticDir, token: null });
    try {
      expect(open.token).toBeNull();
      expect(open.openUrl).toBe(open.url);
      const r = await new Promise<number>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: open.port, method: 'POST', path: '/api/cmd/listRuns', headers: json }, (res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        req.on('error', reject);
        req.end('[]');
      });
      expect(r).toBe(200);
    } finally {
      await open.close();
    }
    for (const host of ['0.0.0.0', '::', '192.0.2.1'])
      await expect(startServer({ service, host, port: 0, staticDir, token: null })).rejects.toThrow(/only listen on a loopback address/);
  });
});

describe('serve options', () => {
  it('requires a token by default, takes --token or $STARLAB_TOKEN, and allows --no-token on loopback only', () => {
    expect(serveToken({}, {})).toBeUndefined(); // startServer generates one
    expect(serveToken({ host: '0.0.0.0' }, {})).toBeUndefined();
    expect(serveToken({}, { STARLAB_TOKEN: 'from-the-environment-123' })).toBe('from-the-environment-123');
    expect(serveToken({ token: 'given-token-0123456789' }, { STARLAB_TOKEN: 'from-the-environment-123' })).toBe('given-token-0123456789');
    for (const host of [undefined, '127.0.0.1', '::1', 'localhost'])
      expect(serveToken({ host, noToken: true }, { STARLAB_TOKEN: 'from-the-environment-123' })).toBeNull();
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'gpu-box'])
      expect(() => serveToken({ host, noToken: true }, {})).toThrow(
        `--no-token is for a loopback address only (127.0.0.1, ::1, localhost), not --host ${host}`,
      );
    expect(() => serveToken({ noToken: true, token: 'given-token-0123456789' }, {})).toThrow(/contradict/);
  });

  it('prints the address with the token, or a warning without one', () => {
    const url = 'http://127.0.0.1:5178/';
    expect(servingLines({ url, token: 'abcdefghijklmnop0123', openUrl: `${url}?token=abcdefghijklmnop0123` }, '/data')).toEqual({
      stdout: [
        'STaR Lab serving at http://127.0.0.1:5178/ (data: /data)',
        'access token required: open http://127.0.0.1:5178/?token=abcdefghijklmnop0123 once in the browser, or send "Authorization: Bearer abcdefghijklmnop0123"',
      ],
      stderr: [],
    });
    expect(servingLines({ url, token: null, openUrl: url }, '/data')).toEqual({
      stdout: ['STaR Lab serving at http://127.0.0.1:5178/ (data: /data)'],
      stderr: [NO_TOKEN_WARNING],
    });
    expect(NO_TOKEN_WARNING).toMatch(/^WARNING: --no-token: any process or user on this machine can use this server/);
  });
});
