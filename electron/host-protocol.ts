/**
 * Messages between Electron's main process and the service host (a utilityProcess).
 * Main validates every command's arguments before it sends a `call`.
 */
import type { CommandName, EventName } from '../shared/contract';

export type HostRequest = { type: 'call'; id: number; cmd: CommandName; args: unknown[] } | { type: 'close' };

export type HostMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; ok: true; result: unknown }
  | { type: 'result'; id: number; ok: false; error: string }
  | { type: 'event'; event: EventName; payload: unknown }
  | { type: 'fatal'; error: string };

/** What an ipcMain handler returns to the preload, which unwraps it. */
export type IpcReply = { ok: true; result: unknown } | { ok: false; error: string };

/** The one IPC channel outside the command contract: save exported files through a native dialog. */
export const SAVE_FILES_CHANNEL = 'starlab:save-files';

/** `--name value` or `--name=value` from an argv list. */
export function argValue(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === name) return argv[i + 1];
    if (a.startsWith(`${name}=`)) return a.slice(name.length + 1);
  }
  return undefined;
}
