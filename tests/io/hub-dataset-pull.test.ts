// `hukuk pull dataset <repo>` against a local server with the Hub's layout (revision API with
// LFS metadata, /datasets/<repo>/resolve/main/<file>, LFS files redirected to a CDN path): the
// download is imported through the datasets service, so it is listed by datasets:list with
// its statistics like a local import, and the staging download is removed.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Dataset } from '../../common/contract/datasets';
import { run as pull } from '../../main/cli/commands/pull';
import type { CliContext } from '../../main/cli/types';
import { dispatch } from '../../main/ipc/dispatch';
import { createHandlers } from '../../main/ipc/handlers';
import { createAppServices } from '../../main/services';
import { stagingDir } from '../../main/io/hub/pull';

const enc = (s: string) => new TextEncoder().encode(s);
const rows = Array.from({ length: 40 }, (_, i) => ({ Soru: `Madde ${i} neyi düzenler?`, Cevap: `Madde ${i}, konu ${i % 7} hakkındadır.` }));
const repos: Record<string, Record<string, { data: Uint8Array; lfs: boolean }>> = {
  'law/qa': {
    'README.md': { data: enc('# Hukuk QA'), lfs: false },
    'data/train.json': { data: enc(JSON.stringify(rows)), lfs: true },
    '.gitattributes': { data: enc('*.json filter=lfs'), lfs: false },
  },
  // Data the importer refuses: no question/answer columns to be found.
  'law/broken': { 'data.json': { data: enc(JSON.stringify([{ a: 1, b: 2 }, { a: 3, b: 4 }])), lfs: false } },
};
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

let hub: Server;
let endpoint = '';
const requests: string[] = [];
beforeAll(async () => {
  hub = createServer((req, res) => {
    requests.push(req.url!);
    const url = new URL(req.url!, 'http://x');
    const api = url.pathname.match(/^\/api\/datasets\/([^/]+\/[^/]+)\/revision\/main$/);
    if (api && repos[api[1]]) {
      const siblings = Object.entries(repos[api[1]]).map(([name, f]) => ({
        rfilename: name,
        size: f.data.length,
        ...(f.lfs ? { lfs: { sha256: sha256(f.data), size: f.data.length, pointerSize: 130 } } : {}),
      }));
      return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id: api[1], sha: 'def4567890abcdef', siblings }));
    }
    const resolve = url.pathname.match(/^\/datasets\/([^/]+\/[^/]+)\/resolve\/main\/(.+)$/);
    const cdn = url.pathname.match(/^\/cdn\/([^/]+\/[^/]+)\/(.+)$/);
    const m = resolve ?? cdn;
    const f = m && repos[m[1]]?.[decodeURIComponent(m[2])];
    if (!f) return res.writeHead(404).end('Repository not found');
    if (resolve && f.lfs) {
      return res.writeHead(302, { location: `${endpoint}/cdn/${m[1]}/${m[2]}`, 'x-linked-etag': `"${sha256(f.data)}"`, 'x-linked-size': String(f.data.length) }).end();
    }
    res.writeHead(200, { 'content-length': String(f.data.length) }).end(f.data);
  });
  await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  process.env.HF_ENDPOINT = endpoint;
});
afterAll(async () => {
  delete process.env.HF_ENDPOINT;
  await new Promise((r) => hub.close(r));
});

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
function ctx(): CliContext & { out: string[]; err: string[] } {
  const dataDir = mkdtempSync(join(tmpdir(), 'hukuk-pull-ds-'));
  dirs.push(dataDir);
  const out: string[] = [];
  const err: string[] = [];
  return { dataDir, out, err, stdout: (l) => out.push(l), stderr: (l) => err.push(l) };
}

async function listed(dataDir: string): Promise<Dataset[]> {
  const services = createAppServices({ dataDir, appVersion: '0.0.0-test', workerFactory: () => { throw new Error('no engine'); } });
  try {
    const r = await dispatch(createHandlers(services), 'datasets:list', {});
    if (!r.ok) throw new Error(r.error.message);
    return r.value as Dataset[];
  } finally {
    await services.close();
  }
}

describe('hukuk pull dataset', () => {
  it('downloads and imports: datasets:list shows it with statistics; the staging folder is gone', async () => {
    const c = ctx();
    expect(await pull(['dataset', 'law/qa'], c)).toBe(0);
    expect(c.err.join('\n')).not.toMatch(/error/i);
    expect(c.out[0]).toMatch(/^pulled dataset law\/qa as dataset \d+ "law\/qa": 40 rows \(train \d+, (validation|test) \d+\), 0 skipped$/);
    expect(requests.some((u) => u.startsWith('/cdn/law/qa/data/train.json'))).toBe(true);

    const [d, ...more] = await listed(c.dataDir);
    expect(more).toEqual([]);
    expect(d).toMatchObject({
      name: 'law/qa',
      format: 'hf-folder',
      sourcePath: 'hf://datasets/law/qa@main@def4567890ab',
      rowCount: 40,
      skippedRows: 0,
      copied: true,
      columnMapping: { question: 'Soru', answer: 'Cevap' },
    });
    expect((d.trainRows ?? 0) + (d.validationRows ?? 0) + (d.testRows ?? 0)).toBe(40);
    expect(d.trainRows).toBeGreaterThan(30);
    expect(d.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(d.stats).toMatchObject({ columns: ['Soru', 'Cevap'], duplicates: { sameQuestion: 0 } });
    // The copy lives under <data>/datasets/, the download under <data>/downloads/ is removed.
    expect(d.storedPath.startsWith(join(c.dataDir, 'datasets'))).toBe(true);
    expect(existsSync(join(d.storedPath, 'data/train.json'))).toBe(true);
    expect(existsSync(stagingDir(c.dataDir, 'dataset', 'law/qa', 'main'))).toBe(false);

    // --json: the dataset row and the files.
    const j = ctx();
    expect(await pull(['dataset', 'law/qa', '--name', 'Kanun QA', '--json'], j)).toBe(0);
    const out = JSON.parse(j.out.join('\n')) as { dataset: Dataset; files: { path: string }[] };
    expect(out.dataset).toMatchObject({ name: 'Kanun QA', rowCount: 40 });
    expect(out.files.map((f) => f.path).sort()).toEqual(['README.md', 'data/train.json']);
  });

  it('data the importer refuses: exit 1, nothing listed, the download kept for the next try', async () => {
    const c = ctx();
    expect(await pull(['dataset', 'law/broken'], c)).toBe(1);
    expect(c.err.join('\n')).toMatch(/^hukuk pull dataset law\/broken: Cannot tell which columns hold the question and the answer/m);
    expect(await listed(c.dataDir)).toEqual([]);
    expect(readdirSync(stagingDir(c.dataDir, 'dataset', 'law/broken', 'main'))).toEqual(['data.json']);
    // The columns named: the kept download is imported without fetching the file again.
    const again = ctx();
    Object.assign(again, { dataDir: c.dataDir });
    const before = requests.filter((u) => u.includes('/resolve/')).length;
    expect(await pull(['dataset', 'law/broken', '--question-column', 'a', '--answer-column', 'b', '--json'], again)).toBe(0);
    expect(requests.filter((u) => u.includes('/resolve/')).length).toBe(before);
    expect((await listed(c.dataDir)).map((d) => [d.name, d.rowCount, d.columnMapping])).toEqual([['law/broken', 2, { question: 'a', answer: 'b' }]]);
  });

  it('is refused while another process holds the data folder', async () => {
    const c = ctx();
    const services = createAppServices({ dataDir: c.dataDir, appVersion: '0.0.0-test', workerFactory: () => { throw new Error('no engine'); } });
    try {
      const before = requests.length;
      expect(await pull(['dataset', 'law/qa'], c)).toBe(1);
      expect(c.err.join('\n')).toContain(`Hukuk Studio is already using this data folder (pid ${process.pid})`);
      expect(requests.length).toBe(before); // refused before going online
    } finally {
      await services.close();
    }
  });
});
