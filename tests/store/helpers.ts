// Test helpers: a temp data folder per test and a way to run a TS entry in a child Node
// process (bundled with esbuild, since Node 20 cannot run TypeScript).
import { build } from 'esbuild';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '../..');

export function tempDir(prefix = 'hukuk-test-'): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Bundles `entry` (a .ts file) into `outDir` as CommonJS; better-sqlite3 stays external. */
export async function bundleForNode(entry: string, outFile: string): Promise<string> {
  await build({
    entryPoints: [entry],
    outfile: outFile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: ['better-sqlite3', 'electron'],
    logLevel: 'error',
  });
  return outFile;
}

/** Environment for a bundled child so that require('better-sqlite3') resolves from the repo. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, NODE_PATH: join(repoRoot, 'node_modules'), ...extra };
}
