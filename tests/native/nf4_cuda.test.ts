// The CUDA twin of NF4 against the CPU reference, on a machine with a GPU (skipped elsewhere):
// quantization and dequantization bit-exact; the fused 4-bit GEMMs (forward x·Wᵀ, backward dy·W)
// against a float64 product of the same bf16 operands; the cuBLAS path where cuBLAS opens.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Nf4Quantized } from '../../native/index';
import {
  bits, engine, f32, firstDifference, goldenCases, goldensPath, randn, readSafetensors,
} from './nf4_helpers';

const gpu = engine.cudaCompiled() && engine.gpus().length > 0;
const cublas = gpu && engine.cublasInfo().available;

/** fp32 -> bf16 bits, round to nearest even (as __float2bfloat16_rn). */
function toBf16(x: Float32Array): Uint16Array {
  const u = new Uint32Array(x.buffer, x.byteOffset, x.length);
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = (u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16;
  return out;
}
function fromBf16(h: Uint16Array): Float32Array {
  const u = new Uint32Array(h.length);
  for (let i = 0; i < h.length; i++) u[i] = h[i] << 16;
  return new Float32Array(u.buffer);
}

/** float64 reference: forward y[M,N] = a[M,K]·Wᵀ, backward dx[M,K] = a[M,N]·W, W = bf16(dequantized). */
function reference(q: Nf4Quantized, a: Uint16Array, M: number, backward: boolean): Float64Array {
  const [N, K] = q.shape;
  const w = fromBf16(toBf16(engine.nf4Dequantize(q)));
  const af = fromBf16(a);
  const red = backward ? N : K;
  const outc = backward ? K : N;
  const out = new Float64Array(M * outc);
  for (let m = 0; m < M; m++) {
    for (let r = 0; r < red; r++) {
      const av = af[m * red + r];
      if (av === 0) continue;
      if (backward) for (let c = 0; c < outc; c++) out[m * outc + c] += av * w[r * K + c];
      else for (let c = 0; c < outc; c++) out[m * outc + c] += av * w[c * K + r];
    }
  }
  return out;
}

function relErr(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = out[i] - ref[i];
    if (Number.isNaN(d)) return Number.NaN;
    num += d * d;
    den += ref[i] * ref[i];
  }
  return Math.sqrt(num / den);
}

describe.skipIf(!gpu)('NF4 on the GPU', () => {
  const { tensors, metadata } = readSafetensors(goldensPath);

  it.each(goldenCases(metadata))('quantizes golden $name on the GPU bit-exactly like the CPU', (c) => {
    const input = f32(tensors[`${c.name}.input`]);
    const opts = { blocksize: c.blocksize, doubleQuant: c.doubleQuant };
    const g = engine.nf4CudaQuantize(input, c.shape, opts);
    const h = engine.nf4Quantize(input, c.shape, opts);
    expect(firstDifference(g.packed, h.packed)).toBe(-1);
    if (c.doubleQuant) {
      expect(g.offset).toBe(h.offset);
      expect(firstDifference(g.absmaxQ!, h.absmaxQ!)).toBe(-1);
      expect(firstDifference(bits(g.absmax2!), bits(h.absmax2!))).toBe(-1);
    } else {
      expect(firstDifference(bits(g.absmax!), bits(h.absmax!))).toBe(-1);
    }
    expect(firstDifference(bits(engine.nf4CudaDequantize(g)), bits(f32(tensors[`${c.name}.dequantized`])))).toBe(-1);
  });

  it.each([[2048, 768, 64], [333, 77, 64], [1, 5000, 128], [4096, 300, 4096]])(
    'quantizes fresh %ix%i data (blocksize %i) and bf16 input like the CPU', (r, cols, bs) => {
      const x = randn(r * cols, r + cols + bs, 0.04);
      const g = engine.nf4CudaQuantize(x, [r, cols], { blocksize: bs });
      const h = engine.nf4Quantize(x, [r, cols], { blocksize: bs });
      expect(firstDifference(g.packed, h.packed)).toBe(-1);
      expect(firstDifference(g.absmaxQ!, h.absmaxQ!)).toBe(-1);
      expect(g.offset).toBe(h.offset);
      const xb = toBf16(x);
      const gb = engine.nf4CudaQuantize(xb, [r, cols], { blocksize: bs, dtype: 'bfloat16' });
      const hb = engine.nf4Quantize(xb, [r, cols], { blocksize: bs, dtype: 'bfloat16' });
      expect(firstDifference(gb.packed, hb.packed)).toBe(-1);
      expect(firstDifference(bits(engine.nf4CudaDequantize(gb)), bits(engine.nf4Dequantize(hb)))).toBe(-1);
      // the bf16 dequantization (bf16 activations' weights) is the fp32 one rounded once, on the
      // 16-values-per-thread kernel (n % 16 == 0) and on the per-byte one (the rest)
      const d32 = engine.nf4CudaDequantize(g);
      const d16 = engine.nf4CudaDequantize(g, 'bfloat16');
      expect(d16.length).toBe(d32.length);
      expect(firstDifference(d16, toBf16(d32))).toBe(-1);
    });

  type Impl = 'auto' | 'tensor-core-64' | 'tensor-core-128' | 'tensor-core-128x1' | 'simt';
  const shapes: Array<[number, number, number, Impl]> = [
    [100, 768, 768, 'tensor-core-64'],   // M not a multiple of the row tile
    [130, 768, 768, 'tensor-core-128'],
    [64, 2048, 768, 'tensor-core-128'],
    [37, 768, 2048, 'tensor-core-64'],
    [200, 768, 2048, 'tensor-core-128'],
    [150, 2048, 768, 'tensor-core-128x1'],
    [300, 768, 768, 'auto'],
    [9, 96, 40, 'simt'],                 // K not a multiple of 64: the fallback kernel
    [33, 768, 768, 'simt'],
  ];
  describe.each(shapes)('GEMM M=%i, W=[%i, %i] (%s)', (M, N, K, impl) => {
    let q: Nf4Quantized;
    let x: Uint16Array;
    let dy: Uint16Array;
    beforeAll(() => {
      q = engine.nf4CudaQuantize(randn(N * K, N * 7 + K, 0.02), [N, K]);
      x = toBf16(randn(M * K, M + 1, 1));
      dy = toBf16(randn(M * N, M + 2, 0.01));
    });

    it('forward x·Wᵀ matches the float64 reference (fp32 out; poisoned output fully written)', () => {
      const poison = new Float32Array(M * N).fill(Number.NaN);
      const y = engine.nf4CudaMatmul(q, x, M, { impl: impl, c: poison, beta: 0 }) as Float32Array;
      expect(relErr(y, reference(q, x, M, false))).toBeLessThan(1e-5);
    });

    it('backward dy·W matches the float64 reference', () => {
      const dx = engine.nf4CudaMatmul(q, dy, M, { backward: true, impl: impl }) as Float32Array;
      expect(relErr(dx, reference(q, dy, M, true))).toBeLessThan(1e-5);
    });

    it('bf16 output and alpha/beta accumulation', () => {
      const prior = randn(M * N, 99, 1);
      const y = engine.nf4CudaMatmul(q, x, M, { impl: impl, alpha: 0.5, beta: 2, c: prior }) as Float32Array;
      const ref = reference(q, x, M, false).map((v, i) => 0.5 * v + 2 * prior[i]);
      expect(relErr(y, ref)).toBeLessThan(1e-5);
      const yb = fromBf16(engine.nf4CudaMatmul(q, x, M, { impl: impl, out: 'bfloat16' }) as Uint16Array);
      expect(relErr(yb, reference(q, x, M, false))).toBeLessThan(5e-3);
    });

    it.skipIf(!cublas)('linear_xwt / linear_dyw (dequantize to scratch + cuBLAS) give the fused results', () => {
      const fused = engine.nf4CudaMatmul(q, x, M, { impl }) as Float32Array;
      const linear = engine.nf4CudaMatmul(q, x, M, { impl: 'linear' }) as Float32Array;
      expect(relErr(linear, fused)).toBeLessThan(1e-5);
      const fusedB = engine.nf4CudaMatmul(q, dy, M, { backward: true, impl }) as Float32Array;
      const linearB = engine.nf4CudaMatmul(q, dy, M, { backward: true, impl: 'linear' }) as Float32Array;
      expect(relErr(linearB, fusedB)).toBeLessThan(1e-5);
    });

    it.skipIf(!cublas)('agrees with dequantize + cuBLAS', () => {
      const ours = engine.nf4CudaMatmul(q, x, M, { impl: impl }) as Float32Array;
      const theirs = engine.nf4CudaMatmul(q, x, M, { impl: 'cublas' }) as Float32Array;
      expect(relErr(ours, theirs)).toBeLessThan(1e-5);
      const oursB = engine.nf4CudaMatmul(q, dy, M, { backward: true, impl: impl }) as Float32Array;
      const theirsB = engine.nf4CudaMatmul(q, dy, M, { backward: true, impl: 'cublas' }) as Float32Array;
      expect(relErr(oursB, theirsB)).toBeLessThan(1e-5);
    });
  });
});

// nf4::cuda::dequantize_list_bf16 (T5Cuda's per-block prefetch, HUKUK_T5_DEQ_PREFETCH): up to 16
// weights of any shapes into their own destinations in one launch, bit for bit what
// dequantize_bf16 gives each. The binding puts weight i at the running offset rounded up to
// `align` elements of one device buffer (poisoned with 0xffff first, so a value not written shows).
type ListApi = { nf4CudaDequantizeList(qs: Nf4Quantized[], align?: number): Uint16Array[] };
describe.skipIf(!gpu)('NF4 dequantize list on the GPU (one launch for a block\'s weights)', () => {
  const list = (qs: Nf4Quantized[], align?: number) => (engine as unknown as ListApi).nf4CudaDequantizeList(qs, align);
  const each = (qs: Nf4Quantized[]) => qs.map((q) => engine.nf4CudaDequantize(q, 'bfloat16'));
  // a flagship-like decoder block at small width: q,k,v,o, cross q,k,v,o, wi (+ wo)
  type Shape = [rows: number, cols: number, blocksize: number, doubleQuant: boolean];
  const sq: Shape = [256, 256, 64, true];
  const block: Shape[] = [sq, sq, sq, [256, 128, 64, true], sq, sq, sq, sq, [512, 256, 64, true], [256, 512, 64, true]];
  const make = (shapes: Shape[], seed: number) =>
    shapes.map(([r, c, bs, dq], i) => engine.nf4CudaQuantize(randn(r * c, seed + 31 * i, 0.03), [r, c], { blocksize: bs, doubleQuant: dq }));

  it('a block of 10 weights (double-quantized absmax) in one call = dequantize_bf16 per weight, bit for bit', () => {
    const qs = make(block, 11);
    const got = list(qs);
    const want = each(qs);
    expect(got.length).toBe(qs.length);
    for (let i = 0; i < qs.length; i++) expect(firstDifference(got[i], want[i]), `weight ${i}`).toBe(-1);
  });

  it('16 weights, mixed blocksizes, plain and double-quantized absmax, sizes that end mid-CTA', () => {
    const shapes: Shape[] = Array.from({ length: 16 }, (_, i): Shape => [16 + 48 * i, 64 + 16 * (i % 5), [64, 128, 256, 4096][i % 4], i % 3 !== 0]);
    const qs = make(shapes, 5);
    const got = list(qs);
    const want = each(qs);
    for (let i = 0; i < qs.length; i++) expect(firstDifference(got[i], want[i]), `weight ${i} ${shapes[i]}`).toBe(-1);
  });

  it('weights the vectorized form cannot take (odd sizes, misaligned destinations) take their own launch, same bits', () => {
    const shapes: Shape[] = [[333, 77, 64, true], [64, 64, 64, true], [5, 3, 64, false], [48, 48, 64, true]];
    const qs = make(shapes, 7);
    for (const align of [1, 8]) {
      const got = list(qs, align);
      const want = each(qs);
      for (let i = 0; i < qs.length; i++) expect(firstDifference(got[i], want[i]), `weight ${i}, align ${align}`).toBe(-1);
    }
  });

  it('an empty list is a no-op; 17 weights are refused', () => {
    expect(list([])).toEqual([]);
    const qs = make(Array.from({ length: 17 }, (): Shape => [16, 16, 64, true]), 3);
    expect(() => list(qs)).toThrow();
  });
});

describe.skipIf(!gpu)('NF4 fp32 compute on the GPU (sm_75 path, parity at CPU tolerances)', () => {
  /** float64 reference with bitsandbytes' fp32 weight values (no bf16 rounding) and fp32 inputs */
  function referenceF32(q: Nf4Quantized, a: Float32Array, M: number, backward: boolean): Float64Array {
    const [N, K] = q.shape;
    const w = engine.nf4Dequantize(q);
    const red = backward ? N : K;
    const outc = backward ? K : N;
    const out = new Float64Array(M * outc);
    for (let m = 0; m < M; m++) {
      for (let r = 0; r < red; r++) {
        const av = a[m * red + r];
        if (backward) for (let c = 0; c < outc; c++) out[m * outc + c] += av * w[r * K + c];
        else for (let c = 0; c < outc; c++) out[m * outc + c] += av * w[c * K + r];
      }
    }
    return out;
  }
  it.each([[33, 768, 768, 'linear'], [33, 768, 768, 'simt'], [9, 96, 40, 'linear'], [70, 2048, 768, 'linear']] as const)(
    'M=%i W=[%i,%i] via %s matches the float64 reference to 1e-5, forward and backward', (M, N, K, impl) => {
      const q = engine.nf4Quantize(randn(N * K, N + K + 1, 0.02), [N, K]);
      const x = randn(M * K, M + 3, 1);
      const dy = randn(M * N, M + 4, 0.01);
      const y = engine.nf4CudaMatmul(q, x, M, { impl }) as Float32Array;
      expect(relErr(y, referenceF32(q, x, M, false))).toBeLessThan(1e-5);
      const dx = engine.nf4CudaMatmul(q, dy, M, { impl, backward: true }) as Float32Array;
      expect(relErr(dx, referenceF32(q, dy, M, true))).toBeLessThan(1e-5);
    });
});

describe.skipIf(!cublas)('cuBLAS opened at run time', () => {
  // float64 reference of C[b] = op(A[b]) · op(B[b]) for row-major operands
  function ref(a: Float32Array, b: Float32Array, M: number, N: number, K: number, aT: boolean, bT: boolean, batch: number) {
    const c = new Float64Array(batch * M * N);
    for (let t = 0; t < batch; t++) {
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let acc = 0;
          for (let k = 0; k < K; k++) {
            const av = aT ? a[t * M * K + k * M + m] : a[t * M * K + m * K + k];
            const bv = bT ? b[t * K * N + n * K + k] : b[t * K * N + k * N + n];
            acc += av * bv;
          }
          c[t * M * N + m * N + n] = acc;
        }
      }
    }
    return c;
  }
  it.each([[false, false, 1], [true, false, 1], [false, true, 1], [true, true, 3]])(
    'fp32 GEMM with aTransposed %s, bTransposed %s, batch %i is exact to fp32 rounding', (aT, bT, batch) => {
      const [M, N, K] = [37, 29, 70];
      const a = randn(batch * M * K, 5, 1);
      const b = randn(batch * K * N, 6, 1);
      const c = engine._cublasGemm({ a, b, M, N, K, aTransposed: aT, bTransposed: bT, batch });
      expect(relErr(c, ref(a, b, M, N, K, aT, bT, batch))).toBeLessThan(1e-6);
      const ab = toBf16(a);
      const bb = toBf16(b);
      const cb = engine._cublasGemm({ a: ab, b: bb, M, N, K, aTransposed: aT, bTransposed: bT, batch });
      expect(relErr(cb, ref(fromBf16(ab), fromBf16(bb), M, N, K, aT, bT, batch))).toBeLessThan(1e-5);
    });
});

describe.skipIf(gpu)('NF4 CUDA entry points without a GPU', () => {
  it('throw a typed error instead of crashing', () => {
    expect(() => engine.nf4CudaQuantize(new Float32Array(64), [64])).toThrow(
      expect.objectContaining({ code: expect.stringMatching(/^ENGINE_NO_(CUDA|GPU)$/) }),
    );
  });
});
