// Opens a model folder and checks it the way transformers would load it: config.json is a
// supported T5, and every tensor T5ForConditionalGeneration needs is in the weights with
// the shape the config implies and a float dtype. Returns what the Models page shows.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AppError } from '../../../common/contract/errors';
import { numelOf } from '../../../common/formats/safetensors';
import { expectedT5Tensors, optionalT5Tensors, parseT5Config, type T5Config } from './t5-config';
import { detectWeightFormat, openWeights, type WeightFormat, type WeightSource } from './weights';

export const FLOAT_DTYPES = ['F32', 'F16', 'BF16'] as const;

export interface ModelInspection {
  dir: string;
  name: string;
  architecture: string;
  config: T5Config;
  rawConfig: Record<string, unknown>;
  format: WeightFormat;
  weightFiles: string[];
  /** F32, F16, BF16, or "mixed (F32, F16)". */
  dtype: string;
  paramCount: number;
  tensorCount: number;
  /** Every file in the folder (not recursive), with its size. */
  files: { name: string; bytes: number }[];
  diskBytes: number;
  tokenizer: { spieceModel: boolean; tokenizerJson: boolean };
  /** Things a person may want to know that do not stop the import (unexpected tensors...). */
  warnings: string[];
}

export async function readConfig(dir: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(join(dir, 'config.json'), 'utf8');
  } catch {
    throw new AppError('not_found', `${dir}: no config.json (is this a Hugging Face model folder?)`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new AppError('corrupt_file', `config.json: not valid JSON (${(e as Error).message})`);
  }
}

/** Checks the weights against the config; throws corrupt_file naming the tensor and file. */
export function validateT5Weights(config: T5Config, weights: WeightSource): { warnings: string[]; dtype: string; paramCount: number } {
  const seen = new Set<string>();
  const dtypes = new Set<string>();
  let paramCount = 0;
  const check = (name: string, shape: number[], required: boolean) => {
    const t = weights.tensors.get(name);
    if (!t) {
      if (required) {
        throw new AppError('corrupt_file', `tensor ${name} is missing from ${weights.files.join(', ')} (config.json needs it)`);
      }
      return;
    }
    seen.add(name);
    if (!(FLOAT_DTYPES as readonly string[]).includes(t.dtype)) {
      throw new AppError('corrupt_file', `tensor ${name} in ${t.file} has dtype ${t.dtype}; expected F32, F16 or BF16`);
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new AppError(
        'corrupt_file',
        `tensor ${name} in ${t.file} has shape [${t.shape.join(', ')}], but config.json implies [${shape.join(', ')}]`,
      );
    }
    dtypes.add(t.dtype);
    if (required) paramCount += numelOf(shape);
  };
  for (const e of expectedT5Tensors(config)) check(e.name, e.shape, true);
  for (const e of optionalT5Tensors(config)) check(e.name, e.shape, false);
  const warnings: string[] = [];
  const unexpected = [...weights.tensors.keys()].filter((n) => !seen.has(n));
  if (unexpected.length) {
    warnings.push(
      `${unexpected.length} tensor(s) the model does not use are ignored: ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ', …' : ''}`,
    );
  }
  const dtype = dtypes.size === 1 ? [...dtypes][0] : `mixed (${[...dtypes].sort().join(', ')})`;
  return { warnings, dtype, paramCount };
}

export async function listFolder(dir: string): Promise<{ name: string; bytes: number }[]> {
  const out: { name: string; bytes: number }[] = [];
  for (const ent of await readdir(dir, { withFileTypes: true })) {
    if (!ent.isFile()) continue;
    out.push({ name: ent.name, bytes: (await stat(join(dir, ent.name))).size });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** A folder's name for people: "t5-small", not "model" when the folder is <name>/model. */
function folderName(dir: string): string {
  const base = basename(dir);
  return ['model', 'weights', 'checkpoint', 'snapshot'].includes(base.toLowerCase()) ? basename(dirname(dir)) || base : base;
}

export async function inspectModelFolder(dir: string, options: { format?: WeightFormat } = {}): Promise<ModelInspection> {
  let st;
  try {
    st = await stat(dir);
  } catch {
    throw new AppError('not_found', `${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new AppError('invalid_payload', `${dir} is not a folder; choose the model's folder`);
  const rawConfig = await readConfig(dir);
  const config = parseT5Config(rawConfig);
  const format = options.format ?? detectWeightFormat(dir);
  const weights = await openWeights(dir, format);
  try {
    const { warnings, dtype, paramCount } = validateT5Weights(config, weights);
    const files = await listFolder(dir);
    const names = new Set(files.map((f) => f.name));
    const tokenizer = { spieceModel: names.has('spiece.model'), tokenizerJson: names.has('tokenizer.json') };
    if (!tokenizer.spieceModel && !tokenizer.tokenizerJson) warnings.push('no tokenizer (spiece.model or tokenizer.json) in the folder');
    const arch = Array.isArray(rawConfig.architectures) && typeof rawConfig.architectures[0] === 'string'
      ? rawConfig.architectures[0]
      : config.modelType === 'mt5' ? 'MT5ForConditionalGeneration' : 'T5ForConditionalGeneration';
    const nameOrPath = typeof rawConfig._name_or_path === 'string' && rawConfig._name_or_path && !rawConfig._name_or_path.startsWith('/')
      ? rawConfig._name_or_path
      : folderName(dir);
    return {
      dir,
      name: nameOrPath,
      architecture: arch,
      config,
      rawConfig,
      format: weights.format,
      weightFiles: weights.files,
      dtype,
      paramCount,
      tensorCount: weights.tensors.size,
      files,
      diskBytes: files.reduce((s, f) => s + f.bytes, 0),
      tokenizer,
      warnings,
    };
  } finally {
    await weights.close();
  }
}
