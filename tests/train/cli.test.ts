// `hukuk train` end to end in-process: arguments, the importer's reader on the real file, JSON
// lines, the adapter on disk; and the errors a person gets for bad input.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../main/cli/commands/train';
import type { CliContext } from '../../main/cli/types';
import { loadTrainEngine } from '../../worker/trainer/engine-api';
import { SHARED } from './real-data';
import { makeTinyT5 } from './tiny-t5';

const engine = loadTrainEngine();
const root = mkdtempSync(join(tmpdir(), 'hukuk-cli-train-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function ctx(): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { dataDir: join(root, 'data'), stdout: (l) => out.push(l), stderr: (l) => err.push(l), out, err };
}

describe('hukuk train', () => {
  it('refuses missing or bad arguments with exit code 2 and a usage line', async () => {
    const c = ctx();
    expect(await run(['--dataset', 'x.json'], c)).toBe(2);
    expect(c.err.join('\n')).toMatch(/--model and --dataset are required/);
    const d = ctx();
    expect(await run(['--bogus'], d)).toBe(2);
    expect(d.err.join('\n')).toMatch(/usage: hukuk train/);
  });

  it('reports a wrong tokenizer/model pair before training', async () => {
    const model = join(root, 'small-vocab');
    makeTinyT5(model, { vocabSize: 100, dModel: 16, dKv: 4, numHeads: 4, dFf: 32, numLayers: 1, numDecoderLayers: 1 });
    const c = ctx();
    const code = await run(
      ['--model', model, '--tokenizer', join(SHARED, 'fixtures/tokenizer'), '--dataset', join(SHARED, 'data/turkish-law-chatbot-test.json'), '--json'],
      c,
    );
    expect(code).toBe(1);
    const last = JSON.parse(c.out[c.out.length - 1]) as { type: string; message: string };
    expect(last.type).toBe('error');
    expect(last.message).toMatch(/vocabulary has 100 entries/);
  });

  it.skipIf(engine.T5Model === undefined)('trains a tiny T5 on the real file and writes a peft adapter (--json)', async () => {
    const model = join(root, 'tiny');
    makeTinyT5(model, { vocabSize: 1100, dModel: 32, dKv: 8, numHeads: 4, dFf: 64, numLayers: 1, numDecoderLayers: 1 }, 3);
    const out = join(root, 'run');
    const c = ctx();
    const code = await run(
      [
        '--model', model,
        '--tokenizer', join(SHARED, 'fixtures/tokenizer'),
        '--dataset', join(SHARED, 'data/turkish-law-chatbot-test.json'),
        '--preset', 'quick-cpu-smoke',
        '--max-steps', '6',
        '--eval-every', '3',
        '--set', 'maxEvalSamples=16',
        '--set', 'checkpointEvery=3',
        '--output', out,
        '--json',
      ],
      c,
    );
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    const lines = c.out.map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    expect(lines[0]).toMatchObject({ type: 'start', trainRows: 1350, validationRows: 150 });
    const metrics = lines.filter((l) => l.type === 'metrics').flatMap((l) => l.metrics as { kind: string; step: number }[]);
    expect(metrics.filter((m) => m.kind === 'train').map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(metrics.filter((m) => m.kind === 'eval').map((m) => m.step)).toEqual([3, 6]);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'result', status: 'completed', steps: 6 });
    expect(existsSync(join(out, 'adapter', 'adapter_model.safetensors'))).toBe(true);
    expect(existsSync(join(out, 'checkpoints', 'step-3', 'COMPLETE'))).toBe(true);
  });
});
