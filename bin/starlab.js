#!/usr/bin/env node
// The `starlab` CLI. Runs the bundled build (npm run build) of cli/main.ts.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const built = join(root, 'out', 'main', 'cli.js');
if (!existsSync(built)) {
  console.error(`starlab: ${built} is missing; run "npm run build" in ${root} first`);
  process.exit(1);
}
await import(pathToFileURL(built).href);
