// The Runs page on real training output: `hukuk train` fine-tunes a tiny T5 (made here, with the
// shared SentencePiece tokenizer) on the real Soru/Cevap rows on the CPU; its metrics are stored
// the way main stores a run's, then the page must list the run and show exactly those numbers.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { openDatabase } from '../../main/store/db';
import { createRun, insertMetrics, updateRunStatus } from '../../main/store/repositories';
import { loadTokenizer } from '../../main/io/tokenizers';
import { toMetricPoints, type TrainerMetric } from '../../common/training/metrics';
import { makeTinyT5 } from '../train/tiny-t5';
import { launchChromium, openPage, updateScreenshots } from './helpers/browser';
import { repoRoot, requireBuild, startServe, type Served } from './helpers/serve';

const sharedData = resolve(repoRoot, '../shared/data/turkish-law-chatbot-test.json');
const sharedTokenizer = resolve(repoRoot, '../shared/fixtures/tokenizer');
const STEPS = 80;

const root = mkdtempSync(join(tmpdir(), 'hukuk-e2e-runs-'));
let served: Served;
let browser: Browser;
let page: Page;
let problems: string[] = [];
const metrics: TrainerMetric[] = [];
let trainedConfig: Record<string, unknown> = {};

/** Trains for real with the CLI and returns what it reported. */
async function trainTiny(): Promise<void> {
  const modelDir = join(root, 'model');
  makeTinyT5(modelDir, { vocabSize: loadTokenizer(sharedTokenizer).tokenizer.vocabSize, dModel: 64, dKv: 16, numHeads: 4, dFf: 128, numLayers: 2, numDecoderLayers: 2 }, 7);
  for (const f of ['spiece.model', 'tokenizer_config.json']) copyFileSync(join(sharedTokenizer, f), join(modelDir, f));
  const args = ['train', '--model', modelDir, '--dataset', sharedData, '--preset', 'quick-cpu-smoke', '--max-steps', String(STEPS), '--lr', '0.003'];
  const { stdout } = await promisify(execFile)(process.execPath, [join(repoRoot, 'bin/hukuk.js'), ...args, '--eval-every', '20', '--output', join(root, 'run'), '--json'], {
    cwd: repoRoot,
    maxBuffer: 64 << 20,
  });
  for (const line of stdout.split('\n')) {
    if (!line.trim()) continue;
    const e = JSON.parse(line) as { type: string; metrics?: TrainerMetric[]; config?: Record<string, unknown> };
    if (e.type === 'metrics' && e.metrics) metrics.push(...e.metrics);
    if (e.type === 'start' && e.config) trainedConfig = e.config;
  }
}

beforeAll(async () => {
  requireBuild();
  await trainTiny();
  const dataDir = join(root, 'data');
  const db = openDatabase(join(dataDir, 'hukuk.db'));
  try {
    const run = createRun(db, { name: 'tiny T5 on Turkish law (CPU)', config: trainedConfig, device: 'cpu', dir: join(root, 'run') });
    updateRunStatus(db, run.id, 'running');
    insertMetrics(db, run.id, toMetricPoints(metrics));
    updateRunStatus(db, run.id, 'completed');
    const failed = createRun(db, { name: 'stopped run', config: { device: 'cpu' }, device: 'cpu' });
    updateRunStatus(db, failed.id, 'running');
    updateRunStatus(db, failed.id, 'failed', 'seeded by the test: the worker stopped (signal SIGKILL)');
  } finally {
    db.close();
  }
  served = await startServe({ dataDir });
  browser = await launchChromium();
  page = await openPage(browser, (p) => problems.push(p));
}, 240_000);

afterEach(() => {
  const seen = problems;
  problems = [];
  expect(seen).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await served?.stop();
  rmSync(root, { recursive: true, force: true });
});

const en4 = (v: number) => new Intl.NumberFormat('en-US', { maximumFractionDigits: 4 }).format(v);

describe('runs in the UI', () => {
  it('lists the runs with their status', async () => {
    await page.goto(`${served.url}#/runs`);
    const rows = page.getByTestId('runs-table-row');
    await rows.first().waitFor({ timeout: 60_000 });
    expect(await rows.count()).toBe(2);
    const trained = rows.filter({ hasText: 'tiny T5 on Turkish law' });
    expect(await trained.getByTestId('run-status').getAttribute('data-status')).toBe('completed');
    const stopped = rows.filter({ hasText: 'stopped run' });
    expect(await stopped.getByTestId('run-status').getAttribute('data-status')).toBe('failed');
  });

  it('shows a run with the numbers the trainer reported and its curves', async () => {
    const train = metrics.filter((m) => m.kind === 'train');
    const evals = metrics.filter((m) => m.kind === 'eval');
    expect(train.length).toBe(STEPS);
    expect(evals.length).toBeGreaterThan(0);
    await page.getByTestId('run-name').filter({ hasText: 'tiny T5 on Turkish law' }).click();
    await page.getByTestId('run-detail').waitFor();
    expect(await page.evaluate(() => location.hash)).toMatch(/^#\/runs\/\d+$/);
    // the detail frame can show before its metrics query answers ('—'): wait for the figures
    const stat = (id: string) => expect.poll(() => page.getByTestId(id).textContent(), { timeout: 30_000 });
    await stat('run-steps').toBe(String(STEPS));
    await stat('run-last-loss').toBe(en4(train[train.length - 1].loss));
    await stat('run-best-eval').toBe(en4(Math.min(...evals.map((e) => e.evalLoss))));
    // One line per split on the loss chart (training and validation), drawn as SVG paths.
    const lossChart = page.getByTestId('run-chart-loss');
    await lossChart.locator('path.recharts-curve').first().waitFor();
    expect(await lossChart.locator('path.recharts-curve').count()).toBe(2);
    await page.getByTestId('run-chart-lr').waitFor();
    expect(await page.getByTestId('run-config').locator('[data-config="loraR"]').textContent()).toBe(String(trainedConfig.loraR));
    if (updateScreenshots) {
      await page.mouse.move(0, 0);
      await page.screenshot({ path: join(repoRoot, 'docs/screenshot-run.png') });
    }
    await page.getByTestId('run-back').click();
    await page.getByTestId('runs-table').waitFor();
  });

  it('says why a run failed', async () => {
    await page.getByTestId('run-name').filter({ hasText: 'stopped run' }).click();
    await page.getByTestId('run-error').waitFor();
    expect(await page.getByTestId('run-error').textContent()).toContain('signal SIGKILL');
    await page.getByTestId('run-no-metrics').waitFor();
  });
});
