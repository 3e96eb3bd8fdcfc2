// The Electron main process, kept thin: one instance, one locked-down window, the services
// (database, engine supervisor) and the IPC handlers. Everything else lives in services
// that the CLI and `hukuk serve` share.
import { app, BrowserWindow, dialog, safeStorage, session, utilityProcess, type OpenDialogOptions } from 'electron';
import { join } from 'node:path';
import { createAppServices, type AppServices } from './services';
import { runsServiceOf } from './services/runs';
import { createHandlers } from './ipc/handlers';
import { registerIpc } from './ipc/electron-ipc';
import { cspHeader } from './security';
import type { WorkerFactory } from './jobs/worker-process';
import { SafeStorageTokenStore } from './io/hub/token-store-safe-storage';
import type { PathPicker } from './services/path-picker';

const rendererIndex = join(__dirname, '..', 'renderer', 'index.html');
const devServerUrl = !app.isPackaged ? process.env.ELECTRON_RENDERER_URL : undefined;

let mainWindow: BrowserWindow | null = null;
let services: AppServices | null = null;

/** The engine worker as an Electron utility process (same file as the CLI forks). */
function utilityWorkerFactory(): WorkerFactory {
  return () => {
    const child = utilityProcess.fork(join(__dirname, 'engine-worker.js'), [], {
      serviceName: 'Hukuk Studio engine',
      stdio: 'pipe',
      env: { ...process.env, HUKUK_APP_ROOT: app.getAppPath() },
    });
    let exited = false;
    return {
      get pid() {
        return child.pid;
      },
      send: (msg) => {
        if (!exited) child.postMessage(msg);
      },
      onMessage: (listener) => child.on('message', listener),
      onExit: (listener) =>
        child.on('exit', (code) => {
          exited = true;
          listener({ code, signal: null });
        }),
      onOutput: (listener) => {
        child.stderr?.on('data', (d: Buffer) => listener(d.toString()));
        child.stdout?.on('data', (d: Buffer) => listener(d.toString()));
      },
      kill: () => {
        if (!exited) child.kill();
      },
    };
  };
}

/** system:pick-path in the window: the OS open dialog, modal to the main window. */
const pickPath: PathPicker = async (req) => {
  const options: OpenDialogOptions = {
    title: req.title,
    properties: [req.kind === 'folder' ? 'openDirectory' : 'openFile'],
    filters: req.filters,
  };
  const r = mainWindow ? await dialog.showOpenDialog(mainWindow, options) : await dialog.showOpenDialog(options);
  return r.canceled ? null : (r.filePaths[0] ?? null);
};

function lockDownSession(): void {
  const s = session.defaultSession;
  s.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  s.setPermissionCheckHandler(() => false);
  // The dev server's hot reload needs inline scripts; the built app gets the strict header.
  if (devServerUrl) return;
  s.webRequest.onHeadersReceived((details, callback) => {
    callback({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [cspHeader()] } });
  });
}

function createWindow(svc: AppServices): BrowserWindow {
  const win = new BrowserWindow({
    width: 1280,
    height: 820,
    minWidth: 900,
    minHeight: 600,
    show: false,
    title: 'Hukuk Studio',
    webPreferences: {
      preload: join(__dirname, '..', 'preload', 'index.js'),
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      webSecurity: true,
      webviewTag: false,
      spellcheck: false,
    },
  });
  const unregister = registerIpc(win, createHandlers(svc), svc.events, { rendererIndex, devServerUrl });
  win.on('closed', () => {
    unregister();
    mainWindow = null;
  });
  win.once('ready-to-show', () => win.show());
  win.webContents.on('will-navigate', (e) => e.preventDefault());
  win.webContents.on('will-redirect', (e) => e.preventDefault());
  win.webContents.setWindowOpenHandler(() => ({ action: 'deny' }));
  if (devServerUrl) void win.loadURL(devServerUrl);
  else void win.loadFile(rendererIndex);
  return win;
}

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  app.on('second-instance', () => {
    if (!mainWindow) return;
    if (mainWindow.isMinimized()) mainWindow.restore();
    mainWindow.focus();
  });

  // Every web contents, not just ours: no <webview>, no new windows.
  app.on('web-contents-created', (_e, contents) => {
    contents.on('will-attach-webview', (e) => e.preventDefault());
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
  });

  app
    .whenReady()
    .then(() => {
      lockDownSession();
      // Throws AppError('db_newer_than_app') for a database from a newer version, etc.
      services = createAppServices({
        dataDir: app.getPath('userData'),
        appVersion: app.getVersion(),
        electronVersion: process.versions.electron,
        workerFactory: utilityWorkerFactory(),
        // The Hugging Face token lives in the OS keychain, never in plain text or logs.
        hubTokenStore: new SafeStorageTokenStore(safeStorage, app.getPath('userData')),
        pathPicker: pickPath,
        onLog: (level, message) => (level === 'info' ? console.log : console.error)(message),
      });
      // Runs a previous session left: queued ones start again (a 'running' one was failed above).
      runsServiceOf(services);
      mainWindow = createWindow(services);
    })
    .catch((e: unknown) => {
      console.error(e);
      dialog.showErrorBox('Hukuk Studio cannot start', e instanceof Error ? e.message : String(e));
      app.exit(1);
    });

  app.on('window-all-closed', () => app.quit());
  app.on('will-quit', (e) => {
    if (!services) return;
    const svc = services;
    services = null;
    e.preventDefault();
    void svc.close().finally(() => app.quit());
  });
}
