// system:info: what the engine worker measures (addon, GPUs, host) plus what main knows
// (app version, Electron, data folder). If the worker cannot answer (not built, crashed at
// start), main measures the host itself and says why the engine part is missing: the System
// page is where a user goes when something is wrong, so it must always answer.
import type { SystemInfo } from '../../common/contract/system';
import { toErrorValue } from '../../common/contract/errors';
import { collectSystemInfo } from '../../worker/system-info';
import type { Supervisor } from '../jobs/supervisor';

export async function getSystemInfo(
  supervisor: Supervisor,
  app: { appVersion: string; dataDir: string; electron: string | null },
): Promise<SystemInfo> {
  let measured;
  try {
    measured = await supervisor.request('system:info', {}, { timeoutMs: 30_000 });
  } catch (e) {
    const err = toErrorValue(e);
    measured = await collectSystemInfo({ addon: null, error: `The engine worker could not answer: ${err.message}` });
  }
  return { appVersion: app.appVersion, electron: app.electron, dataDir: app.dataDir, ...measured };
}
