import { z } from 'zod';

export const GpuInfoSchema = z.object({
  name: z.string(),
  memoryBytes: z.number(),
  driver: z.string(),
  computeCapability: z.string(),
});

export const SystemInfoSchema = z.object({
  appVersion: z.string(),
  addonVersion: z.string().nullable(),
  addonError: z.string().nullable(),
  /** Native modules the addon registered (nf4, t5, ...); empty when it did not load. */
  addonModules: z.array(z.string()).optional(),
  cudaCompiled: z.boolean(),
  os: z.object({ platform: z.string(), release: z.string(), arch: z.string() }),
  cpu: z.object({ model: z.string(), cores: z.number() }),
  ramBytes: z.number(),
  gpus: z.array(GpuInfoSchema),
  /** Where the GPU list came from: the addon (CUDA runtime), nvidia-smi, or nowhere. */
  gpuSource: z.enum(['addon', 'nvidia-smi', 'none']).optional(),
  node: z.string(),
  electron: z.string().nullable(),
  dataDir: z.string(),
});
/** What the engine worker measures; main adds appVersion, electron and dataDir. */
export type WorkerSystemInfo = Omit<SystemInfo, 'appVersion' | 'electron' | 'dataDir'>;
export type SystemInfo = z.infer<typeof SystemInfoSchema>;
