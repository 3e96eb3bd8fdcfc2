// The checks Electron IPC makes before dispatch, without importing electron (so tests call
// the very function electron-ipc.ts registers). Only our own window's main frame, showing
// our own page (the built renderer over file://, or the dev server in development), may
// call a channel: not an iframe, not a page the window was somehow navigated to.
import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import type { Result } from '../../common/contract/errors';
import { dispatch, type Handlers } from './dispatch';

/** The part of Electron's WebFrameMain these checks read. */
export interface FrameLike {
  url: string;
  processId?: number;
  routingId?: number;
  parent?: FrameLike | null;
}

/** The part of Electron's IpcMainInvokeEvent these checks read. */
export interface InvokeEventLike {
  senderFrame?: FrameLike | null;
}

export interface SenderPolicy {
  /** The main frame of our window now (undefined when the window is gone). */
  mainFrame(): FrameLike | undefined;
  /** Absolute path of the built renderer's index.html (the file:// page). */
  rendererIndex: string;
  /** The electron-vite dev server URL, in development only. */
  devServerUrl?: string;
}

export function isAllowedPageUrl(url: string, policy: Pick<SenderPolicy, 'rendererIndex' | 'devServerUrl'>): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol === 'file:') {
    try {
      return resolve(fileURLToPath(u)) === resolve(policy.rendererIndex);
    } catch {
      return false;
    }
  }
  if (policy.devServerUrl && (u.protocol === 'http:' || u.protocol === 'https:')) {
    return u.origin === new URL(policy.devServerUrl).origin;
  }
  return false;
}

function sameFrame(a: FrameLike, b: FrameLike): boolean {
  if (a === b) return true;
  return a.processId !== undefined && a.processId === b.processId && a.routingId === b.routingId;
}

export function checkSender(event: InvokeEventLike, policy: SenderPolicy): string | null {
  const frame = event.senderFrame;
  if (!frame) return 'the sending frame is gone';
  const main = policy.mainFrame();
  if (!main || !sameFrame(frame, main) || frame.parent) return 'only the main frame of the app window may call';
  if (!isAllowedPageUrl(frame.url, policy)) return `a page at ${frame.url} may not call`;
  return null;
}

/** What ipcMain.handle runs for every channel: check the sender, then dispatch. */
export async function handleIpcInvoke(
  handlers: Handlers,
  policy: SenderPolicy,
  event: InvokeEventLike,
  channel: string,
  payload: unknown,
): Promise<Result<unknown>> {
  const refused = checkSender(event, policy);
  if (refused) return { ok: false, error: { code: 'forbidden', message: `IPC refused: ${refused}.` } };
  return dispatch(handlers, channel, payload);
}
