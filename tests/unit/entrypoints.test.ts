import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, REPO, tempDir } from '../fixtures/helpers';

afterAll(cleanupTempDirs);

/** Start a process, collect stdout until `until` matches (or it exits), then SIGTERM it. */
function runUntil(args: string[], until: RegExp, env: NodeJS.ProcessEnv = process.env): Promise<{ stdout: string; stderr: string; code: number | null }> {
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

describe('entry points', () => {
  it('server/main.ts prints the serving line and stops on SIGTERM', async () => {
    const dir = tempDir();
    const r = await runUntil(['--import', 'tsx', 'server/main.ts', '--port', '0', '--data-dir', dir], SERVING);
    const m = SERVING.exec(r.stdout);
    expect(m, `stdout: ${r.stdout}\nstderr: ${r.stderr}`).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
    expect(m![2]).toBe(dir);
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, 'starlab.db'))).toBe(true);
  });

  it('npm start falls back to browser mode with one line saying why', async () => {
    const dir = tempDir();
    const env = { ...process.env };
    delete env.DISPLAY;
    delete env.WAYLAND_DISPLAY;
    const built = existsSync(join(REPO, 'out', 'main', 'server.js'));
    const r = await runUntil(['scripts/start.mjs', '--port', '0', '--data-dir', dir], built ? SERVING : /$^/, env);
    const lines = r.stdout.trim().split('\n');
    const why = `stdout: ${r.stdout}\nstderr: ${r.stderr}\ncode: ${r.code}`;
    expect(lines[0], why).toMatch(/^starlab: cannot open the desktop window: .+; falling back to browser mode$/);
    if (built) {
      expect(lines, why).toHaveLength(2);
      expect(lines[1], why).toMatch(SERVING);
    } else {
      expect(r.stderr).toMatch(/npm run build/);
      expect(r.code).toBe(1);
    }
  });
});
