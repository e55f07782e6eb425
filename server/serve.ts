/** Start the service + HTTP server as one process (server/main.ts and `starlab serve`). */
import { join } from 'node:path';
import { createService } from '../core/service';
import { repoRoot, resolveDataDir } from '../core/paths';
import { isLoopbackHost, startServer, type RunningServer } from './http';

export interface ServeOptions {
  host?: string;
  port?: number;
  dataDir?: string;
  /** Access token, required on every interface (default: $STARLAB_TOKEN, else a random one). */
  token?: string;
  /** --no-token: no access token at all (loopback hosts only; refused with `token` or another host). */
  noToken?: boolean;
}

export const NO_TOKEN_WARNING =
  'WARNING: --no-token: any process or user on this machine can use this server, which amounts to running programs as you';

/** The token startServer gets (undefined: generate one; null: none), or an error for a refused combination. */
export function serveToken(
  o: Pick<ServeOptions, 'host' | 'token' | 'noToken'>,
  env: NodeJS.ProcessEnv = process.env,
): string | null | undefined {
  const host = o.host ?? '127.0.0.1';
  if (o.noToken) {
    if (o.token !== undefined) throw new Error('--no-token and --token contradict each other: give one');
    if (!isLoopbackHost(host))
      throw new Error(
        `--no-token is for a loopback address only (127.0.0.1, ::1, localhost), not --host ${host}: anyone who can reach the port could run programs as you`,
      );
    return null;
  }
  return o.token ?? (env['STARLAB_TOKEN'] || undefined);
}

/** Start the service and the HTTP server, print the URL lines, and close both on SIGINT/SIGTERM. */
export async function serve(o: ServeOptions): Promise<void> {
  const token = serveToken(o); // before anything is created: a refused combination touches nothing
  const dataDir = resolveDataDir(o.dataDir);
  const service = createService({ dataDir, watch: true });
  const host = o.host ?? '127.0.0.1';
  let srv;
  try {
    srv = await startServer({ service, host, port: o.port ?? 5178, staticDir: join(repoRoot(), 'out', 'renderer'), token });
  } catch (e) {
    service.close();
    throw e;
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), 3000).unref(); // never hang on the way out
    void srv.close().finally(() => {
      service.close();
      process.exit(0);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const lines = servingLines(srv, dataDir);
  for (const l of lines.stdout) console.log(l);
  for (const l of lines.stderr) console.error(l);
}

/** What `serve` prints once listening: the address, and the address with the token to open (or the --no-token warning). */
export function servingLines(
  srv: Pick<RunningServer, 'url' | 'token' | 'openUrl'>,
  dataDir: string,
): { stdout: string[]; stderr: string[] } {
  const stdout = [`STaR Lab serving at ${srv.url} (data: ${dataDir})`];
  if (srv.token === null) return { stdout, stderr: [NO_TOKEN_WARNING] };
  stdout.push(`access token required: open ${srv.openUrl} once in the browser, or send "Authorization: Bearer ${srv.token}"`);
  return { stdout, stderr: [] };
}

export function parsePort(s: string | undefined, fallback = 5178): number {
  if (s === undefined) return fallback;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid port "${s}"`);
  return n;
}
