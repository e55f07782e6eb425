#!/usr/bin/env node
// npm start: the Electron app if it can run here, else browser mode (like npm run serve).
// Never require('electron') from Node: that package tries to download its binary.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runServer } from './serve.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

/** The Electron binary, or the reason it cannot be used. */
function findElectron() {
  const pkgDir = join(root, 'node_modules', 'electron');
  const pathTxt = join(pkgDir, 'path.txt');
  if (!existsSync(pathTxt)) return { reason: 'the Electron binary is not installed (node_modules/electron/path.txt is missing)' };
  const rel = readFileSync(pathTxt, 'utf8').trim();
  const bin = join(pkgDir, 'dist', rel);
  if (!rel || !existsSync(bin)) return { reason: `the Electron binary is not installed (${bin} is missing)` };
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY)
    return { reason: 'no display (neither DISPLAY nor WAYLAND_DISPLAY is set)' };
  if (!existsSync(join(root, 'out', 'main', 'index.js'))) return { reason: 'the app is not built (run "npm run build")' };
  return { bin };
}

const found = findElectron();
if (found.bin) {
  const extra = process.platform === 'linux' && process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  const child = spawn(found.bin, [root, ...extra, ...args], { stdio: 'inherit', cwd: root });
  child.on('error', (e) => {
    console.error(`starlab: could not start Electron (${e.message}); falling back to browser mode`);
    runServer(args).then((code) => (process.exitCode = code));
  });
  child.on('exit', (code) => (process.exitCode = code ?? 0));
} else {
  console.log(`starlab: cannot open the desktop window: ${found.reason}; falling back to browser mode`);
  process.exitCode = await runServer(args);
}
