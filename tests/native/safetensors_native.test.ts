// The engine's own safetensors reader (native/src/io/safetensors.cpp) on hostile headers: a
// shape whose element count wraps around 64 bits must be refused before any size is derived
// from it (numel * 4 of [2^62 + 1] wraps to 4, which would match 4-byte offsets).
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../native/index';

const require = createRequire(import.meta.url);
process.env.OMP_WAIT_POLICY ??= 'passive';
const { loadEngine } = require('../../native/index.cjs') as typeof import('../../native/index');
const engine: Engine = loadEngine();

const tmp = mkdtempSync(join(tmpdir(), 'hukuk-st-native-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A model folder whose model.safetensors has exactly this JSON header and `dataBytes` zero bytes. */
function modelWithHeader(name: string, header: string, dataBytes: number): string {
  const dir = join(tmp, name);
  const d = mkdtempSync(dir + '-');
  copyFileSync(resolve(__dirname, '../fixtures/t5/relu_tied/model/config.json'), join(d, 'config.json'));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(header)));
  writeFileSync(join(d, 'model.safetensors'), Buffer.concat([len, Buffer.from(header), Buffer.alloc(dataBytes)]));
  return d;
}

describe('native safetensors reader', () => {
  it('refuses a shape whose byte count wraps around 64 bits', () => {
    // JSON text on purpose: 4611686018427387905 (2^62 + 1) is not a JS safe integer.
    const dir = modelWithHeader('wrap', '{"w":{"dtype":"F32","shape":[4611686018427387905],"data_offsets":[0,4]}}', 4);
    expect(() => engine.T5Model.load({ modelDir: dir })).toThrow(/too large for any file/);
  });

  it('refuses two tensors that share bytes', () => {
    const dir = modelWithHeader('overlap', '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', 8);
    expect(() => engine.T5Model.load({ modelDir: dir })).toThrow(/tensor 'b' overlaps the bytes of tensor 'a'/);
  });

  it('still names a plain size mismatch', () => {
    const dir = modelWithHeader('mismatch', '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', 4);
    expect(() => engine.T5Model.load({ modelDir: dir })).toThrow(/holds 4 bytes but F32 \[2\] needs 8/);
  });
});
