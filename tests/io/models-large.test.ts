// The flagship's shape (t5-efficient-base-turkish: 36+36 layers, d_model 768, 2.48 GB in
// fp32) as sparse files: opening, validating and reading one tensor must cost the headers
// and that tensor, not the file.
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildHeader } from '../../common/formats/safetensors';
import { inspectModelFolder } from '../../main/io/models/inspect';
import { expectedT5Tensors, parseT5Config } from '../../main/io/models/t5-config';
import { openWeights } from '../../main/io/models/weights';
import { writeSparseTorchBin } from './models-builders';

const FLAGSHIP = {
  model_type: 't5',
  architectures: ['T5ForConditionalGeneration'],
  vocab_size: 32128,
  d_model: 768,
  d_kv: 64,
  d_ff: 3072,
  num_layers: 36,
  num_decoder_layers: 36,
  num_heads: 12,
  feed_forward_proj: 'relu',
  tie_word_embeddings: true,
};
const root = mkdtempSync(join(tmpdir(), 'hukuk-large-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const tensors = expectedT5Tensors(parseT5Config(FLAGSHIP)).map((e) => ({ name: e.name, dtype: 'F32' as const, shape: e.shape }));

function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

describe('flagship-size model files (sparse)', () => {
  it('safetensors: inspect and read one tensor with a small fraction of the file in memory', async () => {
    const dir = join(root, 'st');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(FLAGSHIP));
    const { bytes, dataBytes } = buildHeader(tensors);
    const fd = openSync(join(dir, 'model.safetensors'), 'w');
    writeSync(fd, bytes);
    ftruncateSync(fd, bytes.length + dataBytes);
    closeSync(fd);
    expect(bytes.length + dataBytes).toBeGreaterThan(2.4e9);

    const before = used();
    const info = await inspectModelFolder(dir);
    expect(info.paramCount).toBeGreaterThan(600e6);
    expect(info.config.numLayers).toBe(36);
    const w = await openWeights(dir);
    const q = await w.read('decoder.block.35.layer.1.EncDecAttention.q.weight');
    expect(q.length).toBe(768 * 768 * 4);
    await w.close();
    expect(used() - before).toBeLessThan(150e6);
  });

  it('pytorch_model.bin: the zip directory and pickle are read, the storages are not', async () => {
    const dir = join(root, 'bin');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(FLAGSHIP));
    const size = writeSparseTorchBin(join(dir, 'pytorch_model.bin'), tensors);
    expect(size).toBeGreaterThan(2.4e9);
    const before = used();
    const info = await inspectModelFolder(dir);
    expect(info.format).toBe('pytorch-bin');
    expect(info.tensorCount).toBe(tensors.length);
    const w = await openWeights(dir);
    expect((await w.read('encoder.block.0.layer.1.DenseReluDense.wi.weight')).length).toBe(3072 * 768 * 4);
    await w.close();
    expect(used() - before).toBeLessThan(150e6);
  });
});
