// The models service on a real SQLite file: import (copy / reference / .bin conversion),
// duplicate refusal, delete that only removes what the app copied, and pull from a local
// hub-like server.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../common/contract/errors';
import { parseSafetensors, serializeSafetensors } from '../../common/formats/safetensors';
import { ModelsService, sqliteModelStore } from '../../main/services/models';
import { openDatabase, type Db } from '../../main/store/db';
import { TINY_T5, tensorsFor, torchBin, writeSafetensorsModel } from './models-builders';

const root = mkdtempSync(join(tmpdir(), 'hukuk-models-svc-'));
let db: Db;
let svc: ModelsService;
let server: Server;
const modelsDir = join(root, 'data', 'models');
const tensors = tensorsFor(TINY_T5);
const weights = serializeSafetensors(tensors);

beforeAll(async () => {
  db = openDatabase(join(root, 'data', 'hukuk.db'));
  mkdirSync(modelsDir, { recursive: true });
  const files: Record<string, Uint8Array> = { 'config.json': new TextEncoder().encode(JSON.stringify({ ...TINY_T5, d_ff: 16 })) };
  files['model.safetensors'] = serializeSafetensors(tensorsFor({ ...TINY_T5, d_ff: 16 }));
  server = createServer((req, res) => {
    if (req.url?.startsWith('/api/models/hub/tiny/revision/main')) {
      const siblings = Object.entries(files).map(([n, d]) => ({ rfilename: n, size: d.length, lfs: { sha256: createHash('sha256').update(d).digest('hex'), size: d.length } }));
      return res.end(JSON.stringify({ sha: '0123456789abcdef', siblings }));
    }
    const m = req.url?.match(/^\/hub\/tiny\/resolve\/main\/(.+)$/);
    if (m && files[m[1]]) return res.end(files[m[1]]);
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  svc = new ModelsService(sqliteModelStore(db), {
    dataDir: join(root, 'data'),
    modelsDir,
    hubEndpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
  });
});
afterAll(async () => {
  db.close();
  await new Promise((r) => server.close(r));
  rmSync(root, { recursive: true, force: true });
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

describe('models service', () => {
  it('imports by copy, records every field, refuses the same model twice, deletes its copy', async () => {
    const src = join(root, 'src-copy');
    writeSafetensorsModel(src, TINY_T5, tensors);
    writeFileSync(join(src, 'spiece.model'), 'not really');
    writeFileSync(join(src, 'tf_model.h5'), 'ignored');
    const phases = new Set<string>();
    const { model } = await svc.import({ path: src, name: 'tiny relu' }, (p) => phases.add(p.phase));
    expect(model).toMatchObject({
      name: 'tiny relu',
      sourcePath: src,
      architecture: 'T5ForConditionalGeneration',
      modelType: 't5',
      paramCount: tensors.reduce((s, t) => s + t.data.length / 4, 0),
      vocabSize: 40,
      numLayers: 2,
      numDecoderLayers: 2,
      dModel: 8,
      dtype: 'F32',
      copied: true,
    });
    expect(model.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(model.storedPath.startsWith(modelsDir)).toBe(true);
    expect(readdirSync(model.storedPath).sort()).toEqual(['config.json', 'model.safetensors', 'spiece.model']);
    expect(model.diskBytes).toBe(weights.length + JSON.stringify(TINY_T5).length + 'not really'.length);
    expect([...phases]).toEqual(expect.arrayContaining(['hashing', 'copying', 'verifying', 'done']));
    expect(svc.list().map((m) => m.id)).toContain(model.id);

    const again = await errorOf(svc.import({ path: src }));
    expect(again.code).toBe('conflict');

    const d = await svc.delete(model.id);
    expect(d.deletedFiles).toBe(true);
    expect(existsSync(model.storedPath)).toBe(false);
    expect(existsSync(join(src, 'model.safetensors'))).toBe(true); // the user's folder is untouched
    expect(svc.list().map((m) => m.id)).not.toContain(model.id);
  });

  it('references a folder in place and never deletes it', async () => {
    const src = join(root, 'src-ref');
    writeSafetensorsModel(src, { ...TINY_T5, num_layers: 1, num_decoder_layers: 1 }, tensorsFor({ ...TINY_T5, num_layers: 1, num_decoder_layers: 1 }));
    const { model } = await svc.import({ path: src, mode: 'reference' });
    expect(model.copied).toBe(false);
    expect(model.storedPath).toBe(src);
    expect((await svc.delete(model.id)).deletedFiles).toBe(false);
    expect(existsSync(join(src, 'model.safetensors'))).toBe(true);
  });

  it('converts a pytorch_model.bin-only folder to model.safetensors at import', async () => {
    const src = join(root, 'src-bin');
    const cfg = { ...TINY_T5, d_model: 4 };
    mkdirSync(src);
    writeFileSync(join(src, 'config.json'), JSON.stringify(cfg));
    writeFileSync(join(src, 'pytorch_model.bin'), torchBin(tensorsFor(cfg)));
    const { model, warnings } = await svc.import({ path: src, mode: 'reference' });
    expect(model.copied).toBe(true);
    expect(warnings.join(' ')).toMatch(/converted to model\.safetensors/);
    expect(readdirSync(model.storedPath).sort()).toEqual(['config.json', 'model.safetensors']);
    expect((await svc.inspect(model.storedPath)).format).toBe('safetensors');
  });

  it('converts sharded pytorch_model.bin (with its index) into one model.safetensors', async () => {
    const src = join(root, 'src-bin-sharded');
    const cfg = { ...TINY_T5, d_model: 4, d_ff: 6 };
    const all = tensorsFor(cfg);
    mkdirSync(src);
    writeFileSync(join(src, 'config.json'), JSON.stringify(cfg));
    const half = Math.floor(all.length / 2);
    const shards = { 'pytorch_model-00001-of-00002.bin': all.slice(0, half), 'pytorch_model-00002-of-00002.bin': all.slice(half) };
    const weightMap: Record<string, string> = {};
    for (const [file, ts] of Object.entries(shards)) {
      writeFileSync(join(src, file), torchBin(ts));
      for (const t of ts) weightMap[t.name] = file;
    }
    writeFileSync(join(src, 'pytorch_model.bin.index.json'), JSON.stringify({ weight_map: weightMap }));
    expect((await svc.inspect(src)).format).toBe('pytorch-bin-sharded');
    const { model } = await svc.import({ path: src });
    expect(readdirSync(model.storedPath).sort()).toEqual(['config.json', 'model.safetensors']);
    const stored = parseSafetensors(readFileSync(join(model.storedPath, 'model.safetensors')));
    expect(stored.tensors.map((t) => t.name)).toEqual(all.map((t) => t.name));
    const bytes = readFileSync(join(model.storedPath, 'model.safetensors'));
    for (const t of stored.tensors) {
      expect(Buffer.from(bytes.subarray(t.begin, t.end)).equals(Buffer.from(all.find((x) => x.name === t.name)!.data))).toBe(true);
    }
  });

  it('refuses a corrupt folder without writing a row or leaving files', async () => {
    const src = join(root, 'src-bad');
    writeSafetensorsModel(src, { ...TINY_T5, vocab_size: 41 }, tensors);
    const before = svc.list().length;
    const e = await errorOf(svc.import({ path: src }));
    expect(e.code).toBe('corrupt_file');
    expect(svc.list()).toHaveLength(before);
    expect(readdirSync(modelsDir).filter((f) => f.includes('importing'))).toEqual([]);
  });

  it('pulls from the hub into the models folder and records hf:// as the source', async () => {
    const progress: string[] = [];
    const { model } = await svc.pull({ repo: 'hub/tiny' }, (p) => progress.push(p.phase));
    expect(model.sourcePath).toBe('hf://hub/tiny@main@0123456789ab');
    expect(model.copied).toBe(true);
    expect(model.storedPath.startsWith(modelsDir)).toBe(true);
    expect(readdirSync(model.storedPath).sort()).toEqual(['config.json', 'model.safetensors']);
    expect(progress).toContain('downloading');
    expect(existsSync(join(root, 'data', 'downloads', 'models', 'hub--tiny@main'))).toBe(false);
  });
});
