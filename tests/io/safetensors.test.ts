import { describe, expect, it } from 'vitest';
import { AppError } from '../../common/contract/errors';
import { buildHeader, parseSafetensors, serializeSafetensors } from '../../common/formats/safetensors';

const f32 = (vals: number[]) => new Uint8Array(new Float32Array(vals).buffer);

function fileWithHeader(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function corruptMessage(bytes: Uint8Array): string {
  try {
    parseSafetensors(bytes, 'model.safetensors');
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('corrupt_file');
    return (e as AppError).message;
  }
  throw new Error('expected the file to be refused');
}

describe('safetensors', () => {
  it('round-trips tensors, metadata, and aligns the data area to 8 bytes', () => {
    const bytes = serializeSafetensors(
      [
        { name: 'a', dtype: 'F32', shape: [2, 2], data: f32([1, 2, 3, 4]) },
        { name: 'b.weight', dtype: 'F16', shape: [3], data: new Uint8Array([1, 2, 3, 4, 5, 6]) },
      ],
      { format: 'pt' },
    );
    const h = parseSafetensors(bytes);
    expect(h.dataStart % 8).toBe(0);
    expect(h.metadata).toEqual({ format: 'pt' });
    expect(h.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual([
      ['a', 'F32', [2, 2]],
      ['b.weight', 'F16', [3]],
    ]);
    const a = h.tensors[0];
    expect(new Float32Array(bytes.slice(a.begin, a.end).buffer)).toEqual(new Float32Array([1, 2, 3, 4]));
    const b = h.tensors[1];
    expect([...bytes.subarray(b.begin, b.end)]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('writes headers the way the reference reader expects (lengths, offsets)', () => {
    const { bytes, dataBytes, offsets } = buildHeader([
      { name: 'x', dtype: 'BF16', shape: [5] },
      { name: 'y', dtype: 'F32', shape: [0] },
    ]);
    expect(dataBytes).toBe(10);
    expect(offsets).toEqual([
      [0, 10],
      [10, 10],
    ]);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(n).toBe(bytes.length - 8);
    expect(JSON.parse(new TextDecoder().decode(bytes.subarray(8))).x.data_offsets).toEqual([0, 10]);
  });

  it('refuses a header length past the end of the file', () => {
    const good = serializeSafetensors([{ name: 'a', dtype: 'F32', shape: [1], data: f32([1]) }]);
    const bad = good.slice();
    new DataView(bad.buffer).setBigUint64(0, BigInt(good.length), true);
    expect(corruptMessage(bad)).toMatch(/header length .* past the end/);
    new DataView(bad.buffer).setBigUint64(0, 1n << 60n, true);
    expect(corruptMessage(bad)).toMatch(/implausible/);
    expect(corruptMessage(new Uint8Array(5))).toMatch(/too short/);
  });

  it('refuses a header that is not JSON', () => {
    const out = new Uint8Array(8 + 6);
    new DataView(out.buffer).setBigUint64(0, 6n, true);
    out.set(new TextEncoder().encode('{"a":['), 8);
    expect(corruptMessage(out)).toMatch(/not valid JSON/);
  });

  it('refuses a truncated file, naming the tensor', () => {
    const good = serializeSafetensors([
      { name: 'first', dtype: 'F32', shape: [2], data: f32([1, 2]) },
      { name: 'last.weight', dtype: 'F32', shape: [4], data: f32([1, 2, 3, 4]) },
    ]);
    expect(corruptMessage(good.subarray(0, good.length - 3))).toMatch(/tensor last\.weight: .*past the end.*truncated/);
  });

  it('refuses overlapping offsets, holes, trailing bytes and wrong byte counts', () => {
    const overlap = fileWithHeader(
      { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
      12,
    );
    expect(corruptMessage(overlap)).toMatch(/tensor b: bytes overlap/);
    const hole = fileWithHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8);
    expect(corruptMessage(hole)).toMatch(/tensor a: 4 unindexed bytes/);
    const trailing = fileWithHeader({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 9);
    expect(corruptMessage(trailing)).toMatch(/5 bytes after the last tensor/);
    const wrongCount = fileWithHeader({ w: { dtype: 'F16', shape: [3, 2], data_offsets: [0, 24] } }, 24);
    expect(corruptMessage(wrongCount)).toMatch(/tensor w: 24 bytes for F16\[3,2\], which needs 12 bytes/);
    const badDtype = fileWithHeader({ w: { dtype: 'F17', shape: [1], data_offsets: [0, 4] } }, 4);
    expect(corruptMessage(badDtype)).toMatch(/tensor w: unknown dtype/);
    const badShape = fileWithHeader({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4);
    expect(corruptMessage(badShape)).toMatch(/tensor w: shape/);
  });
});
