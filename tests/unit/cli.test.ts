// The `hukuk` CLI as a user runs it: bundled like tools/build.mjs bundles it, run in a child
// Node process, with the real engine worker. `info --json` must print real facts that match
// the contract; `serve` must print its one URL line and answer over the WebSocket.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SystemInfoSchema } from '../../common/contract/system';
import { bundleForNode, childEnv, repoRoot, tempDir } from '../store/helpers';

let tmp: ReturnType<typeof tempDir>;
let cli: string;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  tmp = tempDir();
  cli = await bundleForNode(join(repoRoot, 'main/cli/index.ts'), join(tmp.dir, 'hukuk.cjs'));
  const worker = await bundleForNode(join(repoRoot, 'worker/engine-worker.ts'), join(tmp.dir, 'engine-worker.cjs'));
  env = childEnv({ HUKUK_APP_ROOT: repoRoot, HUKUK_WORKER_SCRIPT: worker, HUKUK_DATA_DIR: join(tmp.dir, 'data') });
});
afterAll(() => tmp.remove());

/** Runs the bundled CLI the way bin/hukuk.js does. */
function hukuk(args: string[]): ChildProcess {
  const launcher = join(tmp.dir, 'hukuk-bin.cjs');
  writeFileSync(launcher, `require(${JSON.stringify(cli)}).main(process.argv.slice(2)).then((c) => { process.exitCode = c; });\n`);
  return spawn(process.execPath, [launcher, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
}

function finish(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('hukuk info', () => {
  it('--json prints the system facts as the contract describes them, and nothing else', async () => {
    const r = await finish(hukuk(['info', '--json']));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const info = SystemInfoSchema.parse(JSON.parse(r.stdout));
    expect(info.addonError).toBeNull();
    expect(info.addonVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(info.cpu.cores).toBe(cpus().length);
    expect(info.ramBytes).toBe(totalmem());
    expect(info.dataDir).toBe(join(tmp.dir, 'data'));
    expect(info.electron).toBeNull();
  });

  it('prints a readable summary without --json and rejects unknown flags', async () => {
    const r = await finish(hukuk(['info']));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Hukuk Studio \d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/Engine addon: \d+\.\d+\.\d+/);
    expect(r.stdout).toMatch(/RAM: +\d+\.\d GiB/);
    const bad = await finish(hukuk(['info', '--jsn']));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--jsn/);
  });
});

describe('hukuk serve', () => {
  it('prints one URL line, answers system:info over the WebSocket with the real worker, and stops on SIGTERM', async () => {
    const child = hukuk(['serve', '--port', '0', '--no-open']);
    const done = finish(child);
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /^Hukuk Studio is serving at (http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]+)$/m.exec(out);
        if (m) resolve(m[1]);
      });
      child.on('exit', () => reject(new Error(`serve exited early: ${out}`)));
    });
    const u = new URL(url);
    const ws = new WebSocket(`ws://${u.host}/ws?token=${u.searchParams.get('token')}`, { headers: { origin: u.origin } });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const reply = await new Promise<{ id: number; result: { ok: boolean; value: unknown } }>((resolve) => {
      ws.once('message', (d) => resolve(JSON.parse(d.toString())));
      ws.send(JSON.stringify({ id: 41, channel: 'system:info', payload: {} }));
    });
    ws.close();
    expect(reply.id).toBe(41);
    expect(reply.result.ok).toBe(true);
    const info = SystemInfoSchema.parse(reply.result.value);
    expect(info.addonError).toBeNull();
    expect(info.dataDir).toBe(join(tmp.dir, 'data'));

    child.kill('SIGTERM');
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
  });

  it('rejects a bad port', async () => {
    const r = await finish(hukuk(['serve', '--port', 'eighty', '--no-open']));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--port/);
  });
});

describe('hukuk with a database from a newer app', () => {
  it('refuses to serve and says why', async () => {
    const Database = (await import('better-sqlite3')).default;
    const dataDir = join(tmp.dir, 'newer');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(dataDir, { recursive: true });
    const db = new Database(join(dataDir, 'hukuk.db'));
    db.pragma('user_version = 999');
    db.close();
    const r = await finish(hukuk(['--data-dir', dataDir, 'serve', '--port', '0', '--no-open']));
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/newer version of Hukuk Studio/);
  });
});
