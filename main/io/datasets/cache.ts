// Writes and reads the tokenized cache (format: common/datasets/cache-format.ts) under
// <data>/datasets/<id>/cache/<dataset hash[:16]>-<tokenizer hash[:16]>-<template hash[:8]>.hktc
// Written to a temporary name and renamed, so a reader never sees half a file.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  decodeTokenizedCache,
  encodeTokenizedCache,
  type PromptTemplate,
  type SplitName,
  type TokenizedCache,
  type TokenizedSplit,
} from '../../../common/datasets';

export function cacheFileName(datasetHash: string, tokenizerHash: string, template: PromptTemplate): string {
  const t = createHash('sha256').update(`${template.input}\0${template.target}`).digest('hex');
  return `${datasetHash.slice(0, 16)}-${tokenizerHash.slice(0, 16)}-${t.slice(0, 8)}.hktc`;
}

export function writeTokenizedCache(
  dir: string,
  meta: { datasetHash: string; tokenizerHash: string; template: PromptTemplate; eosId: number; padId: number },
  tokenized: Partial<Record<SplitName, TokenizedSplit>>,
): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, cacheFileName(meta.datasetHash, meta.tokenizerHash, meta.template));
  const splits = (Object.entries(tokenized) as Array<[SplitName, TokenizedSplit]>).map(([name, t]) => ({
    name,
    inputIds: t.inputIds,
    targetIds: t.targetIds,
  }));
  const bytes = encodeTokenizedCache({ ...meta, template: { input: meta.template.input, target: meta.template.target }, createdAt: Date.now() }, splits);
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, file);
  } catch (e) {
    // Disk full (ENOSPC) or a vanished folder: leave no half-written temporary behind.
    rmSync(tmp, { force: true });
    throw e;
  }
  return file;
}

export function readTokenizedCache(file: string): TokenizedCache {
  const b = readFileSync(file);
  return decodeTokenizedCache(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
}

export function findTokenizedCache(dir: string, datasetHash: string, tokenizerHash: string, template: PromptTemplate): string | null {
  const f = path.join(dir, cacheFileName(datasetHash, tokenizerHash, template));
  return existsSync(f) ? f : null;
}
