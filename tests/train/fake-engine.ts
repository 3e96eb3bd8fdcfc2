// A stand-in for the T5 model with the same JS interface, for testing the training loop's
// mechanics (order, accumulation, checkpoints, resume, cancel) without the real network: a
// unigram language model (one logit per vocabulary id) trained with cross-entropy on the
// labels. The optimizer step is the REAL native AdamW (engine._adamwTest) on its buffers.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { OptimizerStateEntry, T5Batch, T5ModelHandle, TrainEngine, TrainEngineTestHooks } from '../../worker/trainer/engine-api';

export class UnigramModel implements T5ModelHandle {
  w: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
  calls: { batch: number; srcLen: number; tgtLen: number; dropoutSeed?: number }[] = [];
  constructor(readonly vocab: number) {
    this.w = new Float32Array(vocab);
    this.g = new Float32Array(vocab);
    this.m = new Float32Array(vocab);
    this.v = new Float32Array(vocab);
  }
  addLora(opts: { seed?: number }): void {
    // seeded init like LoRA's A (small, deterministic)
    let s = (opts.seed ?? 0) >>> 0;
    for (let i = 0; i < this.vocab; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      this.w[i] = (s / 2 ** 32 - 0.5) * 0.01;
    }
    this.m.fill(0);
    this.v.fill(0);
  }
  private lossAndGrad(b: T5Batch, wantGrad: boolean): { loss: number; tokens: number } {
    let max = -Infinity;
    for (const x of this.w) max = Math.max(max, x);
    let z = 0;
    for (const x of this.w) z += Math.exp(x - max);
    const logZ = max + Math.log(z);
    let loss = 0;
    let tokens = 0;
    const counts = new Float64Array(this.vocab);
    for (const id of b.labels) {
      if (id === -100) continue;
      loss += logZ - this.w[id];
      counts[id]++;
      tokens++;
    }
    if (wantGrad) {
      for (let i = 0; i < this.vocab; i++) this.g[i] += Math.exp(this.w[i] - logZ) - counts[i] / tokens;
    }
    return { loss: loss / tokens, tokens };
  }
  forward(b: T5Batch): { loss: number; tokens: number } {
    return this.lossAndGrad(b, false);
  }
  forwardBackward(b: T5Batch & { train: boolean; dropoutSeed?: number }): { loss: number; tokens: number } {
    this.calls.push({ batch: b.batch, srcLen: b.srcLen, tgtLen: b.tgtLen, dropoutSeed: b.dropoutSeed });
    return this.lossAndGrad(b, true);
  }
  zeroGrad(): void {
    this.g.fill(0);
  }
  saveAdapter(dir: string): void {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'adapter_config.json'), '{"peft_type":"LORA"}');
    writeFileSync(join(dir, 'adapter_model.bin'), Buffer.from(this.w.buffer.slice(0)));
  }
  loadAdapter(dir: string): void {
    const b = readFileSync(join(dir, 'adapter_model.bin'));
    this.w = new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  }
}

/** The real native optimizer and schedules, with the model calls pointed at UnigramModel. */
export function fakeEngine(real: TrainEngine, model: UnigramModel): TrainEngine {
  const hooks = real as TrainEngine & TrainEngineTestHooks; // tests load the addon with HUKUK_ENGINE_TEST_HOOKS=1
  return {
    ...real,
    lrMultiplier: real.lrMultiplier,
    optimizerStep: (_m, o) => hooks._adamwTest({ ...o, params: [{ w: model.w, g: model.g, m: model.m, v: model.v }] }),
    getOptimizerState: (): OptimizerStateEntry[] => [{ name: 'unigram.weight', expAvg: model.m.slice(), expAvgSq: model.v.slice() }],
    setOptimizerState: (_m, entries) => {
      model.m.set(entries[0].expAvg);
      model.v.set(entries[0].expAvgSq);
    },
    T5Model: { load: () => model },
  };
}
