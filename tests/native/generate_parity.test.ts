// engine.generate on the real T5 against transformers: every committed parity fixture
// (tests/fixtures/t5/<name>/goldens.safetensors, made by tools/make_parity_fixtures.py with
// transformers 5.17 + peft) holds greedy_ids and beam4_ids = generate(row 0 of input_ids, its
// attention mask, max_new_tokens 20, num_beams 1 / 4, length_penalty 1, early_stopping False),
// with the adapter, decoder start included. Ours must be identical, id for id.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { numelOf, parseSafetensors } from '../../common/formats/safetensors';
import type { Engine } from '../../native/index';

const require = createRequire(import.meta.url);
const { loadEngine } = require('../../native/index.cjs') as typeof import('../../native/index');
const engine = loadEngine() as Engine & {
  T5Model?: { load(opts: { modelDir: string }): { loadAdapter(dir: string): void; dispose?(): void } };
};

const FIXTURES = resolve(__dirname, '../fixtures/t5');

function readInt32(file: string, names: string[]): Record<string, { shape: number[]; data: Int32Array }> {
  const bytes = new Uint8Array(readFileSync(file));
  const h = parseSafetensors(bytes, file);
  const out: Record<string, { shape: number[]; data: Int32Array }> = {};
  for (const t of h.tensors) {
    if (!names.includes(t.name)) continue;
    expect(t.dtype, `${file}: ${t.name}`).toBe('I32');
    const copy = bytes.slice(t.begin, t.end);
    out[t.name] = { shape: t.shape, data: new Int32Array(copy.buffer, 0, numelOf(t.shape)) };
  }
  return out;
}

const fixtures = existsSync(FIXTURES)
  ? readdirSync(FIXTURES).filter((d) => existsSync(join(FIXTURES, d, 'goldens.safetensors')))
  : [];

describe('generate: parity with transformers on the T5 fixtures', () => {
  it('has fixtures with generation goldens', () => {
    expect(fixtures.length).toBeGreaterThan(0);
  });

  for (const name of fixtures) {
    const dir = join(FIXTURES, name);
    const names = parseSafetensors(new Uint8Array(readFileSync(join(dir, 'goldens.safetensors')))).tensors.map((t) => t.name);
    // a fixture whose transformers run could not generate (see tools/make_parity_fixtures.py) shows as skipped
    const hasGoldens = names.includes('greedy_ids') || names.includes('beam4_ids');
    it.skipIf(!engine.T5Model || !hasGoldens)(`${name}: greedy_ids and beam4_ids identical`, async () => {
      const g = readInt32(join(dir, 'goldens.safetensors'), ['input_ids', 'attention_mask', 'greedy_ids', 'beam4_ids']);
      const [, srcLen] = g.input_ids.shape;
      // row 0, cut to its real length as the fixture maker did
      const mask0 = g.attention_mask ? g.attention_mask.data.subarray(0, srcLen) : new Int32Array(srcLen).fill(1);
      const len0 = mask0.reduce((a, b) => a + b, 0);
      const inputIds = g.input_ids.data.slice(0, len0);
      const attentionMask = mask0.slice(0, len0);
      const model = engine.T5Model!.load({ modelDir: join(dir, 'model') });
      try {
        if (existsSync(join(dir, 'adapter'))) model.loadAdapter(join(dir, 'adapter'));
        if (g.greedy_ids) {
          const ids = await engine.generate(model, { inputIds, attentionMask, maxNewTokens: 20 });
          expect(Array.from(ids), `${name} greedy`).toEqual(Array.from(g.greedy_ids.data));
        }
        if (g.beam4_ids) {
          const ids = await engine.generate(model, { inputIds, attentionMask, maxNewTokens: 20, numBeams: 4 });
          expect(Array.from(ids), `${name} beam4`).toEqual(Array.from(g.beam4_ids.data));
        }
      } finally {
        model.dispose?.();
      }
    });
  }
});

describe('generate: the real T5 in a batch', () => {
  // The padding fixture has 3 rows of lengths 14, 5 and 1: batched generation (attention mask,
  // beams of all rows in one cache, reorders across the batch) must give each row what it gets alone.
  it.skipIf(!engine.T5Model || !existsSync(join(FIXTURES, 'padding')))('rows decode as they do alone (greedy, beam 3), tokens stream per row', async () => {
    const dir = join(FIXTURES, 'padding');
    const g = readInt32(join(dir, 'goldens.safetensors'), ['input_ids', 'attention_mask']);
    const [B, S] = g.input_ids.shape;
    const model = engine.T5Model!.load({ modelDir: join(dir, 'model') });
    try {
      model.loadAdapter(join(dir, 'adapter'));
      for (const numBeams of [1, 3]) {
        const events: [number, number][] = [];
        const batched = await engine.generate(
          model,
          { inputIds: g.input_ids.data, attentionMask: g.attention_mask.data, batch: B, maxNewTokens: 12, numBeams },
          (t, row) => events.push([row, t]),
        );
        const len = batched.length / B;
        for (let b = 0; b < B; b++) {
          const mask = g.attention_mask.data.subarray(b * S, (b + 1) * S);
          const n = mask.reduce((x, y) => x + y, 0);
          const alone = await engine.generate(model, { inputIds: g.input_ids.data.slice(b * S, b * S + n), maxNewTokens: 12, numBeams });
          const row = Array.from(batched.subarray(b * len, (b + 1) * len));
          expect(row.slice(0, alone.length), `row ${b} beams ${numBeams}`).toEqual(Array.from(alone));
          const streamed = events.filter(([r]) => r === b).map(([, t]) => t);
          expect(streamed).toEqual(Array.from(alone).slice(1));
        }
      }
    } finally {
      model.dispose?.();
    }
  });

  it.skipIf(!engine.T5Model)('two generations at once on one model take turns and both are right', async () => {
    const dir = join(FIXTURES, 'gated_gelu_untied');
    const g = readInt32(join(dir, 'goldens.safetensors'), ['input_ids', 'greedy_ids', 'beam4_ids']);
    const inputIds = g.input_ids.data.slice(0, g.input_ids.shape[1]);
    const model = engine.T5Model!.load({ modelDir: join(dir, 'model') });
    try {
      model.loadAdapter(join(dir, 'adapter'));
      const [greedy, beam] = await Promise.all([
        engine.generate(model, { inputIds, maxNewTokens: 20 }),
        engine.generate(model, { inputIds, maxNewTokens: 20, numBeams: 4 }),
      ]);
      expect(Array.from(greedy)).toEqual(Array.from(g.greedy_ids.data));
      expect(Array.from(beam)).toEqual(Array.from(g.beam4_ids.data));
    } finally {
      model.dispose?.();
    }
  });

  it.skipIf(!engine.T5Model)('stops at eos on the real model (eos set to a token greedy reaches)', async () => {
    // These random models rarely produce eos 1 in 20 tokens; making greedy's 4th token the eos
    // must cut greedy_ids right after that token's first appearance, and no beam hypothesis may
    // go on past it.
    const dir = join(FIXTURES, 'gated_gelu_untied');
    const g = readInt32(join(dir, 'goldens.safetensors'), ['input_ids', 'greedy_ids']);
    const inputIds = g.input_ids.data.slice(0, g.input_ids.shape[1]);
    const greedy = Array.from(g.greedy_ids.data);
    const eos = greedy[4];
    const cut = greedy.indexOf(eos, 1);
    expect(cut).toBeLessThan(greedy.length - 1);
    const model = engine.T5Model!.load({ modelDir: join(dir, 'model') });
    try {
      model.loadAdapter(join(dir, 'adapter'));
      const ids = await engine.generate(model, { inputIds, maxNewTokens: 20, eosTokenId: eos });
      expect(Array.from(ids)).toEqual(greedy.slice(0, cut + 1));
      const beam = Array.from(await engine.generate(model, { inputIds, maxNewTokens: 20, numBeams: 4, eosTokenId: eos }));
      const at = beam.indexOf(eos, 1);
      if (at >= 0) expect(at).toBe(beam.length - 1);
      // min_new_tokens keeps greedy going past that token
      const longer = await engine.generate(model, { inputIds, maxNewTokens: 20, eosTokenId: eos, minNewTokens: cut + 1 });
      expect(longer.length).toBeGreaterThan(cut + 1);
      expect(Array.from(longer).slice(1, cut + 2)).not.toContain(eos);
    } finally {
      model.dispose?.();
    }
  });
});
