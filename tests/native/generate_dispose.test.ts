// dispose() while a generation runs must not free the model under it: the generation holds
// a share of the model and finishes (or is cancelled) normally.
import { describe, expect, it } from 'vitest';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';

const require_ = createRequire(__filename);
const { loadEngine } = require_('../../native/index.cjs');
const engine = loadEngine();
const fixture = resolve(__dirname, '../fixtures/t5/relu_tied/model');

describe('generate vs dispose', () => {
  it('a generation in flight survives dispose() of its model', async () => {
    const model = engine.T5Model.load({ modelDir: fixture, device: 'cpu', quant: 'none' });
    const inputIds = Int32Array.from([5, 6, 7, 8, 1]);
    const reference = await engine.generate(model, { inputIds, maxNewTokens: 16 });
    const pending = engine.generate(model, { inputIds, maxNewTokens: 16 });
    model.dispose();
    const ids: Int32Array = await pending;
    expect(Array.from(ids)).toEqual(Array.from(reference));
    // and the disposed model refuses new work with a typed error
    expect(() => engine.generate(model, { inputIds, maxNewTokens: 4 })).toThrow(/disposed/);
  });
});
