import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AppError } from '../../common/contract/errors';
import { parseSafetensors, serializeSafetensors } from '../../common/formats/safetensors';
import { convertTorchBinToSafetensors } from '../../main/io/models/convert';
import { inspectModelFolder } from '../../main/io/models/inspect';
import { parseT5Config } from '../../main/io/models/t5-config';
import { openWeights } from '../../main/io/models/weights';
import { TINY_T5, tensorsFor, torchBin, writeSafetensorsModel, type RawTensor } from './models-builders';

const root = mkdtempSync(join(tmpdir(), 'hukuk-models-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const freshDir = () => join(root, `m${n++}`);

const VARIANTS: Record<string, Record<string, unknown>> = {
  'relu-tied': TINY_T5,
  'gated-gelu-untied': { ...TINY_T5, feed_forward_proj: 'gated-gelu', tie_word_embeddings: false },
  'gated-silu': { ...TINY_T5, feed_forward_proj: 'gated-silu' },
  'decoder-layers-differ': { ...TINY_T5, num_layers: 3, num_decoder_layers: 1, relative_attention_num_buckets: 4, relative_attention_max_distance: 7 },
  // t5-efficient-* shapes: d_kv * num_heads != d_model
  'efficient-inner-dim': { ...TINY_T5, d_kv: 3, num_heads: 4 },
  mt5: { ...TINY_T5, model_type: 'mt5', architectures: ['MT5ForConditionalGeneration'], feed_forward_proj: 'gated-gelu', tie_word_embeddings: false },
};

async function errorOf(p: Promise<unknown>): Promise<AppError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    return e as AppError;
  }
  throw new Error('expected a refusal');
}

async function allTensors(dir: string): Promise<Map<string, { dtype: string; shape: number[]; data: Buffer }>> {
  const w = await openWeights(dir);
  try {
    const out = new Map<string, { dtype: string; shape: number[]; data: Buffer }>();
    for (const [name, t] of w.tensors) out.set(name, { dtype: t.dtype, shape: t.shape, data: Buffer.from(await w.read(name)) });
    return out;
  } finally {
    await w.close();
  }
}

describe('T5 config', () => {
  it('parses feed_forward_proj like transformers (gated-gelu means gelu_new)', () => {
    expect(parseT5Config({ model_type: 't5', feed_forward_proj: 'gated-gelu' })).toMatchObject({ isGatedAct: true, denseActFn: 'gelu_new' });
    expect(parseT5Config({ model_type: 't5', feed_forward_proj: 'gated-silu' })).toMatchObject({ isGatedAct: true, denseActFn: 'silu' });
    expect(parseT5Config({ model_type: 't5', feed_forward_proj: 'gelu' })).toMatchObject({ isGatedAct: false, denseActFn: 'gelu' });
    expect(parseT5Config({ model_type: 't5' })).toMatchObject({ isGatedAct: false, denseActFn: 'relu', numDecoderLayers: 6, tieWordEmbeddings: true, vocabSize: 32128 });
    expect(parseT5Config({ model_type: 'mt5' })).toMatchObject({ isGatedAct: true, tieWordEmbeddings: false, vocabSize: 250112 });
    // transformers 5 writes the output scaling explicitly; 4 implied it from tying
    expect(parseT5Config({ model_type: 't5', tie_word_embeddings: true, scale_decoder_outputs: false }).scaleDecoderOutputs).toBe(false);
    expect(parseT5Config({ model_type: 't5', tie_word_embeddings: true }).scaleDecoderOutputs).toBe(true);
    expect(parseT5Config({ model_type: 't5', tie_word_embeddings: false }).scaleDecoderOutputs).toBe(false);
    expect(() => parseT5Config({ model_type: 't5', feed_forward_proj: 'relu-gated' })).toThrow(/gated-\{ACT_FN\}/);
    expect(() => parseT5Config({ model_type: 't5', feed_forward_proj: 'gated-mish' })).toThrow(/not supported: the activation "mish"/);
  });

  it('refuses other architectures with "not supported: <model_type>"', () => {
    const e = (() => {
      try {
        parseT5Config({ model_type: 'llama', architectures: ['LlamaForCausalLM'] });
      } catch (err) {
        return err as AppError;
      }
    })();
    expect(e?.code).toBe('unsupported');
    expect(e?.message).toMatch(/^not supported: llama/);
  });
});

describe('model folders', () => {
  for (const [variant, config] of Object.entries(VARIANTS)) {
    it(`${variant}: loads from safetensors and from pytorch_model.bin with identical tensors`, async () => {
      const tensors = tensorsFor(config);
      const st = freshDir();
      writeSafetensorsModel(st, config, tensors);
      const bin = freshDir();
      mkdirSync(bin);
      writeFileSync(join(bin, 'config.json'), JSON.stringify(config));
      // tied models carry lm_head.weight / embed_tokens as views of shared.weight in a .bin
      const c = parseT5Config(config);
      const shared = tensors[0];
      const tiedExtras: RawTensor[] = [
        { ...shared, name: 'encoder.embed_tokens.weight' },
        { ...shared, name: 'decoder.embed_tokens.weight' },
        ...(c.tieWordEmbeddings ? [{ ...shared, name: 'lm_head.weight' }] : []),
      ];
      const tie = Object.fromEntries(tiedExtras.map((t) => [t.name, 'shared.weight']));
      writeFileSync(join(bin, 'pytorch_model.bin'), torchBin([...tensors, ...tiedExtras], tie));

      const a = await inspectModelFolder(st);
      const b = await inspectModelFolder(bin);
      expect(a.format).toBe('safetensors');
      expect(b.format).toBe('pytorch-bin');
      expect(b.paramCount).toBe(a.paramCount);
      expect(a.paramCount).toBe(tensors.reduce((s, t) => s + t.data.length / 4, 0));
      expect(a.dtype).toBe('F32');
      expect(a.config.numLayers).toBe(c.numLayers);
      expect(a.config.numDecoderLayers).toBe(c.numDecoderLayers);

      const fromSt = await allTensors(st);
      const fromBin = await allTensors(bin);
      for (const [name, t] of fromSt) expect(fromBin.get(name), name).toEqual(t);
      for (const t of tiedExtras) expect(fromBin.get(t.name)!.data.equals(fromSt.get('shared.weight')!.data)).toBe(true);

      // conversion writes the tied copies once, and the result reads back identical
      const conv = freshDir();
      mkdirSync(conv);
      writeFileSync(join(conv, 'config.json'), JSON.stringify(config));
      const r = await convertTorchBinToSafetensors(join(bin, 'pytorch_model.bin'), join(conv, 'model.safetensors'));
      expect(Object.keys(r.dropped).sort()).toEqual(tiedExtras.map((t) => t.name).sort());
      expect(await allTensors(conv)).toEqual(fromSt);
      expect(parseSafetensors(readFileSync(join(conv, 'model.safetensors'))).metadata).toEqual({ format: 'pt' });
    });
  }

  it('reads F16/BF16 weights and reports the dtype', async () => {
    for (const dtype of ['F16', 'BF16'] as const) {
      const dir = freshDir();
      writeSafetensorsModel(dir, TINY_T5, tensorsFor(TINY_T5, dtype));
      expect((await inspectModelFolder(dir)).dtype).toBe(dtype);
    }
  });

  it('reads sharded safetensors through model.safetensors.index.json', async () => {
    const tensors = tensorsFor(TINY_T5);
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(TINY_T5));
    const half = Math.floor(tensors.length / 2);
    const shards = [tensors.slice(0, half), tensors.slice(half)];
    const weightMap: Record<string, string> = {};
    shards.forEach((s, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      writeFileSync(join(dir, file), serializeSafetensors(s));
      for (const t of s) weightMap[t.name] = file;
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    const info = await inspectModelFolder(dir);
    expect(info.format).toBe('safetensors-sharded');
    expect(info.weightFiles).toHaveLength(2);
    const st = freshDir();
    writeSafetensorsModel(st, TINY_T5, tensors);
    expect(await allTensors(dir)).toEqual(await allTensors(st));

    // an index that points at the wrong shard is refused
    const wrong = { ...weightMap, 'shared.weight': 'model-00002-of-00002.safetensors' };
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: wrong }));
    expect((await errorOf(inspectModelFolder(dir))).message).toMatch(/tensor shared\.weight is in model-00001-of-00002.safetensors, but the index says/);
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...weightMap, x: '../../etc/passwd' } }));
    expect((await errorOf(inspectModelFolder(dir))).message).toMatch(/not a file name in the folder/);
  });

  it('refuses a LLaMA folder with "not supported: llama"', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', architectures: ['LlamaForCausalLM'] }));
    const e = await errorOf(inspectModelFolder(dir));
    expect(e.code).toBe('unsupported');
    expect(e.message).toMatch(/not supported: llama/);
  });

  it('refuses missing tensors, wrong shapes and integer dtypes, naming tensor and file', async () => {
    const tensors = tensorsFor(TINY_T5);
    const missing = freshDir();
    writeSafetensorsModel(missing, TINY_T5, tensors.filter((t) => t.name !== 'decoder.block.1.layer.1.EncDecAttention.k.weight'));
    const e1 = await errorOf(inspectModelFolder(missing));
    expect(e1.code).toBe('corrupt_file');
    expect(e1.message).toMatch(/tensor decoder\.block\.1\.layer\.1\.EncDecAttention\.k\.weight is missing from model\.safetensors/);

    const wrongShape = freshDir();
    writeSafetensorsModel(wrongShape, { ...TINY_T5, vocab_size: 41 }, tensors);
    expect((await errorOf(inspectModelFolder(wrongShape))).message).toMatch(
      /tensor shared\.weight in model\.safetensors has shape \[40, 8\], but config\.json implies \[41, 8\]/,
    );

    const intDtype = freshDir();
    writeSafetensorsModel(intDtype, TINY_T5, tensors.map((t) => (t.name === 'encoder.final_layer_norm.weight' ? { ...t, dtype: 'I32' as const } : t)));
    expect((await errorOf(inspectModelFolder(intDtype))).message).toMatch(/tensor encoder\.final_layer_norm\.weight in model\.safetensors has dtype I32/);

    const untiedNoHead = freshDir();
    writeSafetensorsModel(untiedNoHead, { ...TINY_T5, tie_word_embeddings: false }, tensors);
    expect((await errorOf(inspectModelFolder(untiedNoHead))).message).toMatch(/tensor lm_head\.weight is missing/);
  });

  it('refuses truncated safetensors and pytorch_model.bin files', async () => {
    const tensors = tensorsFor(TINY_T5);
    const st = freshDir();
    writeSafetensorsModel(st, TINY_T5, tensors);
    const file = join(st, 'model.safetensors');
    truncateSync(file, statSync(file).size - 10);
    const e = await errorOf(inspectModelFolder(st));
    expect(e.code).toBe('corrupt_file');
    expect(e.message).toMatch(new RegExp(`model\\.safetensors: tensor ${tensors[tensors.length - 1].name.replace(/\./g, '\\.')}: .*truncated`));

    const bin = freshDir();
    mkdirSync(bin);
    writeFileSync(join(bin, 'config.json'), JSON.stringify(TINY_T5));
    const bytes = torchBin(tensors);
    writeFileSync(join(bin, 'pytorch_model.bin'), bytes.subarray(0, bytes.length - 100));
    expect((await errorOf(inspectModelFolder(bin))).code).toBe('corrupt_file');

    // a storage shorter than the pickle says
    const short = freshDir();
    mkdirSync(short);
    writeFileSync(join(short, 'config.json'), JSON.stringify(TINY_T5));
    const cut = tensors.map((t) => (t.name === 'encoder.final_layer_norm.weight' ? { ...t, data: t.data.subarray(0, 8) } : t));
    writeFileSync(join(short, 'pytorch_model.bin'), torchBin(cut));
    expect((await errorOf(inspectModelFolder(short))).message).toMatch(/of tensor encoder\.final_layer_norm\.weight\) has 8 bytes/);
  });

  it('reads zip64 archives (what torch.save writes past 4 GB) and a renamed archive folder', async () => {
    const tensors = tensorsFor(TINY_T5);
    const plain = freshDir();
    writeSafetensorsModel(plain, TINY_T5, tensors);
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(TINY_T5));
    writeFileSync(join(dir, 'pytorch_model.bin'), torchBin(tensors, {}, 'pytorch_model', true));
    expect(await allTensors(dir)).toEqual(await allTensors(plain));
  });

  it('refuses a hostile pytorch_model.bin naming os.system', async () => {
    const dir = freshDir();
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(TINY_T5));
    const { storedZip } = await import('./models-builders');
    const enc = (s: string) => [...new TextEncoder().encode(s)];
    const pkl = Uint8Array.from([0x80, 2, 0x63, ...enc('os\nsystem\n'), 0x58, 5, 0, 0, 0, ...enc('touch'), 0x85, 0x52, 0x2e]);
    writeFileSync(join(dir, 'pytorch_model.bin'), storedZip([{ name: 'archive/data.pkl', data: pkl }]));
    const e = await errorOf(inspectModelFolder(dir));
    expect(e.code).toBe('corrupt_file');
    expect(e.message).toContain('os.system');
  });
});
