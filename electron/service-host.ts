/**
 * The service layer in its own process (Electron utilityProcess), so SQLite and run
 * supervision never block the UI thread. Main relays validated commands here over the
 * parent port and forwards the service's events to the windows.
 *
 *   argv: --data-dir <dir> [--python <path>]
 */
import { createService } from '../core/service';
import { EVENT_NAMES } from '../shared/contract';
import { argValue, type HostMessage, type HostRequest } from './host-protocol';

const port = process.parentPort;
const send = (m: HostMessage): void => port.postMessage(m);

async function main(): Promise<void> {
  const dataDir = argValue(process.argv, '--data-dir');
  if (!dataDir) throw new Error('service host: --data-dir is required');
  const pythonPath = argValue(process.argv, '--python');
  const service = await createService({ dataDir, pythonPath, watch: true });
  const table = service as unknown as Record<string, (...args: unknown[]) => unknown>;

  for (const event of EVENT_NAMES) service.on(event, (payload) => send({ type: 'event', event, payload }));

  let closing = false;
  port.on('message', (e: Electron.MessageEvent) => {
    const msg = e.data as HostRequest;
    if (msg?.type === 'close') {
      if (closing) return;
      closing = true;
      Promise.resolve()
        .then(() => service.close())
        .catch((err: unknown) => console.error('service host: close failed', err))
        .finally(() => process.exit(0));
      return;
    }
    if (msg?.type !== 'call') return;
    const fn = table[msg.cmd];
    if (typeof fn !== 'function') {
      send({ type: 'result', id: msg.id, ok: false, error: `unknown command "${String(msg.cmd)}"` });
      return;
    }
    Promise.resolve()
      .then(() => fn.apply(service, msg.args))
      .then(
        (result) => send({ type: 'result', id: msg.id, ok: true, result }),
        (err: unknown) => send({ type: 'result', id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
      );
  });
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
  console.error(error);
  send({ type: 'fatal', error });
  setTimeout(() => process.exit(1), 50);
});
