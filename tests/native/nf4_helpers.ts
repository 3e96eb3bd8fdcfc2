// Shared by the NF4 tests: the addon, the shared goldens, and a minimal safetensors reader.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Engine } from '../../native/index';

const require = createRequire(import.meta.url);
export const { loadEngine } = require('../../native/index.cjs') as typeof import('../../native/index');
export const engine: Engine = loadEngine();

export const repoRoot = path.resolve(__dirname, '../..');
/** ../shared beside the checkout; HUKUK_SHARED overrides it (the GPU machine carries a copy). */
export const sharedDir = process.env.HUKUK_SHARED ?? path.resolve(repoRoot, '../shared');
export const goldensPath = path.join(sharedDir, 'fixtures/nf4/nf4_goldens.safetensors');

export interface StTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** safetensors: u64 header length, JSON header {name: {dtype, shape, data_offsets}}, then data. */
export function readSafetensors(file: string): { tensors: Record<string, StTensor>; metadata: Record<string, string> } {
  const buf = readFileSync(file);
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, unknown>;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  delete header.__metadata__;
  const tensors: Record<string, StTensor> = {};
  for (const [name, v] of Object.entries(header)) {
    const { dtype, shape, data_offsets: [a, b] } = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    // copy so the typed-array views below are aligned
    tensors[name] = { dtype, shape, bytes: new Uint8Array(buf.subarray(8 + headerLen + a, 8 + headerLen + b)) };
  }
  return { tensors, metadata };
}

export const f32 = (t: StTensor): Float32Array => new Float32Array(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength / 4);
export const u8 = (t: StTensor): Uint8Array => t.bytes;

/** Bit patterns, so that -0 vs 0 and NaN payloads count as differences. */
export const bits = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

export function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return -2;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

export interface GoldenCase {
  name: string;
  shape: number[];
  blocksize: number;
  doubleQuant: boolean;
  blocksize2?: number;
}

export function goldenCases(metadata: Record<string, string>): GoldenCase[] {
  const cases = JSON.parse(metadata.cases) as Record<string, { shape: number[]; blocksize: number; double_quant: boolean; blocksize2?: number }>;
  return Object.entries(cases).map(([name, c]) => ({
    name, shape: c.shape, blocksize: c.blocksize, doubleQuant: c.double_quant, blocksize2: c.blocksize2,
  }));
}

/** A deterministic pseudo-random normal sample (xorshift + Box-Muller). */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return out;
}
