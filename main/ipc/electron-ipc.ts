// Electron's side of the contract: one ipcMain.handle per channel (never a generic
// "invoke anything"), each checking the sender frame before dispatch, and pushed events
// delivered to the window in batches on one IPC channel.
import { ipcMain, type BrowserWindow } from 'electron';
import { channels } from '../../common/contract/channels';
import { IPC_EVENTS_CHANNEL } from '../../common/contract/transport';
import type { Handlers } from './dispatch';
import { handleIpcInvoke, type SenderPolicy } from './ipc-guard';
import { createEventBatcher, type EventHub } from '../services/events';

export function registerIpc(
  win: BrowserWindow,
  handlers: Handlers,
  events: EventHub,
  policy: Omit<SenderPolicy, 'mainFrame'>,
): () => void {
  const fullPolicy: SenderPolicy = {
    ...policy,
    mainFrame: () => (win.isDestroyed() ? undefined : win.webContents.mainFrame),
  };
  const names = Object.keys(channels);
  for (const name of names) {
    ipcMain.handle(name, (event, payload: unknown) => handleIpcInvoke(handlers, fullPolicy, event, name, payload));
  }
  const batcher = createEventBatcher((batch) => {
    if (!win.isDestroyed()) win.webContents.send(IPC_EVENTS_CHANNEL, batch);
  });
  const unsubscribe = events.subscribe(batcher.push);
  return () => {
    for (const name of names) ipcMain.removeHandler(name);
    unsubscribe();
    batcher.stop();
  };
}
