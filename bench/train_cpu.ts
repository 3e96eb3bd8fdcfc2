// CPU training speed of the trainer (the whole loop: batching, forward+backward, AdamW) on a
// tiny random T5 with the real Soru/Cevap rows. Run:  npx vite-node bench/train_cpu.ts [updates]
// Prints one JSON line; bench/RESULTS.md records the figures under "CPU".
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveTrainingConfig } from '../common/training';
import { realExamples } from '../tests/train/real-data';
import { makeTinyT5 } from '../tests/train/tiny-t5';
import { runTraining } from '../worker/trainer/run-training';

const updates = Number(process.argv[2] ?? 60);
const { examples: ex, vocabSize } = realExamples();
const dir = mkdtempSync(join(tmpdir(), 'hukuk-bench-train-'));
const shape = { vocabSize, dModel: 64, dKv: 16, numHeads: 4, dFf: 128, numLayers: 2, numDecoderLayers: 2 };
makeTinyT5(join(dir, 'model'), shape, 7);
const config = resolveTrainingConfig({
  device: 'cpu',
  loraR: 8,
  loraAlpha: 16,
  loraDropout: 0.05,
  targetModules: ['q', 'k', 'v', 'o'],
  learningRate: 1e-3,
  batchSize: 16,
  maxSourceLength: 64,
  maxTargetLength: 128,
  maxSteps: updates,
  evalEvery: 0,
  checkpointEvery: 0,
});
const stepMs: number[] = [];
const r = await runTraining(config, { train: ex, validation: [] }, {
  modelDir: join(dir, 'model'),
  outputDir: join(dir, 'run'),
  metricsFlushMs: 0,
  onMetrics: (b) => b.forEach((m) => m.kind === 'train' && stepMs.push(m.stepMs)),
});
rmSync(dir, { recursive: true, force: true });
const sorted = [...stepMs].sort((a, b) => a - b);
console.log(
  JSON.stringify({
    bench: 'train_cpu_tiny_t5',
    date: new Date().toISOString(),
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    shape,
    batchSize: config.batchSize,
    maxLengths: [config.maxSourceLength, config.maxTargetLength],
    lora: { r: config.loraR, targets: config.targetModules },
    updates: r.steps,
    seconds: Number(r.trainSeconds.toFixed(2)),
    samplesPerSec: Number(r.samplesPerSec.toFixed(1)),
    tokensPerSec: Math.round(r.tokensPerSec),
    medianStepMs: Number(sorted[Math.floor(sorted.length / 2)].toFixed(1)),
  }),
);
