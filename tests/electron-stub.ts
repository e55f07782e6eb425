/**
 * A stand-in for the `electron` module in tests (vitest aliases 'electron' to this file;
 * the real package would try to download its binary). It records what the shell does:
 * windows and their webPreferences, ipcMain handlers, contextBridge exposures, app
 * listeners, utility processes, web-contents handlers. Call `stub.reset()` between tests.
 */
import { EventEmitter } from 'node:events';

type Fn = (...args: any[]) => any;

export class FakeEvent {
  defaultPrevented = false;
  /** Navigation events carry the target on the event (details.url), as Electron 45 does. */
  url?: string;
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

export class FakeWebContents extends EventEmitter {
  static nextId = 1;
  readonly id = FakeWebContents.nextId++;
  windowOpenHandler: Fn | null = null;
  sent: { channel: string; args: unknown[] }[] = [];
  destroyed = false;
  setWindowOpenHandler(h: Fn): void {
    this.windowOpenHandler = h;
  }
  send(channel: string, ...args: unknown[]): void {
    this.sent.push({ channel, args });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  openDevTools(): void {}
  /** Emit `name` with a FakeEvent first, as Electron does; returns the event. */
  fire(name: string, ...args: unknown[]): FakeEvent {
    const ev = new FakeEvent();
    if (typeof args[0] === 'string') ev.url = args[0];
    this.emit(name, ev, ...args);
    return ev;
  }
}

class FakeApp extends EventEmitter {
  isPackaged = false;
  readyResolve!: () => void;
  private ready = new Promise<void>((r) => (this.readyResolve = r));
  quitCalls = 0;
  paths: Record<string, string> = { userData: '/tmp/starlab-stub-userData', home: '/tmp', temp: '/tmp' };
  singleInstance = true;
  whenReady(): Promise<void> {
    return this.ready;
  }
  isReady(): boolean {
    return false;
  }
  getPath(name: string): string {
    return this.paths[name] ?? `/tmp/starlab-stub-${name}`;
  }
  setPath(name: string, p: string): void {
    this.paths[name] = p;
  }
  getName(): string {
    return 'STaR Lab';
  }
  getVersion(): string {
    return '0.0.0-stub';
  }
  requestSingleInstanceLock(): boolean {
    return this.singleInstance;
  }
  quit(): void {
    this.quitCalls++;
  }
  exit(): void {}
  /** Resolve whenReady() and emit 'ready'. */
  markReady(): void {
    this.readyResolve();
    this.emit('ready');
  }
}

export class FakeBrowserWindow extends EventEmitter {
  static all: FakeBrowserWindow[] = [];
  readonly webContents = new FakeWebContents();
  loaded: { file?: string; url?: string } = {};
  destroyed = false;
  constructor(readonly options: Record<string, any> = {}) {
    super();
    FakeBrowserWindow.all.push(this);
    stub.windows.push(this);
    // Electron announces every new web contents on the app.
    app.emit('web-contents-created', new FakeEvent(), this.webContents);
  }
  static getAllWindows(): FakeBrowserWindow[] {
    return FakeBrowserWindow.all.filter((w) => !w.destroyed);
  }
  static fromWebContents(wc: unknown): FakeBrowserWindow | null {
    return FakeBrowserWindow.all.find((w) => w.webContents === wc) ?? null;
  }
  static getFocusedWindow(): FakeBrowserWindow | null {
    return FakeBrowserWindow.all[0] ?? null;
  }
  loadFile(file: string): Promise<void> {
    this.loaded = { file };
    return Promise.resolve();
  }
  loadURL(url: string): Promise<void> {
    this.loaded = { url };
    return Promise.resolve();
  }
  show(): void {}
  focus(): void {}
  restore(): void {}
  isMinimized(): boolean {
    return false;
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  close(): void {
    this.destroyed = true;
    this.emit('closed');
  }
}

export class FakeUtilityProcess extends EventEmitter {
  static nextPid = 4000;
  readonly pid = FakeUtilityProcess.nextPid++;
  posted: unknown[] = [];
  killed = false;
  constructor(
    readonly modulePath: string,
    readonly args: string[],
    readonly options: Record<string, unknown>,
  ) {
    super();
  }
  postMessage(m: unknown): void {
    this.posted.push(m);
    stub.onHostMessage?.(this, m);
  }
  kill(): boolean {
    this.killed = true;
    this.emit('exit', 0);
    return true;
  }
  /** As if the child called process.parentPort.postMessage(m). */
  reply(m: unknown): void {
    this.emit('message', m);
  }
}

export const stub = {
  windows: [] as FakeBrowserWindow[],
  handlers: new Map<string, Fn>(),
  exposed: [] as { key: string; api: any }[],
  forks: [] as FakeUtilityProcess[],
  rendererInvokes: [] as { channel: string; args: unknown[] }[],
  /** What ipcRenderer.invoke resolves to (set by a test). */
  invokeReply: (_channel: string, _args: unknown[]): unknown => ({ ok: true, result: null }),
  /** Called for every message main posts to a utility process (set by a test to answer). */
  onHostMessage: null as null | ((child: FakeUtilityProcess, m: unknown) => void),
  permissionHandler: null as Fn | null,
  permissionCheckHandler: null as Fn | null,
  openedExternal: [] as string[],
  reset(): void {
    this.windows.length = 0;
    FakeBrowserWindow.all.length = 0;
    this.handlers.clear();
    this.exposed.length = 0;
    this.forks.length = 0;
    this.rendererInvokes.length = 0;
    this.invokeReply = () => ({ ok: true, result: null });
    this.onHostMessage = null;
    this.permissionHandler = null;
    this.permissionCheckHandler = null;
    this.openedExternal.length = 0;
    ipcRenderer.removeAllListeners();
    ipcMain.removeAllListeners();
  },
};

export const app = new FakeApp();
export const BrowserWindow = FakeBrowserWindow;

class FakeIpcMain extends EventEmitter {
  handle(channel: string, fn: Fn): void {
    if (stub.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    stub.handlers.set(channel, fn);
  }
  handleOnce(channel: string, fn: Fn): void {
    this.handle(channel, fn);
  }
  removeHandler(channel: string): void {
    stub.handlers.delete(channel);
  }
}
export const ipcMain = new FakeIpcMain();

class FakeIpcRenderer extends EventEmitter {
  invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    stub.rendererInvokes.push({ channel, args });
    return Promise.resolve(stub.invokeReply(channel, args));
  }
  send(): void {}
}
export const ipcRenderer = new FakeIpcRenderer();

export const contextBridge = {
  exposeInMainWorld(key: string, api: unknown): void {
    stub.exposed.push({ key, api });
  },
};

export const utilityProcess = {
  fork(modulePath: string, args: string[] = [], options: Record<string, unknown> = {}): FakeUtilityProcess {
    const p = new FakeUtilityProcess(modulePath, args, options);
    stub.forks.push(p);
    return p;
  },
};

export const session = {
  defaultSession: {
    setPermissionRequestHandler(h: Fn): void {
      stub.permissionHandler = h;
    },
    setPermissionCheckHandler(h: Fn): void {
      stub.permissionCheckHandler = h;
    },
    webRequest: { onHeadersReceived(): void {} },
  },
};

export const shell = {
  openExternal(url: string): Promise<void> {
    stub.openedExternal.push(url);
    return Promise.resolve();
  },
  showItemInFolder(): void {},
  openPath(): Promise<string> {
    return Promise.resolve('');
  },
};

export const Menu = {
  buildFromTemplate: (t: unknown) => ({ template: t }),
  setApplicationMenu: (_m: unknown): void => {},
};

export const dialog = {
  /** What the dialogs answer (set by a test); every call is recorded. */
  saveAnswer: { canceled: true } as { canceled: boolean; filePath?: string },
  openAnswer: { canceled: true, filePaths: [] } as { canceled: boolean; filePaths: string[] },
  calls: [] as { kind: 'save' | 'open'; options: Record<string, unknown> }[],
  showSaveDialog(...a: unknown[]) {
    this.calls.push({ kind: 'save', options: a[a.length - 1] as Record<string, unknown> });
    return Promise.resolve(this.saveAnswer);
  },
  showOpenDialog(...a: unknown[]) {
    this.calls.push({ kind: 'open', options: a[a.length - 1] as Record<string, unknown> });
    return Promise.resolve(this.openAnswer);
  },
  showErrorBox: (): void => {},
};

export const protocol = { handle: (): void => {}, registerSchemesAsPrivileged: (): void => {} };

export default {
  app,
  BrowserWindow,
  ipcMain,
  ipcRenderer,
  contextBridge,
  utilityProcess,
  session,
  shell,
  Menu,
  dialog,
  protocol,
};
