// `hukuk train --gradient-checkpointing auto|on|off`: the flag reaches the config, a bad value is
// refused by the schema, and on the CPU the run says that it does not recompute.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../main/cli/commands/train';
import type { CliContext } from '../../main/cli/types';
import { loadTrainEngine } from '../../worker/trainer/engine-api';
import { SHARED } from '../train/real-data';
import { makeTinyT5 } from '../train/tiny-t5';

const engine = loadTrainEngine();
const root = mkdtempSync(join(tmpdir(), 'hukuk-cli-ckpt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function ctx(): CliContext & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { dataDir: join(root, 'data'), stdout: (l) => out.push(l), stderr: (l) => err.push(l), out, err };
}

const common = (model: string) => [
  '--model', model,
  '--tokenizer', join(SHARED, 'fixtures/tokenizer'),
  '--dataset', join(SHARED, 'data/turkish-law-chatbot-test.json'),
  '--preset', 'quick-cpu-smoke',
  '--max-steps', '2',
  '--set', 'maxEvalSamples=8',
  '--json',
];

describe('hukuk train --gradient-checkpointing', () => {
  it('refuses a value that is not auto, on or off', async () => {
    const c = ctx();
    expect(await run([...common(join(root, 'absent')), '--gradient-checkpointing', 'sometimes'], c)).toBe(1);
    const last = JSON.parse(c.out[c.out.length - 1]) as { type: string; message: string };
    expect(last.type).toBe('error');
    expect(last.message).toMatch(/gradientCheckpointing/);
  });

  it.skipIf(engine.T5Model === undefined)('passes the setting through; the CPU run logs that it does not recompute', async () => {
    const model = join(root, 'tiny');
    makeTinyT5(model, { vocabSize: 1100, dModel: 16, dKv: 4, numHeads: 4, dFf: 32, numLayers: 1, numDecoderLayers: 1 }, 3);
    const c = ctx();
    const code = await run([...common(model), '--gradient-checkpointing', 'on', '--output', join(root, 'run')], c);
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    const lines = c.out.map((l) => JSON.parse(l) as { type: string; [k: string]: unknown });
    expect(lines[0]).toMatchObject({ type: 'start', config: { device: 'cpu', gradientCheckpointing: 'on' } });
    expect(lines.some((l) => l.type === 'log' && /gradient checkpointing \(activation recomputation\): off \(the CPU path/.test(String(l.message)))).toBe(true);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'result', status: 'completed', gradientCheckpointing: { setting: 'on', recompute: false, reason: 'cpu' } });
  });
});
