#!/usr/bin/env node
// Builds everything the app and the headless services run from:
//   electron-vite: out/main (app + engine worker), out/preload, out/renderer
//   esbuild:       out/cli/hukuk.cjs (the CLI and `hukuk serve`, plain Node, same services)
// The Electron binary is not needed to build.
import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name) => resolve(root, 'node_modules', '.bin', name);

execFileSync(bin('electron-vite'), ['build', '--logLevel', 'warn'], { cwd: root, stdio: 'inherit' });

await build({
  entryPoints: [resolve(root, 'main/cli/index.ts')],
  outfile: resolve(root, 'out/cli/hukuk.cjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  sourcemap: true,
  external: ['better-sqlite3', 'electron', 'ws', 'hyparquet'],
  logLevel: 'warning',
});
console.log('build: out/main, out/preload, out/renderer, out/cli');
