/**
 * The renderer's one way to the service: the Electron preload bridge (`window.starlab`)
 * when present, else HTTP (POST /api/cmd/<name>, Server-Sent Events on /api/events).
 * Only types come from the contract, so nothing of zod reaches the renderer bundle.
 */
import type { CommandArgs, CommandName, CommandResults, EventName, EventPayloads, Transport } from '../../shared/contract';

declare global {
  interface Window {
    starlab?: Transport;
  }
}

export class CommandError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'CommandError';
  }
}

export function createHttpTransport(base = ''): Transport {
  type Listener = (payload: unknown) => void;
  const listeners = new Map<EventName, Set<Listener>>();
  let source: EventSource | null = null;
  let hadError = false;

  const emit = (event: EventName, payload: unknown): void => {
    for (const cb of [...(listeners.get(event) ?? [])]) {
      try {
        cb(payload);
      } catch (err) {
        console.error(`starlab: ${event} listener failed`, err);
      }
    }
  };

  const attach = (event: EventName): void => {
    if (!source) {
      source = new EventSource(`${base}/api/events`);
      source.addEventListener('error', () => {
        hadError = true;
      });
      source.addEventListener('open', () => {
        // Events may have been missed while disconnected: ask every view to refresh.
        if (hadError) emit('runsChanged', { ids: [] });
        hadError = false;
      });
    }
    source.addEventListener(event, (ev) => {
      let payload: unknown;
      try {
        payload = JSON.parse((ev as MessageEvent<string>).data);
      } catch {
        payload = { ids: [] };
      }
      emit(event, payload);
    });
  };

  return {
    kind: 'http',
    async invoke<C extends CommandName>(cmd: C, ...args: CommandArgs<C>): Promise<CommandResults[C]> {
      let res: Response;
      try {
        res = await fetch(`${base}/api/cmd/${encodeURIComponent(cmd)}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(args),
        });
      } catch (err) {
        throw new CommandError(`${cmd}: the server cannot be reached (${(err as Error).message})`);
      }
      type Envelope = { ok?: boolean; result?: unknown; error?: string } | null;
      let body: Envelope;
      try {
        body = (await res.json()) as Envelope;
      } catch {
        body = null;
      }
      if (!body || typeof body !== 'object') throw new CommandError(`${cmd}: HTTP ${res.status} without a JSON body`, res.status);
      if (!res.ok || body.ok !== true) throw new CommandError(body.error ?? `${cmd}: HTTP ${res.status}`, res.status);
      return body.result as CommandResults[C];
    },
    on<E extends EventName>(event: E, cb: (payload: EventPayloads[E]) => void): () => void {
      let set = listeners.get(event);
      if (!set) {
        set = new Set();
        listeners.set(event, set);
        attach(event);
      }
      const l = cb as Listener;
      set.add(l);
      return () => {
        set.delete(l);
      };
    },
  };
}

let current: Transport | null = null;

/** The transport for this window, chosen once. */
export function getTransport(): Transport {
  if (!current) {
    const bridge = typeof window !== 'undefined' ? window.starlab : undefined;
    current = bridge && bridge.kind === 'electron-ipc' && typeof bridge.invoke === 'function' ? bridge : createHttpTransport();
  }
  return current;
}

/** Shorthand: getTransport().invoke(cmd, ...args). */
export function call<C extends CommandName>(cmd: C, ...args: CommandArgs<C>): Promise<CommandResults[C]> {
  return getTransport().invoke(cmd, ...args);
}
