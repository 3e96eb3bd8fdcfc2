// Importing and training through the UI, end to end: a model folder (checked first, copied or
// used in place, deleted after asking, the user's own folder left alone), the real 1,500-row
// Soru/Cevap file with its token statistics, then a CPU run started from New run whose status and
// curves arrive live — in Chromium against the real `hukuk serve`.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { loadTokenizer } from '../../main/io/tokenizers';
import { makeTinyT5 } from '../train/tiny-t5';
import { launchChromium, openPage, updateScreenshots } from './helpers/browser';
import { repoRoot, startServe, type Served } from './helpers/serve';

const modelDir = join(repoRoot, 'tests/fixtures/t5/relu_tied/model');
const sharedData = resolve(repoRoot, '../shared/data/turkish-law-chatbot-test.json');
const sharedTokenizer = resolve(repoRoot, '../shared/fixtures/tokenizer');
/** A tiny model folder with a real SentencePiece tokenizer, so token statistics can be measured. */
const tokenizedModelDir = mkdtempSync(join(tmpdir(), 'hukuk-e2e-model-'));

let served: Served;
let browser: Browser;
let page: Page;
let problems: string[] = [];

beforeAll(async () => {
  served = await startServe();
  browser = await launchChromium();
  page = await openPage(browser, (p) => problems.push(p), { height: 860 });
  await page.goto(`${served.url}#/models`);
  await page.locator('[data-testid="connection-state"][data-state="open"]').waitFor({ timeout: 60_000 });
});

afterEach(() => {
  const seen = problems;
  problems = [];
  expect(seen).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await served?.stop();
  rmSync(tokenizedModelDir, { recursive: true, force: true });
});

async function importModel(mode: 'copy' | 'reference', name: string, dir = modelDir) {
  await page.getByTestId('nav-models').click();
  await page.getByTestId('models-import').click();
  const dialog = page.getByTestId('model-import-dialog');
  await dialog.waitFor();
  await page.getByTestId('model-import-path').fill(dir);
  await page.getByTestId('model-import-check').click();
  // The check reads config.json and the safetensors header before anything is stored.
  const result = page.getByTestId('model-check-result');
  await result.waitFor({ timeout: 30_000 });
  expect(await result.textContent()).toContain('T5ForConditionalGeneration');
  await page.getByTestId('model-import-name').fill(name);
  if (mode === 'reference') await page.getByTestId('model-import-reference').click();
  await page.getByTestId('model-import-submit').click();
  await dialog.waitFor({ state: 'hidden', timeout: 60_000 });
  const row = page.getByTestId('models-table-row').filter({ hasText: name });
  await row.waitFor();
  return row;
}

async function deleteModel(row: ReturnType<Page['getByTestId']>) {
  await row.getByTestId('model-delete').click();
  await page.getByTestId('model-delete-confirm').click();
  await row.waitFor({ state: 'detached', timeout: 30_000 });
}

describe('import through the UI', () => {
  it('starts with nothing imported', async () => {
    await page.getByTestId('models-empty').waitFor();
    await page.getByTestId('nav-datasets').click();
    await page.getByTestId('datasets-empty').waitFor();
  });

  it('imports a model folder as a copy, lists it, and deletes the copy after asking', async () => {
    const row = await importModel('copy', 'tiny relu copy');
    expect(await row.locator('[data-col="layers"]').textContent()).toBe('2 + 2');
    const copies = readdirSync(join(served.dataDir, 'models'));
    expect(copies.length).toBe(1);
    await deleteModel(row);
    expect(readdirSync(join(served.dataDir, 'models'))).toEqual([]);
    await page.getByTestId('models-empty').waitFor();
  });

  it('uses a folder in place and never deletes it', async () => {
    const row = await importModel('reference', 'tiny relu in place');
    expect(readdirSync(join(served.dataDir, 'models'))).toEqual([]);
    await deleteModel(row);
    expect(existsSync(join(modelDir, 'config.json'))).toBe(true);
    expect(existsSync(join(modelDir, 'model.safetensors'))).toBe(true);
  });

  it('imports the 1,500-row Soru/Cevap file, previews it, and measures token lengths as the CLI does', async () => {
    const vocabSize = loadTokenizer(sharedTokenizer).tokenizer.vocabSize;
    makeTinyT5(tokenizedModelDir, { vocabSize, dModel: 32, dKv: 8, numHeads: 4, dFf: 64, numLayers: 2, numDecoderLayers: 2 }, 3);
    for (const f of ['spiece.model', 'tokenizer_config.json']) copyFileSync(join(sharedTokenizer, f), join(tokenizedModelDir, f));
    await importModel('reference', 'tiny with tokenizer', tokenizedModelDir);

    await page.getByTestId('nav-datasets').click();
    await page.getByTestId('datasets-import').click();
    await page.getByTestId('dataset-import-path').fill(sharedData);
    await page.getByTestId('dataset-import-check').click();
    const rows = page.getByTestId('dataset-check-rows');
    await rows.waitFor({ timeout: 60_000 });
    const checked = await page.getByTestId('dataset-check-result').textContent();
    expect(checked).toContain('Soru → Cevap');
    await page.getByTestId('dataset-import-name').fill('turkish law test');
    await page.getByTestId('dataset-import-submit').click();
    const row = page.getByTestId('datasets-table-row').filter({ hasText: 'turkish law test' });
    await row.waitFor({ timeout: 60_000 });
    expect(await row.getByTestId('dataset-rows').textContent()).toBe('1,500');

    await row.getByTestId('dataset-details').click();
    await page.getByTestId('dataset-preview').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('dataset-preview').textContent()).toContain('Soru');
    // Measure with the imported model's tokenizer; the numbers must equal `hukuk dataset inspect`.
    await page.getByTestId('dataset-model').locator('..').getByRole('combobox').click();
    await page.getByRole('option', { name: 'tiny with tokenizer' }).click();
    await page.getByTestId('dataset-recompute').click();
    await page.getByTestId('dataset-histogram').waitFor({ timeout: 60_000 });
    const cli = JSON.parse(
      execFileSync(process.execPath, [join(repoRoot, 'bin/hukuk.js'), 'dataset', 'inspect', sharedData, '--tokenizer', tokenizedModelDir, '--json'], {
        encoding: 'utf8',
        maxBuffer: 64 << 20,
      }),
    ) as { stats: Record<'input' | 'target', { p50: number; p95: number; p99: number; max: number }> };
    for (const k of ['input', 'target'] as const) {
      const shown = await page.getByTestId(`dataset-stats-${k}`).textContent();
      const { p50, p95, p99, max } = cli.stats[k];
      expect(shown).toContain(`p50 ${p50} · p95 ${p95} · p99 ${p99} · max ${max}`);
    }
    if (updateScreenshots) {
      await page.getByTestId('dataset-stats').scrollIntoViewIfNeeded();
      await page.mouse.move(0, 0);
      await page.screenshot({ path: join(repoRoot, 'docs/screenshot-dataset.png') });
    }
    await page.keyboard.press('Escape');
  });

  it('trains from the browser: New run -> runs:create -> the worker trains -> live status and curves', async () => {
    await page.getByTestId('nav-new-run').click();
    await page.getByTestId('new-run-model').getByRole('combobox').click();
    await page.getByRole('option').filter({ hasText: 'tiny with tokenizer' }).click();
    await page.getByTestId('new-run-dataset').getByRole('combobox').click();
    await page.getByRole('option').filter({ hasText: 'turkish law test' }).click();
    await page.getByTestId('preset-quick-cpu-smoke').click();
    await page.getByTestId('cfg-max-steps').fill('20');
    await page.getByTestId('new-run-name').fill('browser run');
    await page.getByTestId('new-run-start').click();
    await expect.poll(() => page.evaluate(() => location.hash), { timeout: 30_000 }).toMatch(/^#\/runs\/\d+$/);
    await page.getByTestId('run-detail').waitFor({ timeout: 30_000 });
    // The status arrives as runs:status events while the page is open.
    await page.locator('[data-testid="run-status"][data-status="completed"]').waitFor({ timeout: 180_000 });
    await expect.poll(() => page.getByTestId('run-steps').textContent(), { timeout: 30_000 }).toBe('20');
    await page.getByTestId('run-chart-loss').locator('path.recharts-curve').first().waitFor();
    expect(readdirSync(join(served.dataDir, 'runs')).length).toBe(1);

    // Deleting asks first, then removes the run and its folder (checkpoints, adapter).
    await page.getByTestId('run-delete').click();
    await page.getByTestId('run-delete-confirm').click();
    await expect.poll(() => page.evaluate(() => location.hash), { timeout: 30_000 }).toBe('#/runs');
    await page.getByTestId('runs-empty').waitFor({ timeout: 30_000 });
    expect(readdirSync(join(served.dataDir, 'runs'))).toEqual([]);
  }, 300_000);
});
