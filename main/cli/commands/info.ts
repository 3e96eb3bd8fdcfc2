// `hukuk info [--json]`: the system facts the System page shows, measured by the real
// engine worker (addon version, CUDA build, GPUs) plus the host.
import { parseArgs } from 'node:util';
import type { SystemInfo } from '../../../common/contract/system';
import { Supervisor } from '../../jobs/supervisor';
import { forkWorkerFactory } from '../../jobs/worker-process';
import { getSystemInfo } from '../../services/system';
import { appVersion } from '../../version';
import type { CliContext } from '../types';

export const summary = 'system facts: app and engine versions, OS, CPU, RAM, GPUs (--json)';

const GiB = 1024 ** 3;

export function formatInfo(info: SystemInfo): string[] {
  const lines = [
    `Hukuk Studio ${info.appVersion} (Node ${info.node}${info.electron ? `, Electron ${info.electron}` : ''})`,
    `Data folder:  ${info.dataDir}`,
  ];
  if (info.addonVersion) {
    const mods = info.addonModules?.length ? `; modules: ${info.addonModules.join(', ')}` : '';
    lines.push(`Engine addon: ${info.addonVersion} (${info.cudaCompiled ? 'CUDA build' : 'CPU-only build'}${mods})`);
  } else {
    lines.push(`Engine addon: not loaded: ${info.addonError ?? 'unknown reason'}`);
  }
  lines.push(
    `OS:           ${info.os.platform} ${info.os.release} (${info.os.arch})`,
    `CPU:          ${info.cpu.model}, ${info.cpu.cores} logical cores`,
    `RAM:          ${(info.ramBytes / GiB).toFixed(1)} GiB`,
  );
  if (info.gpus.length === 0) lines.push('GPUs:         none found');
  info.gpus.forEach((g, i) =>
    lines.push(
      `GPU ${i}:        ${g.name}, ${(g.memoryBytes / GiB).toFixed(1)} GiB, driver ${g.driver || '?'}, compute ${g.computeCapability}` +
        (info.gpuSource === 'nvidia-smi' ? ' (from nvidia-smi)' : ''),
    ),
  );
  return lines;
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  let json = false;
  try {
    json = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true }).values.json ?? false;
  } catch (e) {
    ctx.stderr(`hukuk info: ${(e as Error).message}`);
    return 2;
  }
  const supervisor = new Supervisor({ factory: forkWorkerFactory() });
  try {
    const info = await getSystemInfo(supervisor, { appVersion, dataDir: ctx.dataDir, electron: null });
    if (json) ctx.stdout(JSON.stringify(info, null, 2));
    else for (const l of formatInfo(info)) ctx.stdout(l);
    return 0;
  } finally {
    await supervisor.stop();
  }
}
