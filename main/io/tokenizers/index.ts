// Loads a T5 tokenizer from disk: a model folder, a spiece.model or a tokenizer.json.
// In a folder tokenizer.json wins when present (transformers prefers it too), else
// spiece.model with tokenizer_config.json's extra_ids (default 100).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { T5Tokenizer, t5TokenizerFromSpiece, t5TokenizerFromTokenizerJson } from '../../../common/tokenizer';
import { AppError } from '../../../common/contract/errors';

export interface LoadedTokenizer {
  tokenizer: T5Tokenizer;
  /** The file that was read. */
  file: string;
  kind: 'spiece.model' | 'tokenizer.json';
  /** sha256 of that file (part of the tokenized-cache key). */
  hash: string;
}

function readExtraIds(folder: string): number {
  const cfg = path.join(folder, 'tokenizer_config.json');
  if (!existsSync(cfg)) return 100;
  try {
    const j = JSON.parse(readFileSync(cfg, 'utf8')) as { extra_ids?: unknown };
    return typeof j.extra_ids === 'number' && j.extra_ids >= 0 ? j.extra_ids : 100;
  } catch {
    return 100;
  }
}

/** Resolves which file of `p` (folder or file) holds the tokenizer. */
export function resolveTokenizerFile(p: string): { file: string; kind: LoadedTokenizer['kind'] } {
  if (!existsSync(p)) throw new AppError('not_found', `Tokenizer path ${p} does not exist.`);
  if (statSync(p).isDirectory()) {
    const json = path.join(p, 'tokenizer.json');
    if (existsSync(json)) return { file: json, kind: 'tokenizer.json' };
    const spm = path.join(p, 'spiece.model');
    if (existsSync(spm)) return { file: spm, kind: 'spiece.model' };
    throw new AppError('not_found', `No tokenizer.json or spiece.model in ${p}.`);
  }
  return { file: p, kind: p.endsWith('.json') ? 'tokenizer.json' : 'spiece.model' };
}

export function loadTokenizer(p: string): LoadedTokenizer {
  const { file, kind } = resolveTokenizerFile(p);
  const bytes = readFileSync(file);
  const hash = createHash('sha256').update(bytes).digest('hex');
  try {
    const tokenizer =
      kind === 'tokenizer.json'
        ? t5TokenizerFromTokenizerJson(JSON.parse(bytes.toString('utf8')))
        : t5TokenizerFromSpiece(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
            extraIds: readExtraIds(path.dirname(file)),
          });
    return { tokenizer, file, kind, hash };
  } catch (e) {
    if (e instanceof AppError) throw e;
    const msg = (e as Error).message;
    throw new AppError(msg.startsWith('not supported') ? 'unsupported' : 'corrupt_file', `Cannot read tokenizer ${file}: ${msg}`);
  }
}
