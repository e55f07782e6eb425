/**
 * Browser mode entry (bundled to out/main/server.js):
 *   node out/main/server.js [--host 127.0.0.1] [--port 5178] [--data-dir DIR] [--token T]
 */
import { parseArgs } from 'node:util';
import { parsePort, serve } from './serve';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'data-dir': { type: 'string' },
      token: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log('usage: starlab-server [--host 127.0.0.1] [--port 5178 (0 = any free)] [--data-dir DIR] [--token T (default $STARLAB_TOKEN; off loopback a random one)]');
    return;
  }
  await serve({ host: values.host, port: parsePort(values.port), dataDir: values['data-dir'], token: values.token });
}

main().catch((e) => {
  console.error(`starlab server: ${(e as Error).message}`);
  process.exitCode = 1;
});
