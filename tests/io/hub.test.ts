// The Hub client against a local server with the hub's layout: the revision API with
// LFS metadata, /resolve/ answering LFS files with a 302 to a CDN on another origin
// (x-linked-etag / x-linked-size on the redirect, as the real hub does), Range requests,
// and a switch that cuts a response off halfway.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppError } from '../../common/contract/errors';
import { serializeSafetensors } from '../../common/formats/safetensors';
import { downloadFile, listRepoFiles, redact } from '../../main/io/hub/client';
import { pullRepo, stagingDir } from '../../main/io/hub/pull';
import { inspectModelFolder } from '../../main/io/models/inspect';
import { TINY_T5, tensorsFor } from './models-builders';

const TOKEN = 'hf_SecretTokenValue1234567890';
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Uint8Array) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

interface RepoFile {
  data: Uint8Array;
  lfs: boolean;
}
const config = new TextEncoder().encode(JSON.stringify(TINY_T5));
const weights = serializeSafetensors(tensorsFor(TINY_T5));
const repos: Record<string, Record<string, RepoFile>> = {
  'tiny/t5': {
    'config.json': { data: config, lfs: false },
    'model.safetensors': { data: weights, lfs: true },
    'flax_model.msgpack': { data: new Uint8Array(10), lfs: true },
  },
  'private/t5': { 'config.json': { data: config, lfs: false }, 'model.safetensors': { data: weights, lfs: true } },
  'law/qa': {
    'README.md': { data: new TextEncoder().encode('# card'), lfs: false },
    'data/train.json': { data: new TextEncoder().encode(JSON.stringify([{ Soru: 'S?', Cevap: 'C.' }])), lfs: true },
    '.gitattributes': { data: new TextEncoder().encode('*.json filter=lfs'), lfs: false },
  },
};

let hub: Server;
let cdn: Server;
let hubUrl = '';
let cdnUrl = '';
const log: { server: string; url: string; range?: string; auth?: string }[] = [];
let cutAfter: number | null = null; // CDN closes the connection after this many bytes
let tamper = false; // CDN serves different bytes than the listing's hash
let stall = false; // CDN sends half, then nothing (until the client gives up)

function send(res: ServerResponse, req: IncomingMessage, data: Uint8Array, headers: Record<string, string> = {}, fromCdn = false) {
  const range = req.headers.range?.match(/^bytes=(\d+)-$/);
  let start = 0;
  if (range) {
    start = Number(range[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      return;
    }
    res.writeHead(206, { ...headers, 'content-length': String(data.length - start), 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` });
  } else {
    res.writeHead(200, { ...headers, 'content-length': String(data.length) });
  }
  const body = data.subarray(start);
  if (stall && fromCdn) {
    res.write(body.subarray(0, body.length >> 1));
    setTimeout(() => res.destroy(), 3000).unref();
    return;
  }
  if (cutAfter !== null && body.length > cutAfter) {
    // the connection drops a moment after the first half (FIN, not RST: the bytes sent arrive)
    res.write(body.subarray(0, cutAfter), () => setTimeout(() => res.socket?.end(), 150));
    return;
  }
  res.end(body);
}

beforeAll(async () => {
  cdn = createServer((req, res) => {
    log.push({ server: 'cdn', url: req.url!, range: req.headers.range, auth: req.headers.authorization });
    const m = req.url!.match(/^\/lfs\/([^/]+\/[^/]+)\/(.+)$/);
    const f = m && repos[m[1]]?.[decodeURIComponent(m[2])];
    if (!f) return res.writeHead(404).end();
    let data = f.data;
    if (tamper) {
      data = data.slice();
      data[data.length - 1] ^= 0xff;
    }
    send(res, req, data, {}, true);
  });
  hub = createServer((req, res) => {
    log.push({ server: 'hub', url: req.url!, range: req.headers.range, auth: req.headers.authorization });
    const url = new URL(req.url!, hubUrl);
    const api = url.pathname.match(/^\/api\/(?:models|datasets)\/([^/]+\/[^/]+)\/revision\/main$/);
    const resolve = url.pathname.replace(/^\/datasets\//, '/').match(/^\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/);
    const repo = (api ?? resolve)?.[1];
    if (repo === 'private/t5' && req.headers.authorization !== `Bearer ${TOKEN}`) {
      return res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: `Invalid credentials in Authorization header ${req.headers.authorization ?? ''}` }));
    }
    if (api && repos[repo!]) {
      const siblings = Object.entries(repos[repo!]).map(([name, f]) => ({
        rfilename: name,
        size: f.data.length,
        blobId: gitSha1(f.data),
        ...(f.lfs ? { lfs: { sha256: sha256(f.data), size: f.data.length, pointerSize: 130 } } : {}),
      }));
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: repo, sha: 'abc123', siblings }));
    }
    if (resolve && repos[repo!]?.[decodeURIComponent(resolve[2])]) {
      const name = decodeURIComponent(resolve[2]);
      const f = repos[repo!][name];
      if (f.lfs) {
        return res
          .writeHead(302, { location: `${cdnUrl}/lfs/${repo}/${encodeURIComponent(name)}`, 'x-linked-etag': `"${sha256(f.data)}"`, 'x-linked-size': String(f.data.length) })
          .end();
      }
      return send(res, req, f.data, { etag: `"${gitSha1(f.data)}"` });
    }
    res.writeHead(404).end('Repository not found');
  });
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
  await new Promise<void>((r) => cdn.listen(0, '127.0.0.1', r));
  hubUrl = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  cdnUrl = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => hub.close(r));
  await new Promise((r) => cdn.close(r));
});

let dataDir: string;
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'hukuk-hub-'));
  log.length = 0;
  cutAfter = null;
  tamper = false;
  stall = false;
  return () => rmSync(dataDir, { recursive: true, force: true });
});

async function errorOf(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected a refusal');
}

describe('Hub client', () => {
  it('lists files with sizes and LFS hashes', async () => {
    const l = await listRepoFiles('model', 'tiny/t5', 'main', { endpoint: hubUrl });
    expect(l.sha).toBe('abc123');
    expect(l.files.find((f) => f.path === 'model.safetensors')).toEqual({ path: 'model.safetensors', size: weights.length, sha256: sha256(weights) });
    expect(l.files.find((f) => f.path === 'config.json')).toEqual({ path: 'config.json', size: config.length, blobId: gitSha1(config) });
    expect((await errorOf(listRepoFiles('model', 'no/such', 'main', { endpoint: hubUrl }))).code).toBe('not_found');
    expect((await errorOf(listRepoFiles('model', '../etc', 'main', { endpoint: hubUrl }))).code).toBe('invalid_payload');
  });

  it('pulls a tiny model (config + safetensors only), verified, and it inspects as a T5', async () => {
    const progress: number[] = [];
    const r = await pullRepo({ kind: 'model', repo: 'tiny/t5', dataDir, endpoint: hubUrl, onProgress: (p) => progress.push(p.bytesDone) });
    expect(r.dir).toBe(stagingDir(dataDir, 'model', 'tiny/t5', 'main'));
    expect(r.files.map((f) => f.path).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(r.files.find((f) => f.path === 'model.safetensors')!.sha256).toBe(sha256(weights));
    expect(readFileSync(join(r.dir, 'model.safetensors')).equals(Buffer.from(weights))).toBe(true);
    expect(progress[progress.length - 1]).toBe(weights.length + config.length);
    expect(log.some((l) => l.url.includes('flax'))).toBe(false);
    expect((await inspectModelFolder(r.dir)).config.numLayers).toBe(2);
  });

  it('resumes an interrupted download with a Range request', async () => {
    cutAfter = Math.floor(weights.length / 2);
    const e = await errorOf(pullRepo({ kind: 'model', repo: 'tiny/t5', dataDir, endpoint: hubUrl }));
    expect(e.code).toBe('io_error');
    const dir = stagingDir(dataDir, 'model', 'tiny/t5', 'main');
    const part = join(dir, 'model.safetensors.part');
    const partial = statSync(part).size;
    expect(partial).toBe(cutAfter);
    expect(existsSync(join(dir, 'model.safetensors'))).toBe(false);

    cutAfter = null;
    log.length = 0;
    const r = await pullRepo({ kind: 'model', repo: 'tiny/t5', dataDir, endpoint: hubUrl });
    expect(log.find((l) => l.server === 'cdn')?.range).toBe(`bytes=${partial}-`);
    expect(r.files.find((f) => f.path === 'model.safetensors')!.resumedFrom).toBe(partial);
    expect(readFileSync(join(dir, 'model.safetensors')).equals(Buffer.from(weights))).toBe(true);
    expect(existsSync(part)).toBe(false);
    // config.json was finished the first time: not downloaded again
    expect(log.some((l) => l.url.includes('config.json'))).toBe(false);
  });

  it('downloads again a finished file whose bytes no longer match the listing (same size)', async () => {
    await pullRepo({ kind: 'model', repo: 'tiny/t5', dataDir, endpoint: hubUrl });
    const dest = join(stagingDir(dataDir, 'model', 'tiny/t5', 'main'), 'model.safetensors');
    const stale = Buffer.from(weights);
    stale[stale.length - 1] ^= 0xff; // e.g. 'main' moved to a commit with other weights of the same size
    writeFileSync(dest, stale);
    log.length = 0;
    const r = await pullRepo({ kind: 'model', repo: 'tiny/t5', dataDir, endpoint: hubUrl });
    expect(r.files.find((f) => f.path === 'model.safetensors')!.sha256).toBe(sha256(weights));
    expect(readFileSync(dest).equals(Buffer.from(weights))).toBe(true);
    // the unchanged config.json is kept (its blob hash still matches)
    expect(log.some((l) => l.url.includes('config.json'))).toBe(false);
  });

  it('refuses a file whose sha256 does not match and removes the partial file', async () => {
    tamper = true;
    const dest = join(dataDir, 'model.safetensors');
    const file = { path: 'model.safetensors', size: weights.length, sha256: sha256(weights) };
    const e = await errorOf(downloadFile('model', 'tiny/t5', 'main', file, dest, { endpoint: hubUrl }));
    expect(e.code).toBe('corrupt_file');
    expect(e.message).toMatch(/sha256 mismatch/);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(`${dest}.part`)).toBe(false);
    // without the listing's hash, the x-linked-etag on the redirect still catches it
    const e2 = await errorOf(downloadFile('model', 'tiny/t5', 'main', { path: 'model.safetensors' }, dest, { endpoint: hubUrl }));
    expect(e2.message).toMatch(/sha256 mismatch/);
  });

  it('sends the token to the hub only, never to the CDN, and never shows it in errors', async () => {
    const bad = await errorOf(pullRepo({ kind: 'model', repo: 'private/t5', dataDir, endpoint: hubUrl, token: 'hf_WrongTokenValue99999' }));
    expect(bad.code).toBe('forbidden');
    expect(bad.message).not.toContain('hf_WrongTokenValue99999');
    const r = await pullRepo({ kind: 'model', repo: 'private/t5', dataDir, endpoint: hubUrl, token: TOKEN });
    expect(r.files).toHaveLength(2);
    expect(log.filter((l) => l.server === 'hub' && l.url.startsWith('/private')).every((l) => l.auth === `Bearer ${TOKEN}`)).toBe(true);
    expect(log.filter((l) => l.server === 'cdn').every((l) => l.auth === undefined)).toBe(true);
    expect(redact(`failed: Authorization: Bearer ${TOKEN} and ${TOKEN}`, TOKEN)).not.toContain(TOKEN);
  });

  it('pulls a dataset repository: data files in subfolders and the card, nothing else', async () => {
    const r = await pullRepo({ kind: 'dataset', repo: 'law/qa', dataDir, endpoint: hubUrl });
    expect(r.files.map((f) => f.path).sort()).toEqual(['README.md', 'data/train.json']);
    expect(JSON.parse(readFileSync(join(r.dir, 'data', 'train.json'), 'utf8'))).toEqual([{ Soru: 'S?', Cevap: 'C.' }]);
    expect(log.filter((l) => l.server === 'hub').every((l) => l.url.startsWith('/api/datasets/') || l.url.startsWith('/datasets/'))).toBe(true);
  });

  it('cancels a stalled download on abort, keeping the part for a resume', async () => {
    stall = true;
    const abort = new AbortController();
    const e = await errorOf(
      pullRepo({
        kind: 'model',
        repo: 'tiny/t5',
        dataDir,
        endpoint: hubUrl,
        signal: abort.signal,
        onProgress: (p) => {
          if (p.file === 'model.safetensors' && p.bytesDone > config.length) abort.abort();
        },
      }),
    );
    expect(e.code).toBe('cancelled');
    const part = join(stagingDir(dataDir, 'model', 'tiny/t5', 'main'), 'model.safetensors.part');
    expect(statSync(part).size).toBeGreaterThan(0);
    stall = false;
    const r = await pullRepo({ kind: 'model', repo: 'tiny/t5', dataDir, endpoint: hubUrl });
    expect(r.files.find((f) => f.path === 'model.safetensors')!.resumedFrom).toBeGreaterThan(0);
  });

  it('fails plainly when the hub cannot be reached', async () => {
    const e = await errorOf(pullRepo({ kind: 'model', repo: 'tiny/t5', dataDir, endpoint: 'http://127.0.0.1:9', token: TOKEN }));
    expect(e.code).toBe('io_error');
    expect(e.message).not.toContain(TOKEN);
  });
});
