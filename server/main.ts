/**
 * Browser mode entry (bundled to out/main/server.js):
 *   node out/main/server.js [--host 127.0.0.1] [--port 5178] [--data-dir DIR] [--token T | --no-token]
 * The API requires an access token on every interface (printed as an address with ?token=…);
 * --no-token turns that off, on a loopback host only.
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
      'no-token': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      [
        'usage: starlab-server [--host 127.0.0.1] [--port 5178 (0 = any free)] [--data-dir DIR] [--token T | --no-token]',
        '  --token T     the access token the API requires on every interface (default $STARLAB_TOKEN, else a random one, printed)',
        '  --no-token    no access token (loopback --host only): any local process or user could then run programs as you',
      ].join('\n'),
    );
    return;
  }
  await serve({
    host: values.host,
    port: parsePort(values.port),
    dataDir: values['data-dir'],
    token: values.token,
    noToken: values['no-token'],
  });
}

main().catch((e) => {
  console.error(`starlab server: ${(e as Error).message}`);
  process.exitCode = 1;
});
