// NF4 on the CPU, bit-exact against bitsandbytes 0.50.2's own output (../shared/fixtures/nf4),
// plus bitsandbytes' serialized layout (write, read back, and read the goldens as a saved model).
import { describe, expect, it } from 'vitest';
import type { EngineError, Nf4Quantized, RawTensor } from '../../native/index';
import {
  bits, engine, f32, firstDifference, goldenCases, goldensPath, randn, readSafetensors, u8,
} from './nf4_helpers';

const { tensors, metadata } = readSafetensors(goldensPath);
const cases = goldenCases(metadata);

describe('NF4 tables', () => {
  it('uses bitsandbytes\' NF4 code', () => {
    expect(firstDifference(bits(engine.nf4Code()), bits(f32(tensors.nf4_code)))).toBe(-1);
  });

  it('uses bitsandbytes\' signed dynamic map for double quantization', () => {
    const code2 = engine.nf4DynamicCode();
    for (const c of cases.filter((k) => k.doubleQuant)) {
      expect(firstDifference(bits(code2), bits(f32(tensors[`${c.name}.code2`])))).toBe(-1);
    }
    for (let i = 1; i < 256; i++) expect(code2[i]).toBeGreaterThan(code2[i - 1]);
  });
});

describe.each(cases)('NF4 golden $name ($shape, blocksize $blocksize, double quant $doubleQuant)', (c) => {
  const input = f32(tensors[`${c.name}.input`]);
  const q = engine.nf4Quantize(input, c.shape, { blocksize: c.blocksize, doubleQuant: c.doubleQuant });

  it('packs the same bytes', () => {
    expect(q.packed.length).toBe(tensors[`${c.name}.packed`].bytes.length);
    expect(firstDifference(q.packed, u8(tensors[`${c.name}.packed`]))).toBe(-1);
  });

  it('produces the same absmax state', () => {
    expect(q.nested).toBe(c.doubleQuant);
    if (!c.doubleQuant) {
      expect(firstDifference(bits(q.absmax!), bits(f32(tensors[`${c.name}.absmax`])))).toBe(-1);
      return;
    }
    expect(q.blocksize2).toBe(c.blocksize2);
    expect(Math.fround(q.offset!)).toBe(f32(tensors[`${c.name}.offset`])[0]);
    expect(firstDifference(q.absmaxQ!, u8(tensors[`${c.name}.absmax_q`]))).toBe(-1);
    expect(firstDifference(bits(q.absmax2!), bits(f32(tensors[`${c.name}.absmax2`])))).toBe(-1);
  });

  it('dequantizes to the same fp32 bits', () => {
    const out = engine.nf4Dequantize(q);
    expect(firstDifference(bits(out), bits(f32(tensors[`${c.name}.dequantized`])))).toBe(-1);
  });

  it('dequantizes bitsandbytes\' stored state (not only its own) to the same bits', () => {
    const stored: Nf4Quantized = c.doubleQuant
      ? {
        shape: c.shape, dtype: 'float32', blocksize: c.blocksize, packed: u8(tensors[`${c.name}.packed`]),
        quantMap: f32(tensors.nf4_code), nested: true, absmaxQ: u8(tensors[`${c.name}.absmax_q`]),
        offset: f32(tensors[`${c.name}.offset`])[0], blocksize2: c.blocksize2,
        absmax2: f32(tensors[`${c.name}.absmax2`]), code2: f32(tensors[`${c.name}.code2`]),
      }
      : {
        shape: c.shape, dtype: 'float32', blocksize: c.blocksize, packed: u8(tensors[`${c.name}.packed`]),
        quantMap: f32(tensors.nf4_code), nested: false, absmax: f32(tensors[`${c.name}.absmax`]),
      };
    const out = engine.nf4Dequantize(stored);
    expect(firstDifference(bits(out), bits(f32(tensors[`${c.name}.dequantized`])))).toBe(-1);
  });
});

// An independent JavaScript reading of bitsandbytes' rule (midpoint thresholds as fp32, '>' so
// ties go down, scale by the fp32 reciprocal of absmax, pad 0) for shapes the goldens lack.
function referenceNf4(x: Float32Array, blocksize: number): { packed: Uint8Array; absmax: Float32Array } {
  const table = Array.from(engine.nf4Code());
  const thresholds = table.slice(0, 15).map((v, i) => Math.fround((v + table[i + 1]) / 2));
  const nb = Math.ceil(x.length / blocksize);
  const absmax = new Float32Array(nb);
  const codes = new Uint8Array(x.length + 1);
  for (let b = 0; b < nb; b++) {
    const end = Math.min(x.length, (b + 1) * blocksize);
    let m = 0;
    for (let i = b * blocksize; i < end; i++) m = Math.max(m, Math.abs(x[i]));
    absmax[b] = m;
    const inv = Math.fround(1 / m);
    for (let i = b * blocksize; i < end + (end === x.length && x.length % 2 ? 1 : 0); i++) {
      const v = Math.fround((i < x.length ? x[i] : 0) * inv);
      codes[i] = thresholds.filter((t) => v > t).length;
    }
  }
  const packed = new Uint8Array(Math.ceil(x.length / 2));
  for (let i = 0; i < packed.length; i++) packed[i] = (codes[2 * i] << 4) | codes[2 * i + 1];
  return { packed, absmax };
}

describe('NF4 beyond the goldens', () => {
  it.each([
    [77, 64], [1, 64], [129, 32], [1000, 128], [4097, 4096], [3 * 256 + 5, 256],
  ])('matches the reference rule for %i values in blocks of %i (odd and partial blocks)', (n, bs) => {
    const x = randn(n, n * 31 + bs, 0.02);
    const q = engine.nf4Quantize(x, [n], { blocksize: bs, doubleQuant: false });
    const ref = referenceNf4(x, bs);
    expect(firstDifference(q.packed, ref.packed)).toBe(-1);
    expect(firstDifference(bits(q.absmax!), bits(ref.absmax))).toBe(-1);
  });

  it('quantizes bf16 and fp16 inputs like their fp32 values', () => {
    const x = randn(64 * 40 + 3, 7, 0.05);
    const asBf16 = new Uint16Array(x.length);
    const asF16 = new Uint16Array(x.length);
    const view = new DataView(new ArrayBuffer(4));
    for (let i = 0; i < x.length; i++) {
      view.setFloat32(0, x[i]);
      asBf16[i] = view.getUint32(0) >>> 16; // truncation: any bf16 value is a valid input
    }
    const bf16AsF32 = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) { view.setUint32(0, asBf16[i] << 16); bf16AsF32[i] = view.getFloat32(0); }
    // fp16 of small values: build from exact binary fractions so the expected fp32 is known
    const f16AsF32 = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) {
      const m = (i * 37) % 1024;
      const e = 10 + (i % 8); // exponent field 10..17 -> values around 2^-5..2^2
      const s = i % 3 === 0 ? 1 : 0;
      asF16[i] = (s << 15) | (e << 10) | m;
      f16AsF32[i] = (s ? -1 : 1) * 2 ** (e - 15) * (1 + m / 1024);
    }
    const qb = engine.nf4Quantize(asBf16, [x.length], { dtype: 'bfloat16' });
    const qbRef = engine.nf4Quantize(bf16AsF32, [x.length]);
    expect(firstDifference(qb.packed, qbRef.packed)).toBe(-1);
    expect(firstDifference(qb.absmaxQ!, qbRef.absmaxQ!)).toBe(-1);
    expect(qb.dtype).toBe('bfloat16');
    const qh = engine.nf4Quantize(asF16, [x.length], { dtype: 'float16' });
    const qhRef = engine.nf4Quantize(f16AsF32, [x.length]);
    expect(firstDifference(qh.packed, qhRef.packed)).toBe(-1);
    expect(firstDifference(bits(engine.nf4DecodeAbsmax(qh)), bits(engine.nf4DecodeAbsmax(qhRef)))).toBe(-1);
  });

  it('dequantization error stays within half an NF4 step of the block scale', () => {
    const x = randn(768 * 64, 3, 0.03);
    const q = engine.nf4Quantize(x, [768, 64]);
    const out = engine.nf4Dequantize(q);
    const absmax = engine.nf4DecodeAbsmax(q);
    for (let i = 0; i < x.length; i += 97) {
      // widest NF4 gap is 1 - 0.7229..., half of it 0.139; double quant adds < 1% of absmax
      expect(Math.abs(out[i] - x[i])).toBeLessThanOrEqual(0.15 * absmax[Math.floor(i / 64)] + 1e-6);
    }
  });

  it('reports bad arguments as engine errors with code and where', () => {
    let err: EngineError | undefined;
    try {
      engine.nf4Quantize(new Float32Array(64), [64], { blocksize: 48 });
    } catch (e) {
      err = e as EngineError;
    }
    expect(err?.code).toBe('ENGINE_INVALID_ARG');
    expect(err?.where).toMatch(/^native\/src\/nf4\/nf4\.cpp:\d+$/);
    expect(() => engine.nf4Quantize(new Float32Array(10), [11])).toThrow(/length/);
    expect(() => engine.nf4Quantize(new Uint16Array(4), [4])).toThrow(/dtype/);
  });

  it('refuses NF4 tensor objects whose sizes would crash or read out of bounds (blocksize 0, short quantMap)', () => {
    // Before these checks, blocksize 0 divided by zero in nblocks() (SIGFPE: the whole process died).
    const base = { shape: [4], dtype: 'float32', blocksize: 64, packed: new Uint8Array(2), absmax: new Float32Array(1) } as unknown as Nf4Quantized;
    expect(engine.nf4Dequantize(base)).toHaveLength(4);
    expect(() => engine.nf4Dequantize({ ...base, blocksize: 0 })).toThrow(/blocksize must be a power of two/);
    expect(() => engine.nf4Dequantize({ ...base, quantMap: new Float32Array(1) } as Nf4Quantized)).toThrow(/quantMap must hold 16/);
    expect(() => engine.nf4Dequantize({ ...base, shape: [-2, -2] })).toThrow(/non-negative/);
    const nested = { ...base, nested: true, absmaxQ: new Uint8Array(1), offset: 0, blocksize2: 0, absmax2: new Float32Array(1), code2: new Float32Array(256) };
    expect(() => engine.nf4Dequantize(nested as unknown as Nf4Quantized)).toThrow(/blocksize2 must be a power of two/);
  });
});

describe('bitsandbytes serialized layout', () => {
  const asBnb = (q: Nf4Quantized, prefix: string) => engine.nf4ToBnb(q, prefix);

  it('writes the tensors and JSON that QuantState.as_dict(packed=True) writes', () => {
    const x = randn(96 * 160, 11, 0.02);
    const q = engine.nf4Quantize(x, [96, 160]);
    const t = asBnb(q, 'encoder.block.0.layer.0.SelfAttention.q.');
    const p = 'encoder.block.0.layer.0.SelfAttention.q.weight';
    expect(Object.keys(t).sort()).toEqual([
      p, `${p}.absmax`, `${p}.nested_absmax`, `${p}.nested_quant_map`, `${p}.quant_map`, `${p}.quant_state.bitsandbytes__nf4`,
    ].sort());
    expect(t[p]).toMatchObject({ dtype: 'U8', shape: [7680, 1] });
    expect(t[`${p}.absmax`]).toMatchObject({ dtype: 'U8', shape: [240] });
    expect(t[`${p}.nested_absmax`]).toMatchObject({ dtype: 'F32', shape: [1] });
    expect(t[`${p}.nested_quant_map`]).toMatchObject({ dtype: 'F32', shape: [256] });
    expect(t[`${p}.quant_map`]).toMatchObject({ dtype: 'F32', shape: [16] });
    const json = Buffer.from(t[`${p}.quant_state.bitsandbytes__nf4`].data).toString('utf8');
    expect(json).toMatch(/^\{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": \[96, 160\], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": [-0-9.e]+\}$/);
    expect(Math.fround(JSON.parse(json).nested_offset)).toBe(Math.fround(q.offset!));
  });

  it.each([true, false])('round-trips through the layout (double quant %s)', (dq) => {
    const x = randn(77 * 13, 5, 0.1);
    const q = engine.nf4Quantize(x, [77, 13], { doubleQuant: dq });
    const back = engine.nf4FromBnb(asBnb(q, 'm.'), 'm.');
    expect(back.shape).toEqual([77, 13]);
    expect(back.nested).toBe(dq);
    expect(firstDifference(bits(engine.nf4Dequantize(back)), bits(engine.nf4Dequantize(q)))).toBe(-1);
  });

  it('loads the goldens as a model saved 4-bit by transformers would hold them', () => {
    const c = cases.find((k) => k.doubleQuant && k.shape[0] === 768)!;
    const p = 'decoder.block.3.layer.1.EncDecAttention.k.';
    const u8t = (bytes: Uint8Array, shape: number[]): RawTensor => ({ dtype: 'U8', shape, data: bytes });
    const f32t = (name: string, shape: number[]): RawTensor => ({ dtype: 'F32', shape, data: tensors[name].bytes });
    const offset = f32(tensors[`${c.name}.offset`])[0];
    const state = JSON.stringify({
      quant_type: 'nf4', blocksize: 64, dtype: 'float32', shape: c.shape,
      nested_blocksize: 256, nested_dtype: 'float32', nested_offset: offset,
    });
    const file: Record<string, RawTensor> = {
      [`${p}weight`]: u8t(tensors[`${c.name}.packed`].bytes, [tensors[`${c.name}.packed`].bytes.length, 1]),
      [`${p}weight.absmax`]: u8t(tensors[`${c.name}.absmax_q`].bytes, [tensors[`${c.name}.absmax_q`].bytes.length]),
      [`${p}weight.quant_map`]: f32t('nf4_code', [16]),
      [`${p}weight.nested_absmax`]: f32t(`${c.name}.absmax2`, tensors[`${c.name}.absmax2`].shape),
      [`${p}weight.nested_quant_map`]: f32t(`${c.name}.code2`, [256]),
      [`${p}weight.quant_state.bitsandbytes__nf4`]: u8t(new Uint8Array(Buffer.from(state)), [state.length]),
    };
    const q = engine.nf4FromBnb(file, p);
    expect(firstDifference(bits(engine.nf4Dequantize(q)), bits(f32(tensors[`${c.name}.dequantized`])))).toBe(-1);
    delete file[`${p}weight.nested_absmax`];
    expect(() => engine.nf4FromBnb(file, p)).toThrow(/nested_absmax.*missing/);
  });

  it('refuses quant_state numbers a cast would mangle (huge blocksize, negative or fractional dims)', () => {
    const q = engine.nf4Quantize(randn(256, 7), [4, 64]);
    const file = engine.nf4ToBnb(q, '') as Record<string, RawTensor>;
    const key = 'weight.quant_state.bitsandbytes__nf4';
    const good = JSON.parse(Buffer.from(file[key].data).toString('utf8')) as Record<string, unknown>;
    const withState = (patch: Record<string, unknown>) => {
      const text = JSON.stringify({ ...good, ...patch });
      return { ...file, [key]: { dtype: 'U8', shape: [text.length], data: new Uint8Array(Buffer.from(text)) } as RawTensor };
    };
    expect(engine.nf4FromBnb(withState({}), '').shape).toEqual([4, 64]);
    expect(() => engine.nf4FromBnb(withState({ blocksize: 1e300 }), '')).toThrow(/blocksize is not a power of two/);
    expect(() => engine.nf4FromBnb(withState({ shape: [-4, -64] }), '')).toThrow(/bad shape/);
    expect(() => engine.nf4FromBnb(withState({ shape: [4.5, 64] }), '')).toThrow(/bad shape/);
    expect(() => engine.nf4FromBnb(withState({ nested_blocksize: 3 }), '')).toThrow(/nested_blocksize is not a power of two/);
  });
});
