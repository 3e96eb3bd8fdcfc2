// AdamW, clipping and the schedules against an independent double-precision reference written
// from torch's documentation (torch.optim.AdamW, torch.nn.utils.clip_grad_norm_) and
// transformers' optimization.py, with hand-checked values for the first step.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSafetensors } from '../../common/formats/safetensors';
import { describe, expect, it } from 'vitest';
import { loadTrainEngine, type AdamWTestParam, type TrainEngine, type TrainEngineTestHooks } from '../../worker/trainer/engine-api';

const engine = loadTrainEngine() as TrainEngine & TrainEngineTestHooks;

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

interface RefParam {
  w: number[];
  m: number[];
  v: number[];
}

/** torch docs' AdamW (decoupled decay, bias correction, eps outside the sqrt), in double. */
function refStep(
  ps: RefParam[],
  grads: number[][],
  o: { lr: number; b1: number; b2: number; eps: number; wd: number; maxNorm: number; scale: number; step: number },
): number {
  const g = grads.map((gr) => gr.map((x) => x * o.scale));
  const norm = Math.sqrt(g.flat().reduce((s, x) => s + x * x, 0));
  const coef = o.maxNorm > 0 ? Math.min(1, o.maxNorm / (norm + 1e-6)) : 1;
  ps.forEach((p, k) => {
    for (let i = 0; i < p.w.length; i++) {
      const gi = g[k][i] * coef;
      p.w[i] -= o.lr * o.wd * p.w[i];
      p.m[i] = o.b1 * p.m[i] + (1 - o.b1) * gi;
      p.v[i] = o.b2 * p.v[i] + (1 - o.b2) * gi * gi;
      const mh = p.m[i] / (1 - o.b1 ** o.step);
      const vh = p.v[i] / (1 - o.b2 ** o.step);
      p.w[i] -= (o.lr * mh) / (Math.sqrt(vh) + o.eps);
    }
  });
  return norm;
}

function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

describe('AdamW (native, CPU)', () => {
  it('first step by hand: w - lr*wd*w - lr*g/(|g|+eps)', () => {
    const p: AdamWTestParam = {
      w: Float32Array.from([1, -2, 0.5]),
      g: Float32Array.from([0.5, -0.25, 0]),
      m: new Float32Array(3),
      v: new Float32Array(3),
    };
    const { gradNorm } = engine._adamwTest({ params: [p], lr: 0.1, weightDecay: 0.01, eps: 1e-8, maxGradNorm: 0, step: 1 });
    expect(gradNorm).toBeCloseTo(Math.sqrt(0.25 + 0.0625), 6);
    // m = 0.1 g, v = 0.001 g^2; m_hat = g, v_hat = g^2 -> update = lr * sign(g) (g != 0)
    expect(p.w[0]).toBeCloseTo(1 * (1 - 0.001) - 0.1 * (0.5 / (0.5 + 1e-8)), 6);
    expect(p.w[1]).toBeCloseTo(-2 * (1 - 0.001) + 0.1 * (0.25 / (0.25 + 1e-8)), 6);
    expect(p.w[2]).toBeCloseTo(0.5 * (1 - 0.001), 7);
    expect(p.m[0]).toBeCloseTo(0.05, 7);
    expect(p.v[0]).toBeCloseTo(0.00025, 9);
  });

  it('three steps with clipping, accumulation scale and two tensors match the reference', () => {
    const r = rng(7);
    const sizes = [37, 70000]; // the large one crosses the parallel threshold
    const params: AdamWTestParam[] = sizes.map((n) => ({
      w: Float32Array.from({ length: n }, () => r()),
      g: new Float32Array(n),
      m: new Float32Array(n),
      v: new Float32Array(n),
    }));
    const ref: RefParam[] = params.map((p) => ({ w: Array.from(p.w), m: Array.from(p.m), v: Array.from(p.v) }));
    const o = { lr: 3e-3, b1: 0.9, b2: 0.999, eps: 1e-8, wd: 0.05, maxNorm: 1.0, scale: 0.25 };
    for (let step = 1; step <= 3; step++) {
      const grads = sizes.map((n) => Array.from({ length: n }, () => r() * 0.1));
      params.forEach((p, k) => p.g.set(grads[k]));
      const { gradNorm } = engine._adamwTest({
        params,
        lr: o.lr,
        beta1: o.b1,
        beta2: o.b2,
        eps: o.eps,
        weightDecay: o.wd,
        maxGradNorm: o.maxNorm,
        gradScale: o.scale,
        step,
      });
      const refNorm = refStep(ref, grads, { ...o, step });
      expect(Math.abs(gradNorm - refNorm) / refNorm).toBeLessThan(1e-6);
      expect(refNorm).toBeGreaterThan(o.maxNorm); // clipping is exercised
    }
    params.forEach((p, k) => {
      expect(relErr(p.w, ref[k].w)).toBeLessThan(1e-6);
      expect(relErr(p.m, ref[k].m)).toBeLessThan(1e-5);
      expect(relErr(p.v, ref[k].v)).toBeLessThan(1e-5);
    });
  });

  it('does not clip below max norm and skips decay where decay=false', () => {
    const p: AdamWTestParam = { w: Float32Array.from([2]), g: Float32Array.from([0.3]), m: new Float32Array(1), v: new Float32Array(1), decay: false };
    const { gradNorm } = engine._adamwTest({ params: [p], lr: 0.01, weightDecay: 0.5, maxGradNorm: 1, step: 1 });
    expect(gradNorm).toBeCloseTo(0.3, 6);
    expect(p.m[0]).toBeCloseTo(0.03, 7); // unclipped gradient
    expect(p.w[0]).toBeCloseTo(2 - 0.01, 6); // no decay term
  });

  it('rejects bad arguments with an engine error code', () => {
    const p = { w: new Float32Array(2), g: new Float32Array(3), m: new Float32Array(2), v: new Float32Array(2) };
    expect(() => engine._adamwTest({ params: [p], lr: 1, step: 1 })).toThrow(/same length/);
    try {
      engine._adamwTest({ params: [], lr: 1, step: 0 });
    } catch (e) {
      expect((e as { code: string }).code).toBe('ENGINE_INVALID_ARG');
      expect((e as { where: string }).where).toMatch(/native\/src\/train\/adamw\.cpp:\d+/);
      return;
    }
    throw new Error('step 0 was accepted');
  });
});

describe('learning-rate schedules (transformers semantics)', () => {
  const lr = (schedule: 'linear' | 'constant' | 'constant_with_warmup' | 'cosine', step: number) =>
    engine.lrMultiplier({ schedule, step, warmupSteps: 10, totalSteps: 110 });
  it('linear: warm-up from 0, then linear decay to 0', () => {
    expect(lr('linear', 0)).toBe(0);
    expect(lr('linear', 5)).toBeCloseTo(0.5, 12);
    expect(lr('linear', 10)).toBe(1);
    expect(lr('linear', 60)).toBeCloseTo(0.5, 12);
    expect(lr('linear', 110)).toBe(0);
    expect(lr('linear', 200)).toBe(0);
  });
  it('constant and constant_with_warmup', () => {
    expect(lr('constant', 0)).toBe(1);
    expect(lr('constant_with_warmup', 3)).toBeCloseTo(0.3, 12);
    expect(lr('constant_with_warmup', 50)).toBe(1);
  });
  it('cosine: half at mid-decay, 0 at the end', () => {
    expect(lr('cosine', 10)).toBeCloseTo(1, 12);
    expect(lr('cosine', 60)).toBeCloseTo(0.5, 12);
    expect(lr('cosine', 35)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.25)), 12);
    expect(lr('cosine', 110)).toBeCloseTo(0, 12);
  });
  it('no warm-up: linear starts at 1', () => {
    expect(engine.lrMultiplier({ schedule: 'linear', step: 0, warmupSteps: 0, totalSteps: 4 })).toBe(1);
    expect(engine.lrMultiplier({ schedule: 'linear', step: 1, warmupSteps: 0, totalSteps: 4 })).toBe(0.75);
  });
  it('rejects an unknown schedule', () => {
    expect(() => engine.lrMultiplier({ schedule: 'bogus' as 'linear', step: 0, totalSteps: 1 })).toThrow(/unknown learning-rate schedule/);
  });
});

// Goldens from torch 2.11 / transformers 5.17 (tools/make_adamw_goldens.py, run on the GPU machine's CPU).

const GOLDENS = join(__dirname, '..', 'fixtures', 'train', 'adamw_goldens.safetensors');

describe.skipIf(!existsSync(GOLDENS))('AdamW, clipping and schedules against torch goldens', () => {
  let cache: { bytes: Uint8Array; h: ReturnType<typeof parseSafetensors> } | undefined;
  const get = (name: string): Float64Array => {
    if (!cache) {
      const b = new Uint8Array(readFileSync(GOLDENS));
      cache = { bytes: b, h: parseSafetensors(b, GOLDENS) };
    }
    const { bytes, h } = cache;
    const t = h.tensors.find((x) => x.name === name);
    if (!t) throw new Error(`golden ${name} missing`);
    const buf = bytes.slice(t.begin, t.end).buffer;
    return t.dtype === 'F64' ? new Float64Array(buf) : Float64Array.from(new Float32Array(buf));
  };
  const f32 = (name: string) => Float32Array.from(get(name));

  it('three AdamW updates with accumulation scale and clipping match torch to fp32 rounding', () => {
    const params = [0, 1].map((k) => {
      const w = f32(`w0.${k}`);
      return { w, g: new Float32Array(w.length), m: new Float32Array(w.length), v: new Float32Array(w.length) };
    });
    const norms = get('norm');
    for (let step = 0; step < 3; step++) {
      params.forEach((p, k) => p.g.set(f32(`g.${step}.${k}`)));
      const { gradNorm } = engine._adamwTest({
        params,
        lr: 3e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weightDecay: 0.05,
        maxGradNorm: 1.0,
        gradScale: 0.25,
        step: step + 1,
      });
      expect(Math.abs(gradNorm - norms[step]) / norms[step]).toBeLessThan(1e-6);
    }
    params.forEach((p, k) => {
      const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => Math.max(s, Math.abs(x - b[i])), 0);
      expect(maxDiff(p.w, f32(`w.${k}`))).toBeLessThan(2e-7);
      expect(relErr(p.m, f32(`m.${k}`))).toBeLessThan(1e-6);
      expect(relErr(p.v, f32(`v.${k}`))).toBeLessThan(1e-6);
    });
  });

  it('schedules match transformers for every step', () => {
    for (const schedule of ['linear', 'constant', 'constant_with_warmup', 'cosine'] as const) {
      const ref = get(`lr.${schedule}`);
      for (let step = 0; step < ref.length; step++) {
        expect(engine.lrMultiplier({ schedule, step, warmupSteps: 10, totalSteps: 110 })).toBeCloseTo(ref[step], 12);
      }
    }
  });
});
