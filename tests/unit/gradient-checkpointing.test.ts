// gradientCheckpointing ('auto' | 'on' | 'off'): the config field, its resolution against the
// GPU's free memory, and what the trainer passes to forwardBackward and records for the user.
import { describe, expect, it } from 'vitest';
import {
  CHECKPOINTING_HEADROOM_BYTES,
  configFromPreset,
  describeCheckpointing,
  estimateTrainingMemory,
  memoryEstimateInputFor,
  modelShapeFromConfig,
  plannedTrainingMemory,
  resolveGradientCheckpointing,
  resolveTrainingConfig,
  toMetricPoints,
  TrainingConfigSchema,
  type TrainerMetric,
} from '../../common/training';
import { decideCheckpointing } from '../../worker/trainer/checkpointing';
import { loadTrainEngine, type StepOptions, type T5Batch, type T5CudaMemory, type TrainEngine } from '../../worker/trainer/engine-api';
import { runTraining } from '../../worker/trainer/run-training';
import { fakeEngine, UnigramModel } from '../train/fake-engine';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const GiB = 1024 ** 3;
const flagshipConfig = {
  num_layers: 36, num_decoder_layers: 36, d_model: 768, d_kv: 64, num_heads: 12, d_ff: 3072,
  vocab_size: 32128, feed_forward_proj: 'relu', tie_word_embeddings: true,
};

describe('the gradientCheckpointing config field', () => {
  it('defaults to auto, so configs stored before the field existed still parse', () => {
    expect(TrainingConfigSchema.parse({}).gradientCheckpointing).toBe('auto');
    const stored = { ...TrainingConfigSchema.parse({}) } as Record<string, unknown>;
    delete stored.gradientCheckpointing;
    expect(TrainingConfigSchema.parse(stored).gradientCheckpointing).toBe('auto');
    expect(resolveTrainingConfig({ gradientCheckpointing: 'on' }).gradientCheckpointing).toBe('on');
    expect(TrainingConfigSchema.safeParse({ gradientCheckpointing: 'yes' }).success).toBe(false);
  });
  it('the memory-saver preset turns it on; the others leave auto', () => {
    expect(configFromPreset('memory-saver').gradientCheckpointing).toBe('on');
    expect(configFromPreset('flagship-qlora').gradientCheckpointing).toBe('auto');
    expect(configFromPreset('quick-cpu-smoke').gradientCheckpointing).toBe('auto');
  });
});

describe('resolveGradientCheckpointing', () => {
  const r = (setting: 'auto' | 'on' | 'off', device: 'cpu' | 'cuda', neededBytes: number | null, freeBytes: number | null) =>
    resolveGradientCheckpointing({ setting, device, neededBytes, freeBytes });
  it('on and off are obeyed on the GPU; the CPU never recomputes', () => {
    expect(r('on', 'cuda', 1, 100 * GiB)).toMatchObject({ recompute: true, reason: 'forced_on' });
    expect(r('off', 'cuda', 100 * GiB, 1)).toMatchObject({ recompute: false, reason: 'forced_off' });
    for (const s of ['auto', 'on', 'off'] as const) expect(r(s, 'cpu', 100 * GiB, 1)).toMatchObject({ recompute: false, reason: 'cpu' });
  });
  it('auto recomputes only when the run would not fit in the free memory (with headroom)', () => {
    expect(r('auto', 'cuda', 10 * GiB, 40 * GiB)).toMatchObject({ recompute: false, reason: 'fits', neededBytes: 10 * GiB, freeBytes: 40 * GiB });
    expect(r('auto', 'cuda', 50 * GiB, 40 * GiB)).toMatchObject({ recompute: true, reason: 'exceeds_free' });
    // the headroom counts: exactly free - headroom fits, one byte more does not
    const free = 20 * GiB;
    expect(r('auto', 'cuda', free - CHECKPOINTING_HEADROOM_BYTES, free).recompute).toBe(false);
    expect(r('auto', 'cuda', free - CHECKPOINTING_HEADROOM_BYTES + 1, free).recompute).toBe(true);
    expect(resolveGradientCheckpointing({ setting: 'auto', device: 'cuda', neededBytes: 10, freeBytes: 10, headroomBytes: 0 }).recompute).toBe(false);
  });
  it('auto without a free figure or an estimate does not recompute, and says why', () => {
    expect(r('auto', 'cuda', null, 40 * GiB)).toMatchObject({ recompute: false, reason: 'unknown' });
    expect(r('auto', 'cuda', 10 * GiB, null)).toMatchObject({ recompute: false, reason: 'unknown' });
    expect(r('auto', 'cuda', Number.NaN, 40 * GiB)).toMatchObject({ recompute: false, reason: 'unknown', neededBytes: null });
    expect(describeCheckpointing(r('auto', 'cuda', 10 * GiB, null))).toMatch(/off .*free GPU memory unknown/);
  });
  it('the log line names the choice and the figures', () => {
    expect(describeCheckpointing(r('auto', 'cuda', 50 * GiB, 40 * GiB))).toBe(
      'gradient checkpointing (activation recomputation): on (auto: would need about 50.0 GiB more without it, only 40.0 GiB free on the GPU)',
    );
    expect(describeCheckpointing(r('on', 'cpu', null, null))).toMatch(/: off \(the CPU path does not recompute; the setting "on" applies to the GPU only\)/);
    expect(describeCheckpointing(r('off', 'cuda', null, null))).toMatch(/: off \(set to "off"\)/);
  });
});

describe('plannedTrainingMemory (the run form\'s figure)', () => {
  const shape = modelShapeFromConfig(flagshipConfig)!;
  const cfg = (over: Parameters<typeof resolveTrainingConfig>[0]) =>
    resolveTrainingConfig({ device: 'cuda', quantization: 'nf4', compute: 'bf16', batchSize: 16, maxSourceLength: 512, maxTargetLength: 512, ...over });
  it('on shows the estimate with recomputation, off without; recomputation needs less memory', () => {
    const on = plannedTrainingMemory(cfg({ gradientCheckpointing: 'on' }), shape, null);
    const off = plannedTrainingMemory(cfg({ gradientCheckpointing: 'off' }), shape, null);
    expect(on.shown).toEqual(on.withRecompute);
    expect(off.shown).toEqual(off.without);
    expect(on.withRecompute.totalBytes).toBeLessThan(on.without.totalBytes);
    expect(on.withRecompute.weightsBytes).toBe(on.without.weightsBytes);
  });
  it('auto picks the one that fits the GPU, and without a GPU figure stays without', () => {
    const probe = plannedTrainingMemory(cfg({}), shape, null);
    expect(probe.decision.reason).toBe('unknown');
    expect(probe.shown).toEqual(probe.without);
    const big = plannedTrainingMemory(cfg({}), shape, probe.without.totalBytes + 2 * GiB);
    expect(big.decision.recompute).toBe(false);
    expect(big.shown.totalBytes).toBe(probe.without.totalBytes);
    const small = plannedTrainingMemory(cfg({}), shape, probe.without.totalBytes / 2);
    expect(small.decision).toMatchObject({ recompute: true, reason: 'exceeds_free' });
    expect(small.shown.totalBytes).toBe(probe.withRecompute.totalBytes);
  });
  it('the CPU has one figure whatever the setting', () => {
    const c = plannedTrainingMemory(resolveTrainingConfig({ device: 'cpu', gradientCheckpointing: 'on', batchSize: 4 }), shape, 1);
    expect(c.decision.recompute).toBe(false);
    expect(c.withRecompute).toBe(c.without);
  });
});

describe('decideCheckpointing (the worker, against the engine counters)', () => {
  const shape = modelShapeFromConfig(flagshipConfig)!;
  const config = (over: Partial<ReturnType<typeof resolveTrainingConfig>> = {}) =>
    resolveTrainingConfig({ device: 'cuda', quantization: 'nf4', compute: 'bf16', batchSize: 16, maxSourceLength: 512, maxTargetLength: 512, ...over });
  const engineWith = (mem: Partial<T5CudaMemory> | null) => ({
    t5CudaMemory: () => {
      if (!mem) throw Object.assign(new Error('not on cuda'), { code: 'ENGINE_INVALID_ARG' });
      return { weights: 0, lora: 0, arena: 0, arenaPlan: 0, ...mem };
    },
  });
  const model = { config: flagshipConfig } as unknown as UnigramModel;
  const full = estimateTrainingMemory(memoryEstimateInputFor(config(), shape, false)).totalBytes;

  it('subtracts what the model already holds from the estimate and compares with the free memory', () => {
    const held = { weights: 1 * GiB, lora: 0.125 * GiB, arena: 0 };
    // free memory set around the estimate, so the test follows the estimator as it changes
    const roomy = decideCheckpointing(config(), model, engineWith({ ...held, deviceTotal: full + 12 * GiB, deviceUsed: 2 * GiB }));
    expect(roomy).toMatchObject({ recompute: false, reason: 'fits', freeBytes: full + 10 * GiB });
    expect(roomy.neededBytes).toBeCloseTo(full - 1.125 * GiB, -3);
    // what the model holds is not needed again: free = the rest of the estimate + headroom fits
    const exact = decideCheckpointing(config(), model, engineWith({ ...held, deviceTotal: full - 1.125 * GiB + GiB + 2 * GiB, deviceUsed: 2 * GiB }));
    expect(exact).toMatchObject({ recompute: false, reason: 'fits' });
    const tight = decideCheckpointing(config(), model, engineWith({ ...held, deviceTotal: full / 2 + 2 * GiB, deviceUsed: 2 * GiB }));
    expect(tight).toMatchObject({ recompute: true, reason: 'exceeds_free', freeBytes: full / 2 });
  });
  it('on/off and the CPU need no measurement; a missing counter leaves auto off', () => {
    expect(decideCheckpointing(config({ gradientCheckpointing: 'on' }), model, engineWith(null))).toMatchObject({ recompute: true });
    expect(decideCheckpointing(resolveTrainingConfig({ device: 'cpu', gradientCheckpointing: 'on' }), model, engineWith(null))).toMatchObject({ recompute: false, reason: 'cpu' });
    expect(decideCheckpointing(config(), model, engineWith(null))).toMatchObject({ recompute: false, reason: 'unknown' });
    expect(decideCheckpointing(config(), model, {})).toMatchObject({ recompute: false, reason: 'unknown' });
    expect(decideCheckpointing(config(), { config: {} } as unknown as UnigramModel, engineWith({ deviceTotal: GiB, deviceUsed: 0 }))).toMatchObject({ recompute: false, reason: 'unknown', neededBytes: null });
  });
});

describe('the trainer passes the resolved choice to forwardBackward and records it', () => {
  const real = loadTrainEngine();
  const root = mkdtempSync(join(tmpdir(), 'hukuk-ckpt-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  class RecordingModel extends UnigramModel {
    config = flagshipConfig;
    options: { recompute?: boolean }[] = [];
    override forwardBackward(b: T5Batch & StepOptions) {
      this.options.push({ recompute: b.recompute });
      return super.forwardBackward(b);
    }
  }
  const rows = Array.from({ length: 24 }, (_, i) => ({ inputIds: [2 + (i % 7), 3, 1], labels: [4 + (i % 5), 1] }));
  async function train(name: string, over: Parameters<typeof resolveTrainingConfig>[0], freeGiB: number) {
    const model = new RecordingModel(16);
    const engine: TrainEngine = { ...fakeEngine(real, model), t5CudaMemory: () => ({ weights: 0, lora: 0, arena: 0, arenaPlan: 0, deviceTotal: freeGiB * GiB, deviceUsed: 0 }) };
    const logs: string[] = [];
    const metrics: TrainerMetric[] = [];
    const result = await runTraining(
      resolveTrainingConfig({ batchSize: 8, maxSteps: 4, evalEvery: 0, checkpointEvery: 0, learningRate: 0.05, ...over }),
      { train: rows, validation: [] },
      { modelDir: 'unused', outputDir: join(root, name), engine, model, metricsFlushMs: 0, onLog: (l) => logs.push(l), onMetrics: (b) => metrics.push(...b) },
    );
    return { model, logs, metrics, result };
  }
  it('auto on a GPU too small for the run: recompute true on every step, logged, one metric point, in the result', async () => {
    const { model, logs, metrics, result } = await train('tight', { device: 'cuda', batchSize: 16, maxSourceLength: 512, maxTargetLength: 512 }, 3);
    expect(model.options).toHaveLength(4);
    expect(model.options.every((o) => o.recompute === true)).toBe(true);
    expect(logs.some((l) => /gradient checkpointing \(activation recomputation\): on \(auto: would need/.test(l))).toBe(true);
    const points = toMetricPoints(metrics).filter((p) => p.name === 'recompute');
    expect(points).toEqual([{ step: 1, split: 'train', name: 'recompute', value: 1 }]);
    expect(result.gradientCheckpointing).toMatchObject({ setting: 'auto', recompute: true, reason: 'exceeds_free' });
  });
  it('auto with room, and the CPU even when set on: recompute false', async () => {
    const roomy = await train('roomy', { device: 'cuda' }, 141);
    expect(roomy.model.options.every((o) => o.recompute === false)).toBe(true);
    expect(toMetricPoints(roomy.metrics).filter((p) => p.name === 'recompute').map((p) => p.value)).toEqual([0]);
    const cpu = await train('cpu', { device: 'cpu', gradientCheckpointing: 'on' }, 1);
    expect(cpu.model.options.every((o) => o.recompute === false)).toBe(true);
    expect(cpu.result.gradientCheckpointing.reason).toBe('cpu');
  });
});
