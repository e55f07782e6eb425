/**
 * The only bridge between the sandboxed renderer and the app: window.starlab with
 * exactly { kind, invoke, on, saveFiles }. invoke accepts only contract command names, on
 * only contract event names; saveFiles hands exported files to main's native save dialog;
 * main validates every argument again. No ipcRenderer escapes.
 * Built as one CommonJS file (out/preload/index.cjs): sandboxed preloads cannot load ESM
 * or anything but 'electron'.
 */
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';
import { COMMAND_NAMES, EVENT_NAMES, ipcChannel, type CommandName, type EventName } from '../shared/contract';
import { SAVE_FILES_CHANNEL, type IpcReply } from './host-protocol';

const commands = new Set<string>(COMMAND_NAMES);
const events = new Set<string>(EVENT_NAMES);

const api = {
  kind: 'electron-ipc' as const,
  async invoke(cmd: string, ...args: unknown[]): Promise<unknown> {
    if (typeof cmd !== 'string' || !commands.has(cmd)) throw new Error(`starlab: "${String(cmd)}" is not a command`);
    const reply = (await ipcRenderer.invoke(ipcChannel.command(cmd as CommandName), ...args)) as IpcReply;
    if (reply && reply.ok === true) return reply.result;
    throw new Error(reply && reply.ok === false ? reply.error : `starlab: ${cmd}: malformed reply`);
  },
  async saveFiles(files: unknown): Promise<unknown> {
    const reply = (await ipcRenderer.invoke(SAVE_FILES_CHANNEL, files)) as IpcReply;
    if (reply && reply.ok === true) return reply.result;
    throw new Error(reply && reply.ok === false ? reply.error : 'starlab: saveFiles: malformed reply');
  },
  on(event: string, cb: (payload: unknown) => void): () => void {
    if (typeof event !== 'string' || !events.has(event)) throw new Error(`starlab: "${String(event)}" is not an event`);
    if (typeof cb !== 'function') throw new Error('starlab: on() needs a callback');
    const channel = ipcChannel.event(event as EventName);
    const listener = (_e: IpcRendererEvent, payload: unknown): void => cb(payload);
    ipcRenderer.on(channel, listener);
    return () => {
      ipcRenderer.removeListener(channel, listener);
    };
  },
};

contextBridge.exposeInMainWorld('starlab', api);
