// The shipped presets parse, resolve to valid configs, and say what the brief asks of them.
import { describe, expect, it } from 'vitest';
import { configFromPreset, TRAINING_PRESETS } from '../../common/training';

describe('training presets', () => {
  it('every preset resolves to a valid full config', () => {
    expect(TRAINING_PRESETS.map((p) => p.name).sort()).toEqual(['flagship-qlora', 'memory-saver', 'quick-cpu-smoke']);
    for (const p of TRAINING_PRESETS) {
      const c = configFromPreset(p.name);
      expect(c.learningRate).toBeGreaterThan(0);
      expect(p.title.tr.length).toBeGreaterThan(0);
    }
  });
  it('flagship-qlora is the QLoRA study setting', () => {
    const c = configFromPreset('flagship-qlora');
    expect(c).toMatchObject({ quantization: 'nf4', loraR: 16, loraAlpha: 32, loraDropout: 0.05, batchSize: 16, maxSourceLength: 64, maxTargetLength: 128 });
    expect(c.targetModules).toEqual(['q', 'k', 'v', 'o']);
    expect(c.learningRate).toBeGreaterThanOrEqual(1e-4);
    expect(c.learningRate).toBeLessThanOrEqual(3e-4);
  });
  it('overrides win over the preset and are validated', () => {
    expect(configFromPreset('quick-cpu-smoke', { maxSteps: 7 }).maxSteps).toBe(7);
    expect(() => configFromPreset('quick-cpu-smoke', { compute: 'bf16' })).toThrow();
    expect(() => configFromPreset('nope')).toThrow(/unknown preset/);
  });
});
