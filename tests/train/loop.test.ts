// The training loop's mechanics on a stand-in model (tests/train/fake-engine.ts) with the real
// native AdamW: determinism, exact resume from a checkpoint, cancellation, accumulation,
// atomic checkpoints and pruning, metrics batching.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveTrainingConfig, type TrainerMetric, type TrainingConfigInput } from '../../common/training';
import type { TokenizedExample } from '../../common/training/batching';
import { SeededRng } from '../../common/training/rng';
import { COMPLETE_MARKER, listCheckpoints } from '../../worker/trainer/checkpoint';
import { loadTrainEngine } from '../../worker/trainer/engine-api';
import { runTraining } from '../../worker/trainer/run-training';
import { fakeEngine, UnigramModel } from './fake-engine';

const real = loadTrainEngine();
const root = mkdtempSync(join(tmpdir(), 'hukuk-loop-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const VOCAB = 50;
function data(n: number, seed: number): TokenizedExample[] {
  const r = new SeededRng(seed);
  // a skewed token distribution so the unigram model has something to learn
  const tok = () => 2 + Math.floor(VOCAB * 0.96 * r.next() ** 3);
  // answer lengths follow question lengths loosely, as in the real Soru/Cevap data
  return Array.from({ length: n }, () => {
    const len = 2 + r.below(20);
    return { inputIds: [...Array.from({ length: len }, tok), 1], labels: [...Array.from({ length: len + r.below(6) }, tok), 1] };
  });
}
const train = data(200, 1);
const validation = data(20, 2);

async function go(name: string, cfg: TrainingConfigInput, extra: { resumeFrom?: string; signal?: AbortSignal; abortAfter?: number } = {}) {
  const model = new UnigramModel(VOCAB);
  const engine = fakeEngine(real, model);
  const metrics: TrainerMetric[] = [];
  const batches: number[] = [];
  const ac = new AbortController();
  const result = await runTraining(
    resolveTrainingConfig({ batchSize: 8, learningRate: 0.05, evalEvery: 5, checkpointEvery: 0, maxEvalSamples: 0, ...cfg }),
    { train, validation },
    {
      modelDir: 'unused',
      outputDir: join(root, name),
      engine,
      resumeFrom: extra.resumeFrom,
      signal: extra.signal ?? ac.signal,
      metricsFlushMs: 0,
      onMetrics: (b) => {
        batches.push(b.length);
        metrics.push(...b);
        const last = b[b.length - 1];
        if (extra.abortAfter && last.kind === 'train' && last.step >= extra.abortAfter) ac.abort();
      },
    },
  );
  const losses = metrics.filter((m) => m.kind === 'train').map((m) => (m.kind === 'train' ? m.loss : 0));
  return { result, metrics, losses, model, batches };
}

describe('training loop (stand-in model, real AdamW)', () => {
  it('learns, and the same seed gives identical losses', async () => {
    const a = await go('det-a', { maxSteps: 40 });
    const b = await go('det-b', { maxSteps: 40 });
    expect(a.result.status).toBe('completed');
    expect(a.losses).toHaveLength(40);
    expect(a.losses).toEqual(b.losses);
    const first = a.losses.slice(0, 5).reduce((s, x) => s + x, 0) / 5;
    const last = a.losses.slice(-5).reduce((s, x) => s + x, 0) / 5;
    expect(last).toBeLessThan(first - 0.3);
    const evals = a.metrics.filter((m) => m.kind === 'eval');
    expect(evals.map((e) => e.step)).toEqual([5, 10, 15, 20, 25, 30, 35, 40]);
    expect(existsSync(join(a.result.adapterDir!, 'adapter_config.json'))).toBe(true);
    const c = await go('det-c', { maxSteps: 40, seed: 7 });
    expect(c.losses).not.toEqual(a.losses);
  });

  it('resumes from a checkpoint exactly where it stood (mid-epoch and across epochs)', async () => {
    // 200 rows / 8 = 25 micro-batches per epoch; checkpoint at 10 and 30 (the latter in epoch 2)
    const full = await go('full', { maxSteps: 40, checkpointEvery: 10, keepCheckpoints: 0 });
    const cks = listCheckpoints(join(root, 'full', 'checkpoints'));
    expect(cks.map((c) => c.step)).toEqual([10, 20, 30]);
    for (const ck of cks) expect(existsSync(join(ck.dir, COMPLETE_MARKER))).toBe(true);
    expect(readdirSync(join(root, 'full', 'checkpoints')).some((n) => n.includes('.tmp-'))).toBe(false);
    const resumed = await go('resumed', { maxSteps: 40 }, { resumeFrom: cks[2].dir });
    expect(resumed.losses).toEqual(full.losses.slice(30));
    expect(Array.from(resumed.model.w)).toEqual(Array.from(full.model.w));
  });

  it('refuses to resume with a different batching or data', async () => {
    const ck = listCheckpoints(join(root, 'full', 'checkpoints'))[0].dir;
    await expect(go('resume-bad', { maxSteps: 40, batchSize: 4 }, { resumeFrom: ck })).rejects.toMatchObject({
      code: 'bad_checkpoint',
      message: expect.stringMatching(/different batchSize/),
    });
  });

  it('keeps only the newest checkpoints', async () => {
    await go('prune', { maxSteps: 35, checkpointEvery: 5, keepCheckpoints: 2 });
    expect(listCheckpoints(join(root, 'prune', 'checkpoints')).map((c) => c.step)).toEqual([25, 30]);
  });

  it('accumulates micro-batches into one update and covers every row once per epoch', async () => {
    const r = await go('accum', { numEpochs: 1, gradientAccumulationSteps: 4 });
    // 25 micro-batches -> ceil(25 / 4) = 7 updates; the last has 1 micro-batch
    expect(r.result.steps).toBe(7);
    expect(r.model.calls.length).toBe(25);
    expect(r.model.calls.reduce((s, c) => s + c.batch, 0)).toBe(200);
    // dropout seeds differ per micro-batch
    expect(new Set(r.model.calls.map((c) => c.dropoutSeed)).size).toBe(25);
  });

  it('groups by length: batches pad much less than a random order', async () => {
    const grouped = await go('grouped', { numEpochs: 1, groupByLength: true });
    const random = await go('random', { numEpochs: 1, groupByLength: false });
    const padded = (calls: { batch: number; srcLen: number; tgtLen: number }[]) =>
      calls.reduce((s, c) => s + c.batch * (c.srcLen + c.tgtLen), 0);
    expect(padded(grouped.model.calls)).toBeLessThan(padded(random.model.calls) * 0.85);
  });

  it('stops when cancelled, without writing a final adapter', async () => {
    const r = await go('cancel', { maxSteps: 100 }, { abortAfter: 7 });
    expect(r.result.status).toBe('cancelled');
    expect(r.result.steps).toBe(7);
    expect(r.result.adapterDir).toBeNull();
    expect(existsSync(join(root, 'cancel', 'adapter'))).toBe(false);
  });

  it('delivers metrics in batches when flushing is time-based', async () => {
    const model = new UnigramModel(VOCAB);
    const sizes: number[] = [];
    await runTraining(resolveTrainingConfig({ batchSize: 8, maxSteps: 30, evalEvery: 0 }), { train, validation }, {
      modelDir: 'unused',
      outputDir: join(root, 'flush'),
      engine: fakeEngine(real, model),
      metricsFlushMs: 60_000,
      onMetrics: (b) => sizes.push(b.length),
    });
    expect(sizes.reduce((s, x) => s + x, 0)).toBe(31); // 30 updates + the final eval
    expect(sizes.length).toBeLessThanOrEqual(2);
  });
});
