/**
 * Main-process side of the service host: forks it, matches replies to calls, forwards
 * its events, restarts it if it dies while the app is running.
 */
import { utilityProcess, type UtilityProcess } from 'electron';
import type { CommandName, EventName } from '../shared/contract';
import type { HostMessage, HostRequest } from './host-protocol';

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
}

export interface ServiceClientOptions {
  modulePath: string;
  args: string[];
  onEvent: (event: EventName, payload: unknown) => void;
  onRestart?: () => void;
  log?: (msg: string) => void;
}

export class ServiceClient {
  private child: UtilityProcess | null = null;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  private closing = false;
  private restarts: number[] = [];
  private exited: Promise<void> = Promise.resolve();

  constructor(private readonly opts: ServiceClientOptions) {}

  start(): void {
    if (this.child || this.closing) return;
    const child = utilityProcess.fork(this.opts.modulePath, this.opts.args, { serviceName: 'STaR Lab service', stdio: 'inherit' });
    this.child = child;
    this.exited = new Promise((resolve) => {
      child.once('exit', (code: number) => {
        this.child = null;
        this.failPending(`the service process exited (code ${code})`);
        resolve();
        if (!this.closing) this.restartLater();
      });
    });
    child.on('message', (m: HostMessage) => this.onMessage(m));
  }

  call(cmd: CommandName, args: unknown[]): Promise<unknown> {
    if (!this.child) this.start();
    const child = this.child;
    if (!child) return Promise.reject(new Error('the service is not running'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      const req: HostRequest = { type: 'call', id, cmd, args };
      child.postMessage(req);
    });
  }

  /** Ask the host to close the service (the runs keep going), kill it after `graceMs`. */
  async close(graceMs = 3000): Promise<void> {
    this.closing = true;
    const child = this.child;
    if (!child) return;
    child.postMessage({ type: 'close' } satisfies HostRequest);
    const timer = setTimeout(() => child.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  private onMessage(m: HostMessage): void {
    switch (m?.type) {
      case 'result': {
        const p = this.pending.get(m.id);
        if (!p) return;
        this.pending.delete(m.id);
        if (m.ok) p.resolve(m.result);
        else p.reject(new Error(m.error));
        return;
      }
      case 'event':
        this.opts.onEvent(m.event, m.payload);
        return;
      case 'fatal':
        this.opts.log?.(`service host failed: ${m.error}`);
        this.failPending(`the service failed to start: ${m.error.split('\n')[0]}`);
        return;
      default:
        return;
    }
  }

  private failPending(reason: string): void {
    const all = [...this.pending.values()];
    this.pending.clear();
    for (const p of all) p.reject(new Error(reason));
  }

  private restartLater(): void {
    const now = Date.now();
    this.restarts = this.restarts.filter((t) => now - t < 60_000);
    if (this.restarts.length >= 5) {
      this.opts.log?.('service host keeps exiting; not restarting it (the next command will try again)');
      return;
    }
    this.restarts.push(now);
    setTimeout(() => {
      if (this.closing || this.child) return;
      this.start();
      this.opts.onRestart?.();
    }, 1000);
  }
}
