// `hukuk model inspect|import|list|delete` and `hukuk pull model` through the commands' run().
import { mkdtempSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run as model } from '../../main/cli/commands/model';
import { run as pull } from '../../main/cli/commands/pull';
import type { CliContext } from '../../main/cli/types';
import { serializeSafetensors } from '../../common/formats/safetensors';
import { TINY_T5, tensorsFor } from './models-builders';

const dataDir = mkdtempSync(join(tmpdir(), 'hukuk-cli-models-'));
afterAll(() => rmSync(dataDir, { recursive: true, force: true }));
const FIXTURE = resolve(__dirname, '../fixtures/t5/relu_tied/model');

function ctx(): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { dataDir, out, err, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
}

describe('hukuk model / hukuk pull', () => {
  it('inspects a folder (text and --json)', async () => {
    const c = ctx();
    expect(await model(['inspect', FIXTURE, '--json'], c)).toBe(0);
    const s = JSON.parse(c.out.join('\n'));
    expect(s).toMatchObject({ modelType: 't5', format: 'safetensors', tieWordEmbeddings: true });
    const t = ctx();
    expect(await model(['inspect', FIXTURE], t)).toBe(0);
    expect(t.out.join('\n')).toMatch(/parameters: .*\n.*layers: +\d+ encoder \+ \d+ decoder/);
    const bad = ctx();
    expect(await model(['inspect', join(dataDir, 'nope')], bad)).toBe(1);
    expect(bad.err.join('')).toMatch(/does not exist/);
  });

  it('imports, lists, and deletes only with --yes', async () => {
    const c = ctx();
    expect(await model(['import', FIXTURE, '--json'], c)).toBe(0);
    const { model: m } = JSON.parse(c.out.join('\n'));
    const l = ctx();
    expect(await model(['list'], l)).toBe(0);
    expect(l.out.join('\n')).toContain(m.name);
    const noYes = ctx();
    expect(await model(['delete', String(m.id)], noYes)).toBe(2);
    const d = ctx();
    expect(await model(['delete', String(m.id), '--yes'], d)).toBe(0);
    expect(d.out.join('')).toMatch(/deleted the model and its files/);
  });

  it('pulls a model from $HF_ENDPOINT-like server and never prints the token', async () => {
    const files: Record<string, Uint8Array> = {
      'config.json': new TextEncoder().encode(JSON.stringify({ ...TINY_T5, d_ff: 20 })),
      'model.safetensors': serializeSafetensors(tensorsFor({ ...TINY_T5, d_ff: 20 })),
    };
    const server = createServer((req, res) => {
      if (req.headers.authorization !== 'Bearer hf_cliSecret123456789') return res.writeHead(401).end(`bad ${req.headers.authorization}`);
      if (req.url?.startsWith('/api/models/o/m/revision/main')) {
        const siblings = Object.entries(files).map(([n, d]) => ({ rfilename: n, size: d.length, lfs: { sha256: createHash('sha256').update(d).digest('hex'), size: d.length } }));
        return res.end(JSON.stringify({ siblings }));
      }
      const m = req.url?.match(/^\/o\/m\/resolve\/main\/(.+)$/);
      if (m && files[m[1]]) return res.end(files[m[1]]);
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const old = process.env.HF_ENDPOINT;
    process.env.HF_ENDPOINT = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const wrong = ctx();
      expect(await pull(['model', 'o/m', '--token', 'hf_wrongSecret99999999'], wrong)).toBe(1);
      expect(wrong.err.join('\n')).toMatch(/refused access/);
      expect(wrong.err.join('\n')).not.toContain('hf_wrongSecret99999999');
      const c = ctx();
      expect(await pull(['model', 'o/m', '--token', 'hf_cliSecret123456789'], c)).toBe(0);
      expect(c.out.join('\n')).toMatch(/pulled o\/m as model \d+/);
      expect([...c.out, ...c.err].join('\n')).not.toContain('hf_cliSecret123456789');
      expect(await pull(['nonsense'], ctx())).toBe(2);
    } finally {
      if (old === undefined) delete process.env.HF_ENDPOINT;
      else process.env.HF_ENDPOINT = old;
      await new Promise((r) => server.close(r));
    }
  });
});
