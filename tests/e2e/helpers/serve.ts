// Starts the real `hukuk serve` (the built CLI) on a free port with its own data folder, and
// reads the URL (with the access token) from the line it prints.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(__dirname, '../../..');

/** The e2e tests run against the build; `npm test` builds first. Say so plainly when it is missing. */
export function requireBuild(): void {
  const needed = ['out/renderer/index.html', 'out/cli/hukuk.cjs'];
  const missing = needed.filter((p) => !existsSync(join(repoRoot, p)));
  if (missing.length) {
    throw new Error(`The end-to-end tests need the built app, but ${missing.join(' and ')} is missing. Run \`npm run build\` first (npm test does).`);
  }
}

export interface Served {
  /** http://127.0.0.1:PORT/?token=... exactly as printed */
  url: string;
  origin: string;
  token: string;
  dataDir: string;
  output: () => string;
  stop: () => Promise<void>;
}

export interface ServeOptions {
  /** An existing data folder (e.g. a database seeded by the test); removed at stop like a fresh one. */
  dataDir?: string;
  timeoutMs?: number;
}

export async function startServe(options: ServeOptions = {}): Promise<Served> {
  requireBuild();
  const timeoutMs = options.timeoutMs ?? 60_000;
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'hukuk-e2e-'));
  const child = spawn(process.execPath, [join(repoRoot, 'bin/hukuk.js'), '--data-dir', dataDir, 'serve', '--port', '0'], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));

  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`hukuk serve printed no URL within ${timeoutMs} ms. Output:\n${out}`)), timeoutMs);
    const check = () => {
      const m = /Hukuk Studio is serving at (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1]);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`hukuk serve exited (code ${code}, signal ${signal}) before serving. Output:\n${out}`));
    });
  });
  const parsed = new URL(url);
  const token = parsed.searchParams.get('token');
  if (!token) throw new Error(`the served URL has no token: ${url}`);
  return {
    url,
    origin: parsed.origin,
    token,
    dataDir,
    output: () => out,
    stop: () => stopChild(child, dataDir),
  };
}

async function stopChild(child: ChildProcess, dataDir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  rmSync(dataDir, { recursive: true, force: true });
}
