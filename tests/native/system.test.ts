// The addon's system module: CUDA presence and GPU listing never throw on machines
// without a GPU, and engine errors reach JS with .code and .where.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import type { Engine } from '../../native/index';

const require = createRequire(import.meta.url);
const { loadEngine } = require('../../native/index.cjs') as typeof import('../../native/index');

describe('native system module', () => {
  const engine: Engine = loadEngine();

  it('lists registered modules and a version', () => {
    expect(engine.modules).toContain('system');
    expect(engine.version()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('reports whether CUDA was compiled in, as a boolean', () => {
    expect(typeof engine.cudaCompiled()).toBe('boolean');
  });

  it('lists GPUs without throwing, each with the documented fields', () => {
    const gpus = engine.gpus();
    expect(Array.isArray(gpus)).toBe(true);
    if (!engine.cudaCompiled()) expect(gpus).toEqual([]);
    for (const g of gpus) {
      expect(g.name.length).toBeGreaterThan(0);
      expect(g.memoryBytes).toBeGreaterThan(0);
      expect(g.computeCapability).toMatch(/^\d+\.\d+$/);
      expect(typeof g.driver).toBe('string');
    }
  });
});
