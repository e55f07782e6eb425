/** Start the service + HTTP server as one process (server/main.ts and `starlab serve`). */
import { join } from 'node:path';
import { createService } from '../core/service';
import { repoRoot, resolveDataDir } from '../core/paths';
import { startServer } from './http';

export interface ServeOptions {
  host?: string;
  port?: number;
  dataDir?: string;
  /** Access token (default: $STARLAB_TOKEN; off loopback a random one when neither is set). */
  token?: string;
}

/** Start the service and the HTTP server, print the URL line, and close both on SIGINT/SIGTERM. */
export async function serve(o: ServeOptions): Promise<void> {
  const dataDir = resolveDataDir(o.dataDir);
  const service = createService({ dataDir, watch: true });
  const host = o.host ?? '127.0.0.1';
  let srv;
  try {
    const token = o.token ?? (process.env['STARLAB_TOKEN'] || undefined);
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
  console.log(`STaR Lab serving at ${srv.url} (data: ${dataDir})`);
  if (srv.token !== null) console.log(`access token required: open ${srv.openUrl} once in the browser, or send "Authorization: Bearer ${srv.token}"`);
}

export function parsePort(s: string | undefined, fallback = 5178): number {
  if (s === undefined) return fallback;
  const n = Number(s);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`invalid port "${s}"`);
  return n;
}
