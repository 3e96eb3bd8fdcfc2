// One view over a model folder's weights, whatever the file format: model.safetensors,
// sharded safetensors (model.safetensors.index.json), or pytorch_model.bin (and its sharded
// index). Headers are read at open; tensor bytes only when asked for.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { AppError } from '../../../common/contract/errors';
import { parseHeader, readHeaderLength, type DType } from '../../../common/formats/safetensors';
import { RandomAccessFile } from './random-access-file';
import { TorchBinFile, type TorchBinTensor } from './torch-bin';

export type WeightFormat = 'safetensors' | 'safetensors-sharded' | 'pytorch-bin' | 'pytorch-bin-sharded';

export interface WeightTensor {
  name: string;
  dtype: DType;
  shape: number[];
  /** The file it lives in (base name). */
  file: string;
  /** For pytorch_model.bin: the earlier tensor this one is the same view of (tied weights). */
  aliasOf?: string;
}

export interface WeightSource {
  format: WeightFormat;
  /** Base names of the weight files, in order. */
  files: string[];
  tensors: Map<string, WeightTensor>;
  read(name: string): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface SafetensorsFileInfo {
  file: RandomAccessFile;
  tensors: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[];
  metadata: Record<string, string> | null;
}

export async function openSafetensorsFile(path: string): Promise<SafetensorsFileInfo> {
  const file = await RandomAccessFile.open(path);
  try {
    const label = basename(path);
    if (file.size < 8) throw new AppError('corrupt_file', `${label}: too short to be safetensors (${file.size} bytes)`);
    const n = readHeaderLength(await file.read(0, 8), file.size, label);
    const header = parseHeader(await file.read(8, n), file.size, label);
    return { file, tensors: header.tensors, metadata: header.metadata };
  } catch (e) {
    await file.close();
    throw e;
  }
}

async function readIndex(path: string): Promise<Map<string, string>> {
  let json: { weight_map?: unknown };
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as { weight_map?: unknown };
  } catch (e) {
    throw new AppError('corrupt_file', `${basename(path)}: not valid JSON (${(e as Error).message})`);
  }
  const wm = json.weight_map;
  if (!wm || typeof wm !== 'object' || Array.isArray(wm)) throw new AppError('corrupt_file', `${basename(path)}: no weight_map`);
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(wm as Record<string, unknown>)) {
    // A shard name is a bare file name: never let an index point outside the folder.
    if (typeof v !== 'string' || v.includes('/') || v.includes('\\') || v.startsWith('.')) {
      throw new AppError('corrupt_file', `${basename(path)}: weight_map.${k} is not a file name in the folder`);
    }
    out.set(k, v);
  }
  return out;
}

/** Which weight files a folder has, preferring safetensors (no pickle at all). */
export function detectWeightFormat(dir: string): WeightFormat | null {
  if (existsSync(join(dir, 'model.safetensors'))) return 'safetensors';
  if (existsSync(join(dir, 'model.safetensors.index.json'))) return 'safetensors-sharded';
  if (existsSync(join(dir, 'pytorch_model.bin'))) return 'pytorch-bin';
  if (existsSync(join(dir, 'pytorch_model.bin.index.json'))) return 'pytorch-bin-sharded';
  return null;
}

export async function openWeights(dir: string, format = detectWeightFormat(dir)): Promise<WeightSource> {
  if (!format) {
    throw new AppError(
      'not_found',
      `${dir}: no weights found (expected model.safetensors, model.safetensors.index.json or pytorch_model.bin)`,
    );
  }
  if (format === 'safetensors' || format === 'safetensors-sharded') return openSafetensorsWeights(dir, format);
  return openTorchWeights(dir, format);
}

async function shardList(dir: string, indexName: string): Promise<{ shards: string[]; map: Map<string, string> | null }> {
  const map = await readIndex(join(dir, indexName));
  const shards = [...new Set(map.values())].sort();
  for (const s of shards) {
    if (!existsSync(join(dir, s))) throw new AppError('corrupt_file', `${indexName} names ${s}, which is not in the folder`);
  }
  return { shards, map };
}

async function openSafetensorsWeights(dir: string, format: WeightFormat): Promise<WeightSource> {
  const { shards, map } =
    format === 'safetensors' ? { shards: ['model.safetensors'], map: null } : await shardList(dir, 'model.safetensors.index.json');
  const opened: SafetensorsFileInfo[] = [];
  const tensors = new Map<string, WeightTensor>();
  const where = new Map<string, { f: SafetensorsFileInfo; begin: number; end: number }>();
  try {
    for (const s of shards) {
      const f = await openSafetensorsFile(join(dir, s));
      opened.push(f);
      for (const t of f.tensors) {
        if (tensors.has(t.name)) throw new AppError('corrupt_file', `tensor ${t.name} is in both ${tensors.get(t.name)!.file} and ${s}`);
        if (map && map.get(t.name) !== s) {
          throw new AppError('corrupt_file', `tensor ${t.name} is in ${s}, but the index says ${map.get(t.name) ?? 'nothing'}`);
        }
        tensors.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, file: s });
        where.set(t.name, { f, begin: t.begin, end: t.end });
      }
    }
    if (map) {
      for (const [name, file] of map) {
        if (!tensors.has(name)) throw new AppError('corrupt_file', `tensor ${name}: the index says ${file}, which does not contain it`);
      }
    }
  } catch (e) {
    await Promise.all(opened.map((f) => f.file.close()));
    throw e;
  }
  return {
    format,
    files: shards,
    tensors,
    read: async (name) => {
      const w = where.get(name);
      if (!w) throw new AppError('not_found', `no tensor ${name}`);
      return w.f.file.read(w.begin, w.end - w.begin);
    },
    close: async () => {
      await Promise.all(opened.map((f) => f.file.close()));
    },
  };
}

async function openTorchWeights(dir: string, format: WeightFormat): Promise<WeightSource> {
  const { shards, map } =
    format === 'pytorch-bin' ? { shards: ['pytorch_model.bin'], map: null } : await shardList(dir, 'pytorch_model.bin.index.json');
  const opened: TorchBinFile[] = [];
  const tensors = new Map<string, WeightTensor>();
  const where = new Map<string, { f: TorchBinFile; t: TorchBinTensor }>();
  try {
    for (const s of shards) {
      const f = await TorchBinFile.open(join(dir, s));
      opened.push(f);
      const seen = new Map<string, string>();
      for (const t of f.tensors) {
        if (tensors.has(t.name)) throw new AppError('corrupt_file', `tensor ${t.name} is in both ${tensors.get(t.name)!.file} and ${s}`);
        if (map && map.get(t.name) !== s) {
          throw new AppError('corrupt_file', `tensor ${t.name} is in ${s}, but the index says ${map.get(t.name) ?? 'nothing'}`);
        }
        const viewKey = `${t.tensor.storage.key}|${t.tensor.storageOffset}|${t.shape.join(',')}|${t.tensor.stride.join(',')}`;
        const aliasOf = seen.get(viewKey);
        if (!aliasOf) seen.set(viewKey, t.name);
        tensors.set(t.name, { name: t.name, dtype: t.dtype, shape: t.shape, file: s, ...(aliasOf ? { aliasOf } : {}) });
        where.set(t.name, { f, t });
      }
    }
    if (map) {
      for (const [name, file] of map) {
        if (!tensors.has(name)) throw new AppError('corrupt_file', `tensor ${name}: the index says ${file}, which does not contain it`);
      }
    }
  } catch (e) {
    await Promise.all(opened.map((f) => f.close()));
    throw e;
  }
  return {
    format,
    files: shards,
    tensors,
    read: async (name) => {
      const w = where.get(name);
      if (!w) throw new AppError('not_found', `no tensor ${name}`);
      return w.f.readTensor(w.t);
    },
    close: async () => {
      await Promise.all(opened.map((f) => f.close()));
    },
  };
}
