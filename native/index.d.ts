// TypeScript face of the engine addon (native/build/hukuk_engine.node), loaded through
// native/index.cjs. Each module's owner keeps its section; errors thrown by any function are
// EngineError (below). Keep sections in the order of native/src/ folders.

/** Every error the addon throws: a JS Error with a stable code and the C++ file:line. */
export interface EngineError extends Error {
  /** 'ENGINE_INVALID_ARG' | 'ENGINE_OOM' | 'ENGINE_CUDA' | 'ENGINE_IO' | 'ENGINE_CORRUPT' | 'ENGINE_NO_CUBLAS' | 'ENGINE_INTERNAL' | ... */
  code: string;
  /** "native/src/nf4/nf4.cpp:88" */
  where?: string;
}

// ---- system (native/src/system) ----

export interface GpuInfo {
  index: number;
  name: string;
  /** total device memory */
  memoryBytes: number;
  /** display driver version ("580.159.04"), or "CUDA 13.0" when NVML is missing */
  driver: string;
  /** "9.0" */
  computeCapability: string;
  multiprocessors: number;
}

export interface SystemApi {
  version(): string;
  /** names of the registered native modules */
  modules: string[];
  /** true when the addon was built with nvcc (a CUDA path exists; a GPU may still be absent) */
  cudaCompiled(): boolean;
  /** GPUs the driver shows; [] without a CUDA build, a driver or a device. Never throws for that. */
  gpus(): GpuInfo[];
}

/** The whole addon. Modules add their interfaces to this intersection. */
export type Engine = SystemApi;

/** Loads the addon ($HUKUK_ADDON, native/build/, or beside an Electron asar). Throws code ENGINE_NOT_BUILT. */
export function loadEngine(): Engine;
