import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, REPO, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

/** Start a process, collect stdout until `until` matches (or it exits), then SIGTERM it. */
function runUntil(
  args: string[],
  until: RegExp,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  return new Promise((resolve) => {
    // Own process group, so a timeout can take down the server that start.mjs spawns too.
    const child = spawn(process.execPath, args, { cwd: REPO, env, detached: true });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, 30_000);
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (until.test(stdout)) child.kill('SIGTERM');
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ stdout, stderr, code });
    });
  });
}

const SERVING = /^STaR Lab serving at http:\/\/127\.0\.0\.1:(\d+)\/ \(data: (.+)\)$/m;
/** The second line: the address with the token (required on loopback too), and the header for scripts. */
const TOKEN_LINE =
  /^access token required: open http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]{32}) once in the browser, or send "Authorization: Bearer ([A-Za-z0-9_-]{32})"$/m;
const noTokenEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  delete env.STARLAB_TOKEN;
  return env;
};

describe('entry points', () => {
  it('server/main.ts prints the serving line and the token line on loopback, and stops on SIGTERM', async () => {
    const dir = tempDir();
    const r = await runUntil(['--import', 'tsx', 'server/main.ts', '--port', '0', '--data-dir', dir], TOKEN_LINE, noTokenEnv());
    const m = SERVING.exec(r.stdout);
    expect(m, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(m![2]).toBe(dir);
    const t = TOKEN_LINE.exec(r.stdout);
    expect(t, r.stdout).not.toBeNull();
    expect(t![1]).toBe(m![1]);
    expect(t![3]).toBe(t![2]);
    expect(r.stderr).not.toMatch(/WARNING/);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'starlab.db'))).toBe(true);
  });

  it('server/main.ts --no-token serves loopback without a token, with a warning', async () => {
    const dir = tempDir();
    const r = await runUntil(['--import', 'tsx', 'server/main.ts', '--port', '0', '--data-dir', dir, '--no-token'], SERVING, noTokenEnv());
    expect(r.stdout.trim().split('\n'), r.stdout).toEqual([expect.stringMatching(SERVING)]);
    expect(r.stderr).toContain(
      'WARNING: --no-token: any process or user on this machine can use this server, which amounts to running programs as you',
    );
    expect(r.code).toBe(0);
  });

  it('server/main.ts refuses --no-token with a non-loopback --host before touching anything', async () => {
    const dir = join(tempDir(), 'data');
    const r = await runUntil(
      ['--import', 'tsx', 'server/main.ts', '--port', '0', '--data-dir', dir, '--host', '0.0.0.0', '--no-token'],
      /$^/,
      noTokenEnv(),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(
      'starlab server: --no-token is for a loopback address only (127.0.0.1, ::1, localhost), not --host 0.0.0.0: anyone who can reach the port could run programs as you',
    );
    expect(existsSync(dir)).toBe(false);
  });

  it('npm start falls back to browser mode with one line saying why', async () => {
    const dir = tempDir();
    const env = noTokenEnv();
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const built = existsSync(join(REPO, 'out', 'main', 'server.js'));
    const r = await runUntil(['scripts/start.mjs', '--port', '0', '--data-dir', dir], built ? TOKEN_LINE : /$^/, env);
    const lines = r.stdout.trim().split('\n');
    const why = `stdout: ${r.stdout}\nstderr: ${r.stderr}\ncode: ${r.code}`;
    expect(lines[0], why).toMatch(/^starlab: cannot open the desktop window: .+; falling back to browser mode$/);
    if (built) {
      // the address, then the address with the token: the one the user opens
      expect(lines, why).toHaveLength(3);
      expect(lines[1], why).toMatch(SERVING);
      expect(lines[2], why).toMatch(TOKEN_LINE);
    } else {
      expect(r.stderr).toMatch(/npm run build/);
      expect(r.code).toBe(1);
    }
  });
});
