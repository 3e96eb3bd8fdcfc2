// `hukuk train`: fine-tune a LoRA adapter headless, in this process, on the CPU or a GPU.
//
//   hukuk train --model <dir> --dataset <file> [--preset NAME] [--max-steps N] [--epochs N]
//               [--output DIR] [--device cpu|cuda] [--gradient-checkpointing auto|on|off]
//               [--lr X] [--batch-size N] [--eval-every N]
//               [--seed N] [--tokenizer PATH] [--validation FILE] [--resume CHECKPOINT]
//               [--set key=value ...] [--json]
//
// Progress goes to stdout as lines (or JSON lines with --json: {"type":"metrics"|"log"|
// "checkpoint"|"result", ...}); the adapter lands in <output>/adapter (peft format).
// The dataset goes through the importer's readers and column detection (main/io/datasets,
// common/datasets) and its prompt templates, so the CLI trains on exactly what the app would.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { TrainingConfigFields, configFromPreset, TRAINING_PRESETS, type TrainingConfigInput } from '../../../common/training';
import { maxTokenId, type TokenizedExample } from '../../../common/training/batching';
import { preparePairs, templateByName, tokenizeSplit, type QaPair } from '../../../common/datasets';
import { readDatasetPath } from '../../io/datasets';
import { loadTokenizer } from '../../io/tokenizers';
import { runTraining, TrainingError } from '../../../worker/trainer/run-training';
import { withDataFolderLock } from '../../services/data-lock';
import type { CliContext } from '../types';

export const summary = 'fine-tune a LoRA adapter on a dataset (headless, CPU or GPU)';

const USAGE = `usage: hukuk train --model <dir> --dataset <file> [options]
  --preset NAME        ${TRAINING_PRESETS.map((p) => p.name).join(' | ')}
  --max-steps N        stop after N optimizer updates
  --epochs N           number of epochs (when --max-steps is not given)
  --output DIR         run folder (default: <data>/runs/cli-<time>)
  --device cpu|cuda    where to train
  --gradient-checkpointing auto|on|off
                       recompute activations in the backward (less GPU memory, slower);
                       auto (default): only when the run would not fit in the GPU's free memory
  --lr X               learning rate
  --batch-size N       rows per micro-batch
  --eval-every N       validation loss every N updates
  --seed N             seed for the split, the order, LoRA's init and dropout
  --tokenizer PATH     tokenizer folder/file (default: the model folder)
  --validation FILE    validation rows (default: the dataset's validation/test split, else a
                       seeded split of validationRatio)
  --template NAME      prompt template: default ("Soru: {question}" -> "{answer}") | teknofest
  --question-column C, --answer-column C   override the detected columns
  --resume DIR         continue from a checkpoint (<output>/checkpoints/step-N)
  --set KEY=VALUE      any training config field, e.g. --set loraR=8 --set targetModules=q,v
  --json               JSON lines instead of text`;

function parseSetValue(key: string, raw: string): unknown {
  const field = (TrainingConfigFields.shape as Record<string, unknown>)[key];
  if (!field) throw new Error(`--set: unknown config field '${key}'`);
  if (key === 'targetModules') return raw.split(',').map((s) => s.trim());
  if (raw === 'true' || raw === 'false') return raw === 'true';
  if (raw !== '' && !Number.isNaN(Number(raw))) return Number(raw);
  return raw;
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  let v;
  try {
    ({ values: v } = parseArgs({
      args,
      options: {
        model: { type: 'string' },
        dataset: { type: 'string' },
        preset: { type: 'string' },
        'max-steps': { type: 'string' },
        epochs: { type: 'string' },
        output: { type: 'string' },
        device: { type: 'string' },
        'gradient-checkpointing': { type: 'string' },
        lr: { type: 'string' },
        'batch-size': { type: 'string' },
        'eval-every': { type: 'string' },
        seed: { type: 'string' },
        tokenizer: { type: 'string' },
        validation: { type: 'string' },
        template: { type: 'string', default: 'default' },
        'question-column': { type: 'string' },
        'answer-column': { type: 'string' },
        resume: { type: 'string' },
        set: { type: 'string', multiple: true },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (e) {
    ctx.stderr(`hukuk train: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  if (v.help) {
    ctx.stdout(USAGE);
    return 0;
  }
  if (!v.model || !v.dataset) {
    ctx.stderr(`hukuk train: --model and --dataset are required\n${USAGE}`);
    return 2;
  }
  const json = v.json;
  const out = (obj: Record<string, unknown>, text: string) => ctx.stdout(json ? JSON.stringify(obj) : text);
  try {
    const num = (s: string | undefined, name: string): number | undefined => {
      if (s === undefined) return undefined;
      const n = Number(s);
      if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got '${s}'`);
      return n;
    };
    const overrides: Record<string, unknown> = {
      maxSteps: num(v['max-steps'], '--max-steps'),
      numEpochs: num(v.epochs, '--epochs'),
      device: v.device,
      gradientCheckpointing: v['gradient-checkpointing'],
      learningRate: num(v.lr, '--lr'),
      batchSize: num(v['batch-size'], '--batch-size'),
      evalEvery: num(v['eval-every'], '--eval-every'),
      seed: num(v.seed, '--seed'),
    };
    for (const kv of v.set ?? []) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new Error(`--set expects KEY=VALUE, got '${kv}'`);
      overrides[kv.slice(0, i)] = parseSetValue(kv.slice(0, i), kv.slice(i + 1));
    }
    // --epochs without --max-steps must win over a preset's maxSteps.
    if (overrides.numEpochs !== undefined && overrides.maxSteps === undefined) overrides.maxSteps = 0;
    const config = configFromPreset(v.preset, overrides as TrainingConfigInput);

    const modelDir = resolve(v.model);
    const cfgFile = join(modelDir, 'config.json');
    if (!existsSync(cfgFile)) throw new Error(`${modelDir} has no config.json`);
    const vocabSize = Number((JSON.parse(readFileSync(cfgFile, 'utf8')) as { vocab_size?: unknown }).vocab_size);
    const { tokenizer, file: tokFile } = loadTokenizer(v.tokenizer ?? modelDir);

    const template = templateByName(v.template ?? 'default');
    const source = await readDatasetPath(v.dataset, v.validation ? { validation: v.validation } : {});
    const mapping =
      v['question-column'] || v['answer-column']
        ? { question: v['question-column'] ?? 'Soru', answer: v['answer-column'] ?? 'Cevap' }
        : undefined;
    const prepared = preparePairs(source.tables, {
      mapping,
      split: { ratio: config.validationRatio, seed: config.seed, heldOutName: 'validation' },
    });
    if (prepared.skipped.length > 0) {
      out(
        { type: 'log', message: `skipped ${prepared.skipped.length} rows`, skipped: prepared.skipped.slice(0, 20) },
        `train: skipped ${prepared.skipped.length} rows (first: ${prepared.skipped
          .slice(0, 3)
          .map((r) => `${r.file}${r.line ? ':' + r.line : ''} ${r.reason}`)
          .join('; ')})`,
      );
    }
    const toExamples = (pairs: QaPair[] | undefined): TokenizedExample[] => {
      const t = tokenizeSplit(pairs ?? [], tokenizer, template);
      return t.inputIds.map((ids, i) => ({ inputIds: ids, labels: t.targetIds[i] }));
    };
    const train = toExamples(prepared.splits.train);
    // The QLoRA study's data has train/test only: evaluate on test when there is no validation split.
    const validation = toExamples(prepared.splits.validation ?? prepared.splits.test);
    const maxId = Math.max(maxTokenId(train), maxTokenId(validation));
    if (Number.isFinite(vocabSize) && maxId >= vocabSize) {
      throw new Error(`the tokenizer (${tokFile}) produces id ${maxId}, but the model's vocabulary has ${vocabSize} entries: wrong tokenizer?`);
    }
    const outputDir = resolve(v.output ?? join(ctx.dataDir, 'runs', `cli-${new Date().toISOString().replace(/[:.]/g, '-')}`));
    out(
      { type: 'start', modelDir, dataset: resolve(v.dataset), outputDir, trainRows: train.length, validationRows: validation.length, config },
      `train: ${train.length} rows, validation ${validation.length}, output ${outputDir}`,
    );

    const ac = new AbortController();
    const onSig = () => ac.abort();
    process.once('SIGINT', onSig);
    process.once('SIGTERM', onSig);
    try {
      // Holds the data folder's lock: the run folder lives there, and the app's own queue
      // must not train beside it.
      const result = await withDataFolderLock(ctx.dataDir, () => runTraining(
        config,
        { train, validation },
        {
          modelDir,
          outputDir,
          resumeFrom: v.resume ? resolve(v.resume) : undefined,
          signal: ac.signal,
          metricsFlushMs: json ? 0 : 2000,
          onLog: (line) => out({ type: 'log', message: line }, `train: ${line}`),
          onCheckpoint: (c) => out({ type: 'checkpoint', ...c }, `train: checkpoint at update ${c.step}: ${c.dir}`),
          onMetrics: (batch) => {
            if (json) {
              ctx.stdout(JSON.stringify({ type: 'metrics', metrics: batch }));
              return;
            }
            for (const m of batch) {
              if (m.kind === 'eval') ctx.stdout(`update ${m.step}  eval_loss ${m.evalLoss.toFixed(4)} (${m.evalSamples} rows)`);
              else
                ctx.stdout(
                  `update ${m.step}  epoch ${m.epoch.toFixed(2)}  loss ${m.loss.toFixed(4)}  lr ${m.lr.toExponential(2)}  ` +
                    `grad_norm ${m.gradNorm.toFixed(3)}  ${m.samplesPerSec.toFixed(1)} samples/s  ${m.tokensPerSec.toFixed(0)} tok/s`,
                );
            }
          },
        },
      ));
      out(
        { type: 'result', ...result },
        `train: ${result.status} after ${result.steps}/${result.totalUpdates} updates in ${result.trainSeconds.toFixed(1)} s ` +
          `(${result.samplesPerSec.toFixed(1)} samples/s); ` +
          (result.adapterDir ? `adapter: ${result.adapterDir}` : `last checkpoint: ${result.lastCheckpoint ?? 'none'}`),
      );
      return result.status === 'completed' ? 0 : 130;
    } finally {
      process.off('SIGINT', onSig);
      process.off('SIGTERM', onSig);
    }
  } catch (e) {
    const err = e as Error & { code?: string; where?: string };
    const code = e instanceof TrainingError ? e.code : (err.code ?? 'error');
    if (json) ctx.stdout(JSON.stringify({ type: 'error', code, message: err.message, where: err.where }));
    else ctx.stderr(`hukuk train: ${err.message}${err.where ? ` (${err.where})` : ''}`);
    return 1;
  }
}
