// The training loop: tokenized rows in, a LoRA adapter out. Runs in the engine worker (the
// supervisor calls it through the worker protocol) or in-process (`hukuk train`). The engine
// calls are synchronous; the loop yields to the event loop after every update so that a cancel
// (AbortSignal) and other messages get through.
//
//   per update:  zeroGrad -> for each micro-batch: forwardBackward (adds d mean-loss) ->
//                optimizerStep(gradScale 1/micro-batches, clip, AdamW at the scheduled lr)
//
// Determinism: the epoch order depends only on (seed, epoch), the dropout masks only on
// (seed, update, micro-batch), LoRA's initialisation only on the seed; so on the CPU the same
// seed gives the same losses, and a resumed run continues exactly where the checkpoint stood.
import { join } from 'node:path';
import { chunk, collate, epochOrder, exampleLength, prepareExamples, type TokenizedExample } from '../../common/training/batching';
import { plannedSteps, warmupUpdates, type TrainingConfig } from '../../common/training/config';
import type { EvalMetric, TrainerMetric, TrainMetric } from '../../common/training/metrics';
import { deriveSeed } from '../../common/training/rng';
import { pruneCheckpoints, readCheckpoint, writeCheckpoint, writeDirAtomically, type TrainerState } from './checkpoint';
import { loadTrainEngine, type T5ModelHandle, type TrainEngine } from './engine-api';
import { decideCheckpointing } from './checkpointing';
import { describeCheckpointing, type CheckpointingDecision } from '../../common/training/gradient-checkpointing';

export interface TrainingData {
  train: readonly TokenizedExample[];
  /** may be empty: then no evaluation loss is reported */
  validation: readonly TokenizedExample[];
}

export interface RunTrainingOptions {
  /** the base model folder (config.json + model.safetensors) */
  modelDir: string;
  /** the run folder: checkpoints/ and adapter/ are written here */
  outputDir: string;
  /** continue from <output>/checkpoints/step-N (a folder with a COMPLETE marker) */
  resumeFrom?: string;
  /** the base model's name for adapter_config.json (base_model_name_or_path) */
  baseModelName?: string;
  /** receives metrics in small batches (at most every metricsFlushMs, and at evals/checkpoints/end) */
  onMetrics?: (batch: TrainerMetric[]) => void;
  onCheckpoint?: (info: { step: number; dir: string }) => void;
  /** human-readable progress lines (loading, evaluation, saving) */
  onLog?: (line: string) => void;
  signal?: AbortSignal;
  metricsFlushMs?: number;
  /** injected engine / an already loaded base model (the worker keeps one warm); tests use these */
  engine?: TrainEngine;
  model?: T5ModelHandle;
}

export interface TrainingResult {
  status: 'completed' | 'cancelled';
  steps: number;
  totalUpdates: number;
  /** <output>/adapter when completed; null when cancelled (see lastCheckpoint) */
  adapterDir: string | null;
  lastCheckpoint: string | null;
  finalLoss: number | null;
  finalEvalLoss: number | null;
  trainSeconds: number;
  samplesPerSec: number;
  tokensPerSec: number;
  /** what gradientCheckpointing resolved to for this run (and why) */
  gradientCheckpointing: CheckpointingDecision;
}

export class TrainingError extends Error {
  constructor(
    public readonly code: 'diverged' | 'no_data' | 'bad_checkpoint',
    message: string,
  ) {
    super(message);
    this.name = 'TrainingError';
  }
}

const yieldToEventLoop = () => new Promise<void>((r) => setImmediate(r));

export async function runTraining(config: TrainingConfig, data: TrainingData, opts: RunTrainingOptions): Promise<TrainingResult> {
  if (data.train.length === 0) throw new TrainingError('no_data', 'the training split is empty');
  const engine = opts.engine ?? loadTrainEngine();
  if (opts.model) return trainLoop(config, data, opts, engine, opts.model);
  if (!engine.T5Model) throw new Error('this build of the engine addon has no T5 model (native/src/t5): rebuild it with `npm run build:native`');
  opts.onLog?.(`loading ${opts.modelDir} on ${config.device}${config.quantization === 'nf4' ? ' (NF4)' : ''}`);
  const model = engine.T5Model.load({
    modelDir: opts.modelDir,
    device: config.device,
    quant: config.quantization,
    quantizeWo: config.quantizeWo,
    compute: config.compute,
  });
  try {
    return await trainLoop(config, data, opts, engine, model);
  } finally {
    model.dispose?.(); // the memory goes back now, not whenever the GC runs
  }
}

async function trainLoop(
  config: TrainingConfig,
  data: TrainingData,
  opts: RunTrainingOptions,
  engine: TrainEngine,
  model: T5ModelHandle,
): Promise<TrainingResult> {
  const log = opts.onLog ?? (() => {});
  const flushMs = opts.metricsFlushMs ?? 1000;
  const train = prepareExamples(data.train, config.maxSourceLength, config.maxTargetLength);
  const validationAll = prepareExamples(data.validation, config.maxSourceLength, config.maxTargetLength);
  if (train.length === 0) throw new TrainingError('no_data', 'the training split is empty');
  // Periodic evaluation on a fixed subset (maxEvalSamples), in length order to pad little.
  const validation = (config.maxEvalSamples > 0 ? validationAll.slice(0, config.maxEvalSamples) : validationAll)
    .slice()
    .sort((a, b) => exampleLength(a) - exampleLength(b));

  const plan = plannedSteps(config, train.length);
  const totalUpdates = plan.totalUpdates;
  const warmup = warmupUpdates(config, totalUpdates);
  const lengths = train.map(exampleLength);

  model.addLora({
    r: config.loraR,
    alpha: config.loraAlpha,
    dropout: config.loraDropout,
    targets: [...config.targetModules],
    rslora: config.useRslora,
    seed: deriveSeed(config.seed, 'lora-init'),
  });

  let step = 0;
  let epoch = 0;
  let nextBatch = 0;
  let lastLoss: number | null = null;
  let lastEvalLoss: number | null = null;
  let lastCheckpoint: string | null = null;
  if (opts.resumeFrom) {
    let ck;
    try {
      ck = readCheckpoint(opts.resumeFrom);
    } catch (e) {
      throw new TrainingError('bad_checkpoint', (e as Error).message);
    }
    // The position (epoch, next batch) and the moments only mean something for the same data,
    // batching and adapter shape; the run length and learning rate may change.
    const was = ck.state.config;
    const fixed = ['batchSize', 'gradientAccumulationSteps', 'seed', 'groupByLength', 'loraR', 'loraAlpha', 'useRslora', 'targetModules'] as const;
    const changed: string[] = fixed.filter((k) => JSON.stringify(was[k]) !== JSON.stringify(config[k]));
    if (ck.state.trainRows !== train.length) changed.push('number of training rows');
    if (changed.length > 0) {
      throw new TrainingError(
        'bad_checkpoint',
        `${opts.resumeFrom} was made with a different ${changed.join(', ')}; resume with the checkpoint's settings or start a new run`,
      );
    }
    model.loadAdapter(ck.adapterDir);
    engine.setOptimizerState(model, ck.optimizer);
    ({ step, epoch, nextBatch } = ck.state);
    lastLoss = ck.state.lastLoss;
    lastEvalLoss = ck.state.lastEvalLoss;
    lastCheckpoint = opts.resumeFrom;
    log(`resumed from ${opts.resumeFrom} at update ${step}`);
  }
  const m = model;
  // After the adapter is on the device, so the free memory measured is what the steps can use.
  const checkpointing = decideCheckpointing(config, m, engine);
  const recompute = checkpointing.recompute;
  log(describeCheckpointing(checkpointing));

  // ---- metrics, delivered in batches ----
  let pending: TrainerMetric[] = [];
  let lastFlush = performance.now();
  const flush = () => {
    if (pending.length && opts.onMetrics) opts.onMetrics(pending);
    pending = [];
    lastFlush = performance.now();
  };
  const emit = (x: TrainerMetric) => {
    pending.push(x);
    if (performance.now() - lastFlush >= flushMs) flush();
  };

  const evaluate = (): EvalMetric | null => {
    if (validation.length === 0) return null;
    const t0 = performance.now();
    let lossSum = 0;
    let tokens = 0;
    for (const rows of chunk(validation, config.evalBatchSize)) {
      const b = collate(rows);
      const r = m.forward({ ...b, wantLogits: false });
      const n = r.tokens ?? b.labelTokens;
      lossSum += r.loss * n;
      tokens += n;
    }
    const ev: EvalMetric = {
      kind: 'eval',
      step,
      epoch: step / plan.updatesPerEpoch,
      evalLoss: lossSum / Math.max(1, tokens),
      evalSamples: validation.length,
      evalMs: performance.now() - t0,
      at: Date.now(),
    };
    lastEvalLoss = ev.evalLoss;
    return ev;
  };

  const state = (): TrainerState => ({
    version: 1,
    step,
    epoch,
    nextBatch,
    totalUpdates,
    warmupUpdates: warmup,
    trainRows: train.length,
    seed: config.seed,
    config,
    lastLoss,
    lastEvalLoss,
    savedAt: Date.now(),
  });
  const adapterMeta = { baseModelNameOrPath: opts.baseModelName ?? opts.modelDir };
  const checkpointsDir = join(opts.outputDir, 'checkpoints');
  const checkpoint = () => {
    flush();
    const dir = writeCheckpoint(checkpointsDir, state(), {
      saveAdapter: (d) => m.saveAdapter(d, adapterMeta),
      optimizerState: () => engine.getOptimizerState(m),
    });
    pruneCheckpoints(checkpointsDir, config.keepCheckpoints);
    lastCheckpoint = dir;
    opts.onCheckpoint?.({ step, dir });
    log(`checkpoint ${dir}`);
  };

  log(
    `training ${train.length} rows (validation ${validation.length}), ${totalUpdates} updates` +
      ` (${plan.updatesPerEpoch}/epoch, batch ${config.batchSize} x ${config.gradientAccumulationSteps}), warm-up ${warmup}`,
  );
  const tStart = performance.now();
  let samplesDone = 0;
  let tokensDone = 0;
  let cancelled = false;
  let recordedCheckpointing = false;

  const batchesOf = (e: number) => chunk(epochOrder(lengths, config.batchSize, config.seed, e, config.groupByLength), config.batchSize);
  let batches = batchesOf(epoch);
  while (step < totalUpdates) {
    if (opts.signal?.aborted) {
      cancelled = true;
      break;
    }
    const micro = batches.slice(nextBatch, nextBatch + config.gradientAccumulationSteps);
    nextBatch += micro.length;
    const t0 = performance.now();
    m.zeroGrad();
    let lossSum = 0;
    let samples = 0;
    let tokens = 0;
    micro.forEach((rows, k) => {
      const b = collate(rows.map((i) => train[i]));
      const r = m.forwardBackward({ ...b, train: true, dropoutSeed: deriveSeed(config.seed, 'dropout', step, k), recompute });
      lossSum += r.loss;
      samples += b.batch;
      tokens += b.realTokens;
    });
    const loss = lossSum / micro.length;
    if (!Number.isFinite(loss)) {
      flush();
      throw new TrainingError(
        'diverged',
        `the training loss became ${loss} at update ${step + 1}; lower the learning rate or check the data`,
      );
    }
    const lr =
      config.learningRate *
      engine.lrMultiplier({ schedule: config.lrScheduler, step, warmupSteps: warmup, totalSteps: totalUpdates });
    const { gradNorm } = engine.optimizerStep(m, {
      lr,
      beta1: config.adamBeta1,
      beta2: config.adamBeta2,
      eps: config.adamEpsilon,
      weightDecay: config.weightDecay,
      maxGradNorm: config.maxGradNorm,
      gradScale: 1 / micro.length,
      step: step + 1,
    });
    step++;
    const ms = performance.now() - t0;
    samplesDone += samples;
    tokensDone += tokens;
    lastLoss = loss;
    const tm: TrainMetric = {
      kind: 'train',
      step,
      epoch: epoch + nextBatch / batches.length,
      loss,
      lr,
      gradNorm,
      tokensPerSec: tokens / (ms / 1000),
      samplesPerSec: samples / (ms / 1000),
      stepMs: ms,
      at: Date.now(),
    };
    // The resolved choice, once per training session (a resumed run records it again: it may differ).
    if (!recordedCheckpointing) {
      tm.recompute = recompute;
      recordedCheckpointing = true;
    }
    emit(tm);
    // Normalised right away, so a checkpoint taken now resumes at the next epoch's start.
    if (nextBatch >= batches.length) {
      epoch++;
      nextBatch = 0;
      batches = batchesOf(epoch);
    }
    if (config.evalEvery > 0 && step % config.evalEvery === 0 && step < totalUpdates) {
      const ev = evaluate();
      if (ev) {
        emit(ev);
        flush();
        log(`update ${step}: eval loss ${ev.evalLoss.toFixed(4)}`);
      }
    }
    if (config.checkpointEvery > 0 && step % config.checkpointEvery === 0 && step < totalUpdates) checkpoint();
    await yieldToEventLoop();
  }

  const trainSeconds = (performance.now() - tStart) / 1000;
  let adapterDir: string | null = null;
  if (!cancelled) {
    const ev = evaluate();
    if (ev) emit(ev);
    flush();
    adapterDir = join(opts.outputDir, 'adapter');
    writeDirAtomically(adapterDir, (tmp) => m.saveAdapter(tmp, adapterMeta));
    log(`adapter written to ${adapterDir}`);
  } else {
    log(`cancelled at update ${step}`);
  }
  flush();
  return {
    status: cancelled ? 'cancelled' : 'completed',
    steps: step,
    totalUpdates,
    adapterDir,
    lastCheckpoint,
    finalLoss: lastLoss,
    finalEvalLoss: lastEvalLoss,
    trainSeconds,
    samplesPerSec: samplesDone / Math.max(trainSeconds, 1e-9),
    tokensPerSec: tokensDone / Math.max(trainSeconds, 1e-9),
    gradientCheckpointing: checkpointing,
  };
}
