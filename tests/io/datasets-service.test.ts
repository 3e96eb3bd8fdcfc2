// The datasets service behind datasets:* : import copies and records, preview reads the copy,
// stats re-measure with another template, the trainer's cache is built once and reused, and
// delete removes only the app's own copy.
import { describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openDatabase } from '../../main/store/db';
import { datasetDir, ensureTokenizedCache, importDataset, previewDataset, recomputeStats, removeDataset } from '../../main/services/datasets';
import { readTokenizedCache } from '../../main/io/datasets';
import { datasetsHandlers } from '../../main/ipc/handlers/datasets';
import { dispatch } from '../../main/ipc/dispatch';
import type { AppServices } from '../../main/services';
import type { Handlers } from '../../main/ipc/dispatch';

const shared = path.resolve(__dirname, '../../../shared');
const realFile = path.join(shared, 'data/turkish-law-chatbot-test.json');
const tokDir = path.join(shared, 'fixtures/tokenizer');

function context() {
  const root = mkdtempSync(path.join(tmpdir(), 'hukuk-dss-'));
  const db = openDatabase(path.join(root, 'hukuk.db'));
  return { root, ctx: { db, datasetsDir: path.join(root, 'datasets') } };
}

describe('datasets service', () => {
  it('imports the real file: copy, hash, row, statistics, cache; then preview and re-measure', async () => {
    const { ctx } = context();
    const { dataset, summary } = await importDataset(ctx, realFile, { tokenizerPath: tokDir, splitRatio: 0.1, seed: 3 });
    expect(dataset.rowCount).toBe(1500);
    expect([dataset.trainRows, dataset.testRows]).toEqual([1350, 150]);
    expect(dataset.copied).toBe(true);
    expect(dataset.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(dataset.storedPath.startsWith(ctx.datasetsDir)).toBe(true);
    expect(existsSync(dataset.storedPath)).toBe(true);
    expect(dataset.columnMapping).toEqual({ question: 'Soru', answer: 'Cevap' });
    expect((dataset.stats.tokens as { input: { count: number } }).input.count).toBe(1500);
    expect(summary.stats?.input.count).toBe(1500);

    const prev = await previewDataset(ctx, dataset.id, 3);
    expect(prev.columns).toEqual(['Soru', 'Cevap']);
    expect(prev.rows.length).toBe(3);

    const again = await recomputeStats(ctx, dataset.id, { template: 'teknofest' });
    expect(again.dataset.template).toMatchObject({ name: 'teknofest', target: 'Cevap: {answer}' });
    // "Cevap: " adds tokens to every target.
    expect(again.summary.stats!.target.p50).toBeGreaterThan(summary.stats!.target.p50);
    expect(again.summary.rows).toEqual(summary.rows); // the stored seed/ratio give the same split

    const file = await ensureTokenizedCache(ctx, dataset.id, tokDir);
    expect(file.startsWith(path.join(datasetDir(dataset), 'cache'))).toBe(true);
    const cache = readTokenizedCache(file);
    expect(cache.splits.train.rows + cache.splits.test.rows).toBe(1500);
    expect(await ensureTokenizedCache(ctx, dataset.id, tokDir)).toBe(file);
  });

  it('deletes the copy it made and never a file it did not copy', async () => {
    const { ctx, root } = context();
    const own = path.join(root, 'mine.jsonl');
    writeFileSync(own, '{"question": "q", "answer": "a"}\n{"question": "q2", "answer": "a2"}\n');
    const { dataset } = await importDataset(ctx, own, { splitRatio: 0 });
    const dir = datasetDir(dataset);
    expect(existsSync(dir)).toBe(true);
    const second = await importDataset(ctx, own, { splitRatio: 0 });
    expect(second.summary.notes.join()).toMatch(/already imported as “mine” \(#1\)/);
    removeDataset(ctx, second.dataset.id);
    expect(removeDataset(ctx, dataset.id)).toEqual({ deleted: true, removedFiles: true });
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(own)).toBe(true);
  });

  it('refuses a file with no recognizable columns before copying anything', async () => {
    const { ctx, root } = context();
    const f = path.join(root, 'x.csv');
    writeFileSync(f, 'a,b\n1,2\n');
    await expect(importDataset(ctx, f)).rejects.toThrow(/Cannot tell which columns/);
    expect(existsSync(ctx.datasetsDir)).toBe(false);
  });

  it('answers datasets:* through the dispatcher with validated payloads', async () => {
    const { ctx, root } = context();
    const services = { db: ctx.db, paths: { datasets: ctx.datasetsDir, root } } as unknown as AppServices;
    const handlers = datasetsHandlers(services) as unknown as Handlers;
    const bad = await dispatch(handlers, 'datasets:import', { path: '' });
    expect(bad.ok).toBe(false);
    const inspected = await dispatch(handlers, 'datasets:inspect', { path: realFile, splitRatio: 0 });
    expect(inspected.ok && (inspected.value as { rows: unknown }).rows).toEqual({ train: 1500 });
    const missing = await dispatch(handlers, 'datasets:get', { id: 999 });
    expect(!missing.ok && missing.error.code).toBe('not_found');
  });
});
