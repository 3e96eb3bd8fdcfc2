// The New run form's memory estimate in the browser against the real `hukuk serve`: a model row
// with the flagship's config.json (no weights are needed: nothing is started), the flagship preset
// (QLoRA r16 q,k,v,o, NF4, bf16, batch 16, 64/128 tokens), and the line updating as fields change.
// The expected figures come from common/training/memory-estimate (whose byte-exact agreement with
// the CUDA engine's own arena is checked on the GPU in tests/native/cuda_t5.test.ts); here the
// point is that the form shows them, follows the fields, and follows gradient checkpointing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openDatabase } from '../../main/store/db';
import { insertModel } from '../../main/store/repositories';
import { launchChromium, openPage } from './helpers/browser';
import { estimateTrainingMemory, modelShapeFromConfig } from '../../common/training/memory-estimate';
import { TRAINING_PRESETS } from '../../common/training/presets';
import { requireBuild, startServe, type Served } from './helpers/serve';

const root = mkdtempSync(join(tmpdir(), 'hukuk-e2e-memory-'));
let served: Served;
let browser: Browser;
let page: Page;
const problems: string[] = [];
const flagshipConfig = { num_layers: 36, num_decoder_layers: 36, d_model: 768, d_ff: 3072, num_heads: 12, d_kv: 64, vocab_size: 32128, feed_forward_proj: 'relu', tie_word_embeddings: true };

/** The form's line for the flagship preset at these sizes (GiB with one decimal, en-US). */
function expectedLine(batchSize: number, src: number, tgt: number, recompute: boolean): RegExp {
  const preset = TRAINING_PRESETS.find((p) => p.name === 'flagship-qlora')!.config as Record<string, unknown>;
  const e = estimateTrainingMemory({
    model: modelShapeFromConfig(flagshipConfig)!,
    lora: { r: preset.loraR as number, targets: preset.targetModules as string[] },
    quant: 'nf4',
    quantizeWo: false,
    compute: 'bf16',
    batchSize,
    maxSourceLength: src,
    maxTargetLength: tgt,
    device: 'cuda',
    recompute,
  });
  const g = (b: number) => (b / 1024 ** 3).toFixed(1).replace('.', '\\.');
  return new RegExp(`Estimated GPU memory: ${g(e.totalBytes)} GiB \\(weights ${g(e.weightsBytes)}, LoRA ${g(e.loraBytes)}, activations ${g(e.activationsBytes)}\\)`);
}

beforeAll(async () => {
  requireBuild();
  const dataDir = join(root, 'data');
  mkdirSync(dataDir, { recursive: true });
  const db = openDatabase(join(dataDir, 'hukuk.db'));
  try {
    insertModel(db, {
      name: 'flagship-shape',
      sourcePath: null,
      storedPath: join(root, 'absent-model'),
      architecture: 'T5ForConditionalGeneration',
      modelType: 't5',
      config: flagshipConfig,
      paramCount: null,
      vocabSize: 32128,
      numLayers: 36,
      numDecoderLayers: 36,
      dModel: 768,
      dtype: 'float32',
      diskBytes: null,
      contentHash: null,
      copied: false,
    });
  } finally {
    db.close();
  }
  served = await startServe({ dataDir });
  browser = await launchChromium();
  page = await openPage(browser, (p) => problems.push(p));
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await served?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('memory estimate in the New run form', () => {
  it('asks for a model, then shows the estimate and follows the batch size and lengths', async () => {
    await page.goto(`${served.url}#/new-run`);
    await page.getByTestId('new-run-form').waitFor({ timeout: 60_000 });
    const line = page.getByTestId('new-run-memory-estimate');
    expect(await line.textContent()).toMatch(/Choose a model/);
    await page.getByTestId('new-run-model').getByRole('combobox').click();
    await page.getByRole('option', { name: /flagship-shape/ }).click();
    // no GPU here: 'auto' cannot compare with a GPU's memory and stays off
    await line.getByText(expectedLine(16, 64, 128, false)).waitFor();
    for (const [id, v] of [['cfg-batch', '8'], ['cfg-max-source', '512'], ['cfg-max-target', '512']] as const) await page.getByTestId(id).fill(v);
    await line.getByText(expectedLine(8, 512, 512, false)).waitFor();
    await page.getByTestId('cfg-gradient-checkpointing').getByRole('combobox').click();
    await page.getByRole('option', { name: 'On', exact: true }).click();
    await line.getByText(expectedLine(8, 512, 512, true)).waitFor();
    expect(await page.getByTestId('new-run-memory-checkpointing').textContent()).toMatch(/With gradient checkpointing; without it/);
    expect(await line.getAttribute('data-recompute')).toBe('true');
    expect(problems).toEqual([]);
  }, 120_000);
});
