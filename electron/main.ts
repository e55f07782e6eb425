/**
 * Electron main process: one secure window, the IPC relay and nothing else. The service
 * layer (SQLite, run supervision) runs in a utilityProcess (service-host.ts); every
 * contract command gets an ipcMain handler that validates its arguments and forwards them.
 *
 * Data directory: --data-dir <dir>, else $STARLAB_DATA_DIR, else the platform folder the CLI and
 * scripts (starlab.init) use too (core/paths.ts defaultDataDir).
 */
import { app, BrowserWindow, dialog, ipcMain, session, shell, type IpcMainInvokeEvent } from 'electron';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { COMMAND_NAMES, EVENT_NAMES, ipcChannel, parseCommandArgs } from '../shared/contract';
import { databasePath, defaultDataDir, resolveDataDir } from '../core/paths';
import { argValue, SAVE_FILES_CHANNEL, type IpcReply } from './host-protocol';
import { parseSaveFiles, writeFilesInto, writeSavedFile, type SaveFilesResult } from './save-files';
import { ServiceClient } from './service-client';

const here = import.meta.dirname;
export const paths = {
  preload: join(here, '../preload/index.cjs'),
  renderer: join(here, '../renderer/index.html'),
  serviceHost: join(here, 'service-host.js'),
};

const devUrl = !app.isPackaged ? process.env['ELECTRON_RENDERER_URL'] : undefined;
const rendererFileUrl = pathToFileURL(paths.renderer).href;

function dataDir(): string {
  const dir = resolveDataDir(argValue(process.argv, '--data-dir'));
  // Earlier versions kept the data in Electron's userData folder, which on Linux is not the
  // CLI's (~/.config/STaR Lab, not ~/.local/share/starlab): a database there, and none here, is
  // used where it is rather than left behind.
  const old = app.getPath('userData');
  if (dir === defaultDataDir() && !existsSync(databasePath(dir)) && existsSync(databasePath(old))) return old;
  return dir;
}

/** Our own page (the built index.html, any #route; the dev server in development). */
function isOwnPage(url: string): boolean {
  if (devUrl) return url.startsWith(devUrl);
  return url === rendererFileUrl || url.startsWith(`${rendererFileUrl}#`);
}

/** Only our own page may call the service. */
function trustedSender(e: IpcMainInvokeEvent): boolean {
  return isOwnPage(e.senderFrame?.url ?? '');
}

/** Links the page opens go to the system browser, and only https ones. */
function externalHttpsUrl(url: string): string | null {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && u.username === '' && u.password === '' ? u.href : null;
  } catch {
    return null;
  }
}

let mainWindow: BrowserWindow | null = null;
let service: ServiceClient | null = null;

function broadcast(channel: string, payload: unknown): void {
  for (const w of BrowserWindow.getAllWindows()) if (!w.isDestroyed()) w.webContents.send(channel, payload);
}

function registerIpc(client: ServiceClient): void {
  for (const name of COMMAND_NAMES) {
    ipcMain.handle(ipcChannel.command(name), async (e, ...args: unknown[]): Promise<IpcReply> => {
      if (!trustedSender(e)) return { ok: false, error: 'refused: the sender is not the STaR Lab window' };
      const parsed = parseCommandArgs(name, args);
      if (!parsed.ok) return { ok: false, error: `${name}: ${parsed.error}` };
      try {
        return { ok: true, result: await client.call(name, parsed.args as unknown[]) };
      } catch (err) {
        return { ok: false, error: err instanceof Error ? err.message : String(err) };
      }
    });
  }
}

/** Exported files: one through the native save dialog, a figure set into a chosen folder. */
function registerSaveFiles(): void {
  ipcMain.handle(SAVE_FILES_CHANNEL, async (e, ...args: unknown[]): Promise<IpcReply> => {
    if (!trustedSender(e)) return { ok: false, error: 'refused: the sender is not the STaR Lab window' };
    const parsed = parseSaveFiles(args);
    if (!parsed.ok) return parsed;
    const win = BrowserWindow.fromWebContents(e.sender) ?? mainWindow;
    try {
      let result: SaveFilesResult;
      if (parsed.files.length === 1) {
        const f = parsed.files[0]!;
        const ext = f.name.split('.').pop() ?? '';
        const opts = { defaultPath: f.name, filters: [{ name: ext.toUpperCase(), extensions: [ext] }] };
        const r = win ? await dialog.showSaveDialog(win, opts) : await dialog.showSaveDialog(opts);
        if (r.canceled || !r.filePath) result = { cancelled: true };
        else {
          result = { saved: [writeSavedFile(r.filePath, f)] };
        }
      } else {
        const opts = {
          title: `Choose a folder for ${parsed.files.length} files`,
          buttonLabel: 'Save here',
          properties: ['openDirectory', 'createDirectory'] as ('openDirectory' | 'createDirectory')[],
        };
        const r = win ? await dialog.showOpenDialog(win, opts) : await dialog.showOpenDialog(opts);
        result = r.canceled || !r.filePaths[0] ? { cancelled: true } : { saved: writeFilesInto(r.filePaths[0], parsed.files) };
      }
      return { ok: true, result };
    } catch (err) {
      return { ok: false, error: `saveFiles: ${err instanceof Error ? err.message : String(err)}` };
    }
  });
}

function createWindow(): BrowserWindow {
  const win = new BrowserWindow({
    width: 1360,
    height: 900,
    minWidth: 800,
    minHeight: 500,
    show: false,
    title: 'STaR Lab',
    backgroundColor: '#f6f7f9',
    webPreferences: {
      preload: paths.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      experimentalFeatures: false,
      navigateOnDragDrop: false,
      webviewTag: false,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win.show());
  if (devUrl) void win.loadURL(devUrl);
  else void win.loadFile(paths.renderer);
  win.on('closed', () => {
    if (mainWindow === win) mainWindow = null;
  });
  return win;
}

// Every web contents, present and future: no navigation away from our page, no new
// windows (https links go to the system browser), no webviews.
app.on('web-contents-created', (_e, contents) => {
  contents.on('will-navigate', (ev) => {
    if (!isOwnPage(ev.url)) ev.preventDefault();
  });
  contents.on('will-redirect', (ev) => {
    if (!isOwnPage(ev.url)) ev.preventDefault();
  });
  contents.on('will-attach-webview', (ev) => ev.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    const external = externalHttpsUrl(url);
    if (external) void shell.openExternal(external);
    return { action: 'deny' };
  });
});

// One app per user: two would be two writers on one database.
if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });

  void app.whenReady().then(() => {
    // The page needs no permission (camera, notifications, clipboard-read, …): refuse all.
    session.defaultSession.setPermissionRequestHandler((_wc, _permission, cb) => cb(false));
    session.defaultSession.setPermissionCheckHandler(() => false);
    const python = argValue(process.argv, '--python') ?? process.env['STARLAB_PYTHON'];
    service = new ServiceClient({
      modulePath: paths.serviceHost,
      args: ['--data-dir', dataDir(), ...(python ? ['--python', python] : [])],
      onEvent: (event, payload) => {
        if (EVENT_NAMES.includes(event)) broadcast(ipcChannel.event(event), payload);
      },
      // Whatever happened while it was down: let every view refresh.
      onRestart: () => broadcast(ipcChannel.event('runsChanged'), { ids: [] }),
      log: (m) => console.error(m),
    });
    service.start();
    registerIpc(service);
    registerSaveFiles();
    mainWindow = createWindow();
    app.on('activate', () => {
      if (BrowserWindow.getAllWindows().length === 0) mainWindow = createWindow();
    });
  });

  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });

  // Close the service cleanly (runs keep going; the next start re-attaches them).
  let closed = false;
  app.on('before-quit', (e) => {
    if (closed || !service) return;
    e.preventDefault();
    void service.close().finally(() => {
      closed = true;
      app.quit();
    });
  });
}
