// A tiny but real app for the runs/chat service tests: services with the real engine worker
// (bundled), a tiny random T5 (tests/train/tiny-t5.ts) whose vocabulary matches the shared
// SentencePiece tokenizer (copied into its folder, so the model folder carries its tokenizer),
// and a small slice of the real Soru/Cevap data imported as a dataset.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { forkWorkerFactory } from '../../main/jobs/worker-process';
import { createAppServices, type AppServices } from '../../main/services';
import { importDataset } from '../../main/services/datasets';
import { loadTokenizer } from '../../main/io/tokenizers';
import { insertModel } from '../../main/store/repositories';
import type { Db } from '../../main/store/db';
import type { Model } from '../../common/contract/models';
import { makeTinyT5 } from '../train/tiny-t5';
import { bundleForNode, repoRoot, tempDir } from '../store/helpers';

export const sharedTokenizer = resolve(repoRoot, '../shared/fixtures/tokenizer');
const sharedData = resolve(repoRoot, '../shared/data/turkish-law-chatbot-test.json');

/** A tiny random T5 whose vocabulary is the shared tokenizer's, with that tokenizer in its folder. */
export function makeTinyModelFolder(modelDir: string): number {
  const vocab = loadTokenizer(sharedTokenizer).tokenizer.vocabSize;
  makeTinyT5(modelDir, { vocabSize: vocab, dModel: 32, dKv: 8, numHeads: 4, dFf: 64, numLayers: 2, numDecoderLayers: 2 }, 7);
  for (const f of ['spiece.model', 'tokenizer_config.json']) copyFileSync(join(sharedTokenizer, f), join(modelDir, f));
  return vocab;
}

/** Records that folder as an imported (referenced) model. */
export function recordTinyModel(db: Db, modelDir: string, vocab: number): Model {
  return insertModel(db, {
    name: 'tiny-t5',
    sourcePath: modelDir,
    storedPath: modelDir,
    architecture: 'T5ForConditionalGeneration',
    modelType: 't5',
    config: JSON.parse(readFileSync(join(modelDir, 'config.json'), 'utf8')) as Record<string, unknown>,
    paramCount: null,
    vocabSize: vocab,
    numLayers: 2,
    numDecoderLayers: 2,
    dModel: 32,
    dtype: 'float32',
    diskBytes: null,
    contentHash: null,
    copied: false,
  });
}

export interface TinyApp {
  services: AppServices;
  modelId: number;
  datasetId: number;
  dataDir: string;
  close(): Promise<void>;
}

export async function startTinyApp(rows = 48): Promise<TinyApp> {
  const tmp = tempDir('hukuk-runs-');
  const script = await bundleForNode(join(repoRoot, 'worker/engine-worker.ts'), join(tmp.dir, 'engine-worker.cjs'));
  const dataDir = join(tmp.dir, 'data');
  const services = createAppServices({
    dataDir,
    appVersion: '0.0.0-test',
    workerFactory: forkWorkerFactory({ appRoot: repoRoot, script, env: { HUKUK_TEST: '1', OMP_NUM_THREADS: '1', OMP_WAIT_POLICY: 'passive' } }),
  });
  const modelDir = join(tmp.dir, 'tiny-t5');
  const model = recordTinyModel(services.db, modelDir, makeTinyModelFolder(modelDir));
  const all = JSON.parse(readFileSync(sharedData, 'utf8')) as unknown[];
  const file = join(tmp.dir, 'qa.json');
  writeFileSync(file, JSON.stringify(all.slice(0, rows)));
  const { dataset } = await importDataset({ db: services.db, datasetsDir: services.paths.datasets }, file, { splitRatio: 0.25 });
  return {
    services,
    modelId: model.id,
    datasetId: dataset.id,
    dataDir,
    async close() {
      await services.close();
      tmp.remove();
    },
  };
}
