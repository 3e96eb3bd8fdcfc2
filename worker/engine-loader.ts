// The one way any process (the engine worker, the CLI, tests) finds and loads the engine addon.
// Lives under worker/ because loading the addon is the worker's job; main imports it only to
// locate the app (serve's static files, the worker script) and for `hukuk parity`.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

/**
 * The project root holding native/index.cjs: $HUKUK_APP_ROOT (set by the app for its worker),
 * else the first folder upwards from `start` that has it (works from the sources, from
 * out/cli/hukuk.cjs and out/main/, and inside an asar archive), else the current directory.
 */
export function findAppRoot(start: string = __dirname): string {
  if (process.env.HUKUK_APP_ROOT) return process.env.HUKUK_APP_ROOT;
  for (let d = resolve(start); ; d = dirname(d)) {
    if (existsSync(join(d, 'native', 'index.cjs'))) return d;
    if (dirname(d) === d) break;
  }
  return process.cwd();
}

export function engineLoaderPath(): string {
  return join(findAppRoot(), 'native', 'index.cjs');
}

/** Loads the addon through native/index.cjs (which honours $HUKUK_ADDON); throws its typed error. */
export function loadEngineAddon<T>(): T {
  // Shared cores: OpenMP's default spin-waiting makes every step crawl (measured ~10x).
  process.env.OMP_WAIT_POLICY ??= 'passive';
  // A runtime path: bundlers must not try to inline the addon.
  const { loadEngine } = createRequire(__filename)(engineLoaderPath()) as { loadEngine: () => T };
  return loadEngine();
}
