// engine.generate against transformers' generate for the options the fixtures' own goldens do
// not reach (length_penalty, early_stopping, repetition_penalty, no_repeat_ngram_size,
// min_new_tokens, eos at different lengths, padded batches): tests/native/generate_goldens.json,
// made by tests/native/generate_goldens.py with transformers 5.17 + peft 0.21 on the CPU in fp32.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { numelOf, parseSafetensors } from '../../common/formats/safetensors';
import type { Engine, GenerateOptions } from '../../native/index';

const require = createRequire(import.meta.url);
const { loadEngine } = require('../../native/index.cjs') as typeof import('../../native/index');
const engine = loadEngine() as Engine & {
  T5Model?: { load(opts: { modelDir: string }): { loadAdapter(dir: string): void; dispose?(): void } };
};

const FIXTURES = resolve(__dirname, '../fixtures/t5');
const GOLDENS = resolve(__dirname, 'generate_goldens.json');

interface HfCase {
  case: string;
  scope: 'row0' | 'batch';
  kwargs: {
    num_beams?: number;
    length_penalty?: number;
    early_stopping?: boolean | 'never';
    repetition_penalty?: number;
    no_repeat_ngram_size?: number;
    min_new_tokens?: number;
    eos_token_id?: number;
  };
  ids: number[][];
}
interface HfGoldens {
  transformers: string;
  max_new_tokens: number;
  fixtures: Record<string, HfCase[]>;
}

function inputsOf(dir: string) {
  const bytes = new Uint8Array(readFileSync(join(dir, 'goldens.safetensors')));
  const h = parseSafetensors(bytes);
  const get = (name: string) => {
    const t = h.tensors.find((x) => x.name === name)!;
    return { shape: t.shape, data: new Int32Array(bytes.slice(t.begin, t.end).buffer, 0, numelOf(t.shape)) };
  };
  return { ids: get('input_ids'), mask: get('attention_mask') };
}

function options(c: HfCase, maxNewTokens: number): Omit<GenerateOptions, 'inputIds'> {
  const k = c.kwargs;
  return {
    maxNewTokens,
    numBeams: k.num_beams,
    lengthPenalty: k.length_penalty,
    earlyStopping: k.early_stopping,
    repetitionPenalty: k.repetition_penalty,
    noRepeatNgramSize: k.no_repeat_ngram_size,
    minNewTokens: k.min_new_tokens,
    eosTokenId: k.eos_token_id,
  };
}

const goldens: HfGoldens | null = existsSync(GOLDENS) ? JSON.parse(readFileSync(GOLDENS, 'utf8')) : null;

describe('generate: options against transformers (generate_goldens.json)', () => {
  it('has the goldens', () => {
    expect(goldens).not.toBeNull();
    expect(Object.keys(goldens!.fixtures).length).toBeGreaterThan(0);
  });

  for (const [name, cases] of Object.entries(goldens?.fixtures ?? {})) {
    it.skipIf(!engine.T5Model)(`${name}: ${cases.length} cases identical`, async () => {
      const dir = join(FIXTURES, name);
      const { ids, mask } = inputsOf(dir);
      const [B, S] = ids.shape;
      const n0 = mask.data.subarray(0, S).reduce((a, b) => a + b, 0);
      const model = engine.T5Model!.load({ modelDir: join(dir, 'model') });
      const mismatches: string[] = [];
      try {
        model.loadAdapter(join(dir, 'adapter'));
        for (const c of cases) {
          const input =
            c.scope === 'row0'
              ? { inputIds: ids.data.slice(0, n0), attentionMask: mask.data.slice(0, n0), batch: 1 }
              : { inputIds: ids.data, attentionMask: mask.data, batch: B };
          const out = await engine.generate(model, { ...input, ...options(c, goldens!.max_new_tokens) });
          const len = out.length / input.batch;
          const rows = Array.from({ length: input.batch }, (_, b) => Array.from(out.subarray(b * len, (b + 1) * len)));
          if (JSON.stringify(rows) !== JSON.stringify(c.ids))
            mismatches.push(`${c.case}/${c.scope}: ours ${JSON.stringify(rows)} transformers ${JSON.stringify(c.ids)}`);
        }
      } finally {
        model.dispose?.();
      }
      expect(mismatches).toEqual([]);
    });
  }
});
