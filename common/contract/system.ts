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
  cudaCompiled: z.boolean(),
  os: z.object({ platform: z.string(), release: z.string(), arch: z.string() }),
  cpu: z.object({ model: z.string(), cores: z.number() }),
  ramBytes: z.number(),
  gpus: z.array(GpuInfoSchema),
  node: z.string(),
  electron: z.string().nullable(),
  dataDir: z.string(),
});
export type SystemInfo = z.infer<typeof SystemInfoSchema>;
