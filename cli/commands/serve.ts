/** `starlab` commands: serve (registered by cli/main.ts). */
import { type Command } from 'commander';
import { parsePort, serve } from '../../server/serve';
import { dataDirOption } from '../io';

export function register(program: Command): void {
  program
    .command('serve')
    .description('browser mode: serve the UI and API over HTTP')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port (0 = any free)', '5178')
    .option('--token <token>', 'access token the API requires on every interface (default $STARLAB_TOKEN, else a random one is printed)')
    .option('--no-token', 'no access token (loopback --host only): any local process or user could then run programs as you')
    .addOption(dataDirOption())
    .action(async (o: { host: string; port: string; token?: string | false; dataDir?: string }) => {
      // commander: --token T gives a string, --no-token gives false (the later of the two wins)
      await serve({
        host: o.host,
        port: parsePort(o.port),
        dataDir: o.dataDir,
        ...(o.token === false ? { noToken: true } : o.token ? { token: o.token } : {}),
      });
    });
}
