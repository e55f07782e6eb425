// Writes the run protocol's JSON Schema (shared/schema/run-events.v1.json) from the zod
// definition in shared/protocol.ts. `--check` exits 1 if the committed file is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runEventJsonSchema } from '../shared/protocol';

const file = join(import.meta.dirname, '..', 'shared', 'schema', 'run-events.v1.json');
const text = JSON.stringify(runEventJsonSchema(), null, 2) + '\n';
if (process.argv.includes('--check')) {
  const current = readFileSync(file, 'utf8');
  if (current !== text) {
    console.error(`${file} is stale: run "npm run schema"`);
    process.exit(1);
  }
  console.log('schema up to date');
} else {
  writeFileSync(file, text);
  console.log(`wrote ${file}`);
}
