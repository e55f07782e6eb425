#!/usr/bin/env node
// npm run serve [-- --host H --port P --data-dir D]: browser mode from the build (out/main/server.js).
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Run out/main/server.js with these arguments in this terminal; resolves with its exit code. */
export function runServer(args) {
  const server = join(root, 'out', 'main', 'server.js');
  if (!existsSync(server)) {
    console.error(`starlab: ${server} is missing; run "npm run build" first`);
    return Promise.resolve(1);
  }
  const child = spawn(process.execPath, [server, ...args], { stdio: 'inherit', cwd: root });
  const forward = (sig) => () => child.kill(sig);
  const onInt = forward('SIGINT');
  const onTerm = forward('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return new Promise((resolve) => {
    child.on('error', (e) => {
      console.error(`starlab: could not start the server: ${e.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve(code ?? (signal === 'SIGINT' || signal === 'SIGTERM' ? 0 : 1));
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await runServer(process.argv.slice(2));
}
