// Many engine tests skip themselves when a piece is missing (a partial build while developing).
// This test makes sure that cannot hide a broken build: after `npm install` the addon must carry
// every module and the fixtures the skipping tests depend on must be present.
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const require_ = createRequire(__filename);
const { loadEngine } = require_('../../native/index.cjs');

describe('the built engine is complete', () => {
  const engine = loadEngine();

  it('has every module', () => {
    for (const m of ['system', 'nf4', 'ops', 't5', 'generate', 'train', 'train_model']) expect(engine.modules).toContain(m);
  });

  it('exports the functions the app and the tests use', () => {
    for (const fn of ['version', 'gpus', 'cudaCompiled', 'generate', 'optimizerStep', 'lrMultiplier', 'nf4Quantize', 'nf4Dequantize'])
      expect(typeof engine[fn], fn).toBe('function');
    expect(typeof engine.T5Model?.load).toBe('function');
  });

  it('has the fixtures the engine tests read', () => {
    const root = resolve(__dirname, '../fixtures');
    const t5 = readdirSync(join(root, 't5')).filter((d) => existsSync(join(root, 't5', d, 'goldens.safetensors')));
    expect(t5.length).toBeGreaterThanOrEqual(6);
    expect(existsSync(join(root, 'train', 'adamw_goldens.safetensors'))).toBe(true);
  });
});
