// Writes the exact batch sequence for the 300-step training-parity run (bench/RESULTS.md,
// "Training parity: 300 steps"): the shared real data (../shared/data/turkish-law-chatbot-test.json,
// {Soru, Cevap}), tokenized by OUR TypeScript tokenizer (main/io/tokenizers, the shared
// SentencePiece fixture) with the app's default prompt template, truncated like the trainer
// (common/training/batching.prepareExamples). Both sides of the comparison (transformers + peft
// in tools/loss_curve_parity.py, our engine in bench/loss_curve_ours.mjs) read this one file, so
// they see identical token ids in an identical order; each side pads a batch to its longest row
// (pad 0, labels -100) the same way (common/training/batching.collate).
//   npx vite-node tools/loss_curve_batches.ts -- OUT.json [--steps 300 --batch 8 --eval 128]
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyTemplate, templateByName } from '../common/datasets/templates';
import { epochOrder, prepareExamples } from '../common/training/batching';
import { loadTokenizer } from '../main/io/tokenizers';

const args = process.argv.slice(2).filter((a) => a !== '--');
const outFile = args[0];
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const steps = opt('--steps', 300);
const batchSize = opt('--batch', 8);
const evalRows = opt('--eval', 128);
const maxLen = opt('--max-len', 128);
const seed = 42;

const shared = path.resolve(__dirname, '../../shared');
const rows = JSON.parse(readFileSync(path.join(shared, 'data/turkish-law-chatbot-test.json'), 'utf8')) as { Soru: string; Cevap: string }[];
const { tokenizer } = loadTokenizer(path.join(shared, 'fixtures/tokenizer'));
const template = templateByName('default');
const tokenized = prepareExamples(
  rows.map((r) => {
    const { input, target } = applyTemplate(template, r.Soru, r.Cevap);
    return { inputIds: tokenizer.encode(input), labels: tokenizer.encode(target) };
  }),
  maxLen,
  maxLen,
);
// The last evalRows rows are the fixed validation set; the rest train.
const nTrain = tokenized.length - evalRows;
const train = tokenized.slice(0, nTrain);
const validation = tokenized.slice(nTrain);
// Seeded per-epoch permutations (the trainer's epochOrder, no length grouping), concatenated and
// cut into full batches of batchSize.
const order: number[] = [];
for (let e = 0; order.length < steps * batchSize; e++) order.push(...epochOrder(train.map(() => 1), batchSize, seed, e, false));
const batches: number[][] = [];
for (let s = 0; s < steps; s++) batches.push(order.slice(s * batchSize, (s + 1) * batchSize));
const toJson = (x: { inputIds: Int32Array; labels: Int32Array }) => ({ input_ids: Array.from(x.inputIds), labels: Array.from(x.labels) });
writeFileSync(
  outFile,
  JSON.stringify({
    source: 'turkish-law-chatbot-test.json, template default, shared tokenizer, max lengths ' + maxLen,
    vocab_size: tokenizer.vocabSize ?? null,
    batch_size: batchSize,
    train: train.map(toJson),
    batches,
    validation: validation.map(toJson),
  }),
);
const lens = train.map((t) => t.inputIds.length + t.labels.length);
console.log(`${train.length} train rows, ${validation.length} validation rows, ${batches.length} batches of ${batchSize}; mean src+tgt ${(lens.reduce((a, b) => a + b, 0) / lens.length).toFixed(1)}, max ${Math.max(...lens)}`);
