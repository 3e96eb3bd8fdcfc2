// A tiny random T5 (t5 / ReLU, or gated-gelu / tied embeddings) written as config.json + model.safetensors,
// with transformers' initialisation scales, for trainer tests and the CPU benchmark. Made at
// test time from a seed, so no binary fixture is committed; its vocabulary matches the shared
// SentencePiece fixture (../shared/fixtures/tokenizer) so the real Turkish data can train it.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { serializeSafetensors } from '../../common/formats/safetensors';
import { SeededRng } from '../../common/training/rng';

export interface TinyT5Shape {
  vocabSize: number;
  dModel: number;
  dKv: number;
  numHeads: number;
  dFf: number;
  numLayers: number;
  numDecoderLayers: number;
  buckets?: number;
  /** gated-gelu FFN (wi_0, wi_1; t5 v1.1 / mt5 style) instead of ReLU's single wi */
  gated?: boolean;
}

export function makeTinyT5(dir: string, shape: TinyT5Shape, seed = 1): void {
  const r = new SeededRng(seed);
  const gauss = (std: number) => {
    const u = Math.max(r.next(), 1e-12);
    return std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r.next());
  };
  const buckets = shape.buckets ?? 32;
  const inner = shape.numHeads * shape.dKv;
  const tensors: { name: string; dtype: 'F32'; shape: number[]; data: Uint8Array }[] = [];
  const add = (name: string, dims: number[], std: number | 'ones') => {
    const n = dims.reduce((a, b) => a * b, 1);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = std === 'ones' ? 1 : gauss(std);
    tensors.push({ name, dtype: 'F32', shape: dims, data: new Uint8Array(a.buffer) });
  };
  const d = shape.dModel;
  const attn = (prefix: string, bias: boolean) => {
    add(`${prefix}.q.weight`, [inner, d], (d * shape.dKv) ** -0.5);
    add(`${prefix}.k.weight`, [inner, d], d ** -0.5);
    add(`${prefix}.v.weight`, [inner, d], d ** -0.5);
    add(`${prefix}.o.weight`, [d, inner], inner ** -0.5);
    if (bias) add(`${prefix}.relative_attention_bias.weight`, [buckets, shape.numHeads], d ** -0.5);
  };
  const ff = (prefix: string) => {
    if (shape.gated) {
      add(`${prefix}.wi_0.weight`, [shape.dFf, d], d ** -0.5);
      add(`${prefix}.wi_1.weight`, [shape.dFf, d], d ** -0.5);
    } else {
      add(`${prefix}.wi.weight`, [shape.dFf, d], d ** -0.5);
    }
    add(`${prefix}.wo.weight`, [d, shape.dFf], shape.dFf ** -0.5);
  };
  add('shared.weight', [shape.vocabSize, d], 1.0);
  for (let i = 0; i < shape.numLayers; i++) {
    const p = `encoder.block.${i}`;
    attn(`${p}.layer.0.SelfAttention`, i === 0);
    add(`${p}.layer.0.layer_norm.weight`, [d], 'ones');
    ff(`${p}.layer.1.DenseReluDense`);
    add(`${p}.layer.1.layer_norm.weight`, [d], 'ones');
  }
  add('encoder.final_layer_norm.weight', [d], 'ones');
  for (let i = 0; i < shape.numDecoderLayers; i++) {
    const p = `decoder.block.${i}`;
    attn(`${p}.layer.0.SelfAttention`, i === 0);
    add(`${p}.layer.0.layer_norm.weight`, [d], 'ones');
    attn(`${p}.layer.1.EncDecAttention`, false);
    add(`${p}.layer.1.layer_norm.weight`, [d], 'ones');
    ff(`${p}.layer.2.DenseReluDense`);
    add(`${p}.layer.2.layer_norm.weight`, [d], 'ones');
  }
  add('decoder.final_layer_norm.weight', [d], 'ones');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.safetensors'), serializeSafetensors(tensors, { format: 'pt' }));
  const config = {
    architectures: ['T5ForConditionalGeneration'],
    model_type: 't5',
    vocab_size: shape.vocabSize,
    d_model: d,
    d_kv: shape.dKv,
    d_ff: shape.dFf,
    num_layers: shape.numLayers,
    num_decoder_layers: shape.numDecoderLayers,
    num_heads: shape.numHeads,
    relative_attention_num_buckets: buckets,
    relative_attention_max_distance: 128,
    dropout_rate: 0.1,
    layer_norm_epsilon: 1e-6,
    feed_forward_proj: shape.gated ? 'gated-gelu' : 'relu',
    tie_word_embeddings: true,
    is_encoder_decoder: true,
    pad_token_id: 0,
    eos_token_id: 1,
    decoder_start_token_id: 0,
    dtype: 'float32',
  };
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
}
