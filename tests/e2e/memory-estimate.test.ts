// The New run form's memory estimate in the browser against the real `hukuk serve`: a model row
// with the flagship's config.json (no weights are needed: nothing is started), the flagship preset
// (QLoRA r16 q,k,v,o, NF4, bf16, batch 16, 64/128 tokens), and the line updating as fields change.
// The figures are the ones bench/gpu/results measured on an H200 (7.20 and 25.12 GiB).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { openDatabase } from '../../main/store/db';
import { insertModel } from '../../main/store/repositories';
import { launchChromium } from './helpers/browser';
import { requireBuild, startServe, type Served } from './helpers/serve';

const root = mkdtempSync(join(tmpdir(), 'hukuk-e2e-memory-'));
let served: Served;
let browser: Browser;
let page: Page;
const problems: string[] = [];

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
      config: { num_layers: 36, num_decoder_layers: 36, d_model: 768, d_ff: 3072, num_heads: 12, d_kv: 64, vocab_size: 32128, feed_forward_proj: 'relu', tie_word_embeddings: true },
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
  const context = await browser.newContext({ locale: 'en-US', colorScheme: 'light', viewport: { width: 1280, height: 1000 } });
  page = await context.newPage();
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
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
    await page.getByTestId('new-run-memory-estimate').getByText(/Estimated GPU memory: 7\.2 GiB \(weights 0\.9, LoRA 0\.2, activations 6\.1\)/).waitFor();
    for (const [id, v] of [['cfg-batch', '8'], ['cfg-max-source', '512'], ['cfg-max-target', '512']] as const) await page.getByTestId(id).fill(v);
    await page.getByTestId('new-run-memory-estimate').getByText(/Estimated GPU memory: 25\.1 GiB/).waitFor();
    expect(problems).toEqual([]);
  }, 120_000);
});
