// The worker's train:run handler: config validated with the one schema, data from the
// tokenized cache file, events, cancellation as AppError('cancelled'), engine errors mapped.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../../common/contract/errors';
import { encodeTokenizedCache } from '../../common/datasets/cache-format';
import { trainEventMetricPoints } from '../../common/training';
import { loadTrainEngine } from '../../worker/trainer/engine-api';
import { handleTrainRun, trainingErrorToAppError, type TrainRunEvent } from '../../worker/trainer/handler';
import { fakeEngine, UnigramModel } from './fake-engine';

const real = loadTrainEngine();
const root = mkdtempSync(join(tmpdir(), 'hukuk-handler-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const rows = (n: number, off: number) =>
  Array.from({ length: n }, (_, i) => ({ inputIds: [2 + ((i + off) % 7), 3, 1], labels: [4 + ((i * 3 + off) % 5), 1] }));

describe('train:run handler', () => {
  it('trains from a tokenized cache file and reports events', async () => {
    const file = join(root, 'ds.hktc');
    const tr = rows(40, 0);
    const va = rows(8, 1);
    writeFileSync(
      file,
      encodeTokenizedCache(
        { datasetHash: 'd', tokenizerHash: 't', template: { input: 'Soru: {question}', target: '{answer}' }, eosId: 1, padId: 0, createdAt: 0 },
        [
          { name: 'train', inputIds: tr.map((r) => r.inputIds), targetIds: tr.map((r) => r.labels) },
          { name: 'test', inputIds: va.map((r) => r.inputIds), targetIds: va.map((r) => r.labels) },
        ],
      ),
    );
    const events: TrainRunEvent[] = [];
    const model = new UnigramModel(16);
    const result = await handleTrainRun(
      {
        config: { batchSize: 4, maxSteps: 12, evalEvery: 6, checkpointEvery: 6, learningRate: 0.05 },
        modelDir: 'unused',
        outputDir: join(root, 'run'),
        data: { kind: 'cache', file, trainSplit: 'train', validationSplit: 'test' },
      },
      { signal: new AbortController().signal, emit: (e) => events.push(e), engine: fakeEngine(real, model) },
    );
    expect(result.status).toBe('completed');
    expect(result.steps).toBe(12);
    expect(events.some((e) => e.type === 'checkpoint' && e.step === 6)).toBe(true);
    const points = events.flatMap(trainEventMetricPoints);
    expect(points.filter((p) => p.split === 'train' && p.name === 'loss')).toHaveLength(12);
    expect(points.filter((p) => p.split === 'validation').map((p) => p.step)).toEqual([6, 12]);
  });

  it('rejects an invalid config, and a cancelled run ends with code cancelled', async () => {
    const base = { modelDir: 'unused', outputDir: join(root, 'x'), data: { kind: 'inline' as const, train: rows(20, 0), validation: [] } };
    const ctx = { signal: new AbortController().signal, emit: () => {}, engine: fakeEngine(real, new UnigramModel(16)) };
    await expect(handleTrainRun({ ...base, config: { loraR: 0 } }, ctx)).rejects.toMatchObject({ code: 'invalid_payload' });
    const ac = new AbortController();
    ac.abort();
    await expect(handleTrainRun({ ...base, config: { maxSteps: 5 } }, { ...ctx, signal: ac.signal })).rejects.toMatchObject({
      code: 'cancelled',
    });
  });

  it('maps engine errors to codes a person can act on', () => {
    const oom = Object.assign(new Error('out of GPU memory: needed 900 MiB'), { code: 'ENGINE_OOM', where: 'native/src/t5/x.cpp:1' });
    expect(trainingErrorToAppError(oom)).toBeInstanceOf(AppError);
    expect(trainingErrorToAppError(oom).code).toBe('out_of_memory');
    expect(trainingErrorToAppError(Object.assign(new Error('bad'), { code: 'ENGINE_CUDA' })).code).toBe('engine_error');
  });
});
