// The CUDA twin of AdamW + clipping (native/src/train/adamw.cu) against the CPU reference on
// the same inputs. Runs where a GPU is present (the GPU machine); skipped elsewhere.
import { describe, expect, it } from 'vitest';
import { loadTrainEngine, type AdamWTestParam, type TrainEngine, type TrainEngineTestHooks } from '../../worker/trainer/engine-api';

const engine = loadTrainEngine() as TrainEngine & TrainEngineTestHooks;
const gpus = (engine as unknown as { gpus?: () => unknown[] }).gpus?.() ?? [];

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

describe.skipIf(gpus.length === 0)('AdamW on the GPU matches the CPU reference', () => {
  it('three steps, two tensors (one large), clipping and accumulation scale', () => {
    const r = rng(3);
    const sizes = [37, 300_001];
    const mk = () => sizes.map((n) => ({ w: new Float32Array(n), g: new Float32Array(n), m: new Float32Array(n), v: new Float32Array(n) }));
    const cpu: AdamWTestParam[] = mk();
    const gpu: AdamWTestParam[] = mk();
    cpu.forEach((p, k) => {
      for (let i = 0; i < p.w.length; i++) p.w[i] = r();
      gpu[k].w.set(p.w);
    });
    for (let step = 1; step <= 3; step++) {
      cpu.forEach((p, k) => {
        for (let i = 0; i < p.g.length; i++) p.g[i] = r() * 0.05;
        gpu[k].g.set(p.g);
      });
      const o = { lr: 1e-3, weightDecay: 0.01, maxGradNorm: 1.0, gradScale: 0.5, step };
      const a = engine._adamwTest({ ...o, params: cpu });
      const b = engine._adamwTest({ ...o, params: gpu, device: 'cuda' } as Parameters<typeof engine._adamwTest>[0]);
      expect(Math.abs(a.gradNorm - b.gradNorm) / a.gradNorm).toBeLessThan(1e-6);
    }
    cpu.forEach((p, k) => {
      let maxRel = 0;
      for (let i = 0; i < p.w.length; i++) maxRel = Math.max(maxRel, Math.abs(p.w[i] - gpu[k].w[i]) / Math.max(1e-6, Math.abs(p.w[i])));
      expect(maxRel).toBeLessThan(1e-6);
      for (let i = 0; i < p.m.length; i += 997) expect(gpu[k].m[i]).toBeCloseTo(p.m[i], 9);
    });
  });
});
