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

/** system:pick-path: a native open dialog (the Electron window only; `hukuk serve` cannot). */
export const PickPathRequest = z
  .object({
    kind: z.enum(['file', 'folder']),
    title: z.string().max(200).optional(),
    /** File type filters as Electron takes them: extensions without the dot, '*' for all. */
    filters: z
      .array(z.object({ name: z.string().max(100), extensions: z.array(z.string().regex(/^(\*|[A-Za-z0-9_-]{1,16})$/)).max(20) }))
      .max(10)
      .optional(),
  })
  .strict();
export type PickPathRequest = z.infer<typeof PickPathRequest>;
/** null: the person closed the dialog without choosing. */
export const PickPathResponse = z.object({ path: z.string().nullable() });

/** What this front end can do, for the UI to show or hide controls (e.g. a Browse button). */
export const SystemCapabilitiesSchema = z.object({ canPickPaths: z.boolean() });
export type SystemCapabilities = z.infer<typeof SystemCapabilitiesSchema>;
