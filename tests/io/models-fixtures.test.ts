// The tiny T5 fixtures made by transformers (tools/make_parity_fixtures.py): each variant
// must load from model.safetensors and from the real torch.save pytorch_model.bin with the
// same tensors, and the .bin converted to safetensors must equal them too.
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { convertTorchBinToSafetensors } from '../../main/io/models/convert';
import { inspectModelFolder } from '../../main/io/models/inspect';
import { openWeights, type WeightFormat } from '../../main/io/models/weights';

const FIXTURES = resolve(__dirname, '../fixtures/t5');
const variants = existsSync(FIXTURES)
  ? readdirSync(FIXTURES).filter((v) => existsSync(join(FIXTURES, v, 'model', 'pytorch_model.bin')))
  : [];
const tmp = mkdtempSync(join(tmpdir(), 'hukuk-fixtures-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function tensors(dir: string, format?: WeightFormat): Promise<Map<string, { dtype: string; shape: number[]; data: Buffer }>> {
  const w = await openWeights(dir, format);
  try {
    const out = new Map<string, { dtype: string; shape: number[]; data: Buffer }>();
    for (const [name, t] of w.tensors) out.set(name, { dtype: t.dtype, shape: t.shape, data: Buffer.from(await w.read(name)) });
    return out;
  } finally {
    await w.close();
  }
}

describe('transformers-made T5 fixtures', () => {
  it('are present', () => {
    expect(variants.length).toBeGreaterThanOrEqual(2);
  });
  for (const v of variants) {
    it(`${v}: safetensors and pytorch_model.bin give the same tensors`, async () => {
      const dir = join(FIXTURES, v, 'model');
      const a = await inspectModelFolder(dir, { format: 'safetensors' });
      const b = await inspectModelFolder(dir, { format: 'pytorch-bin' });
      expect(b.paramCount).toBe(a.paramCount);
      expect(a.name).toBe(v); // <variant>/model: named after the variant folder
      expect(a.warnings.filter((w) => w.includes('tensor'))).toEqual([]);
      const st = await tensors(dir, 'safetensors');
      const bin = await tensors(dir, 'pytorch-bin');
      for (const [name, t] of st) expect(bin.get(name), `${v}: ${name}`).toEqual(t);
      // the .bin may carry tied copies save_pretrained drops from safetensors: same bytes
      for (const [name, t] of bin) {
        if (!st.has(name)) expect(t.data.equals(st.get('shared.weight')!.data), `${v}: extra ${name}`).toBe(true);
      }
      const out = join(tmp, v);
      cpSync(join(dir, 'config.json'), join(out, 'config.json'), { recursive: true });
      await convertTorchBinToSafetensors(join(dir, 'pytorch_model.bin'), join(out, 'model.safetensors'));
      const conv = await tensors(out);
      for (const [name, t] of st) expect(conv.get(name), `${v} converted: ${name}`).toEqual(t);
      expect((await inspectModelFolder(out)).paramCount).toBe(a.paramCount);
    });
  }
});
