// System facts measured inside the engine worker, where the addon lives: the addon's version
// (or why it did not load), its CUDA build flag, the GPUs, and the host's OS, CPU and RAM.
// GPUs come from the addon (CUDA runtime + NVML) when it can list them; otherwise from
// `nvidia-smi`, so a CPU-only build on a GPU machine still shows the card.
import { execFile } from 'node:child_process';
import { arch, cpus, release, totalmem, platform } from 'node:os';
import type { WorkerSystemInfo } from '../common/contract/system';

type GpuInfo = WorkerSystemInfo['gpus'][number];

/** The part of the addon this file uses (native/index.d.ts has the full face). */
export interface SystemAddon {
  version(): string;
  modules?: string[];
  cudaCompiled?: () => boolean;
  gpus?: () => { name: string; memoryBytes: number; driver: string; computeCapability: string }[];
}

export type AddonLoad = { addon: SystemAddon; error: null } | { addon: null; error: string };

export async function collectSystemInfo(load: AddonLoad): Promise<WorkerSystemInfo> {
  const cpuList = cpus();
  let addonVersion: string | null = null;
  let addonError: string | null = load.error;
  let cudaCompiled = false;
  let gpus: GpuInfo[] = [];
  let gpuSource: WorkerSystemInfo['gpuSource'] = 'none';
  if (load.addon) {
    try {
      addonVersion = load.addon.version();
      cudaCompiled = typeof load.addon.cudaCompiled === 'function' ? Boolean(load.addon.cudaCompiled()) : false;
      if (typeof load.addon.gpus === 'function') {
        gpus = load.addon.gpus().map((g) => ({
          name: g.name,
          memoryBytes: g.memoryBytes,
          driver: g.driver,
          computeCapability: g.computeCapability,
        }));
        if (gpus.length) gpuSource = 'addon';
      }
    } catch (e) {
      addonError = `The engine addon loaded but failed to report: ${(e as Error).message}`;
    }
  }
  if (gpus.length === 0) {
    const smi = await nvidiaSmiGpus();
    if (smi.length) {
      gpus = smi;
      gpuSource = 'nvidia-smi';
    }
  }
  return {
    addonVersion,
    addonError,
    addonModules: load.addon?.modules ? [...load.addon.modules] : [],
    cudaCompiled,
    os: { platform: platform(), release: release(), arch: arch() },
    cpu: { model: cpuList[0]?.model.trim() ?? 'unknown', cores: cpuList.length },
    ramBytes: totalmem(),
    gpus,
    gpuSource,
    node: process.versions.node,
  };
}

/** GPUs as nvidia-smi lists them; [] when it is missing or fails (no driver, no device). */
export function nvidiaSmiGpus(timeoutMs = 5000): Promise<GpuInfo[]> {
  return new Promise((resolve) => {
    execFile(
      'nvidia-smi',
      ['--query-gpu=name,memory.total,driver_version,compute_cap', '--format=csv,noheader,nounits'],
      { timeout: timeoutMs, windowsHide: true },
      (err, stdout) => resolve(err ? [] : parseNvidiaSmi(stdout)),
    );
  });
}

/** Parses `name, memory MiB, driver, compute capability` lines. */
export function parseNvidiaSmi(text: string): GpuInfo[] {
  const out: GpuInfo[] = [];
  for (const line of text.split(/\r?\n/)) {
    const parts = line.split(',').map((s) => s.trim());
    if (parts.length < 4 || !parts[0]) continue;
    const mib = Number(parts[1]);
    out.push({
      name: parts[0],
      memoryBytes: Number.isFinite(mib) ? mib * 1024 * 1024 : 0,
      driver: parts[2],
      computeCapability: parts[3],
    });
  }
  return out;
}
