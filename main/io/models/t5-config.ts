// config.json of the T5 family, read the way transformers' T5Config / MT5Config read it:
// the same defaults, `feed_forward_proj` as "{act}" or "gated-{act}" ("gated-gelu" meaning
// gelu_new, for backward compatibility), num_decoder_layers defaulting to num_layers.
// Other architectures are refused with AppError('unsupported', 'not supported: <type>').
import { AppError } from '../../../common/contract/errors';

export type T5Activation = 'relu' | 'gelu' | 'gelu_new' | 'silu';

export interface T5Config {
  modelType: 't5' | 'mt5';
  vocabSize: number;
  dModel: number;
  dKv: number;
  dFf: number;
  numLayers: number;
  numDecoderLayers: number;
  numHeads: number;
  relativeAttentionNumBuckets: number;
  relativeAttentionMaxDistance: number;
  layerNormEpsilon: number;
  feedForwardProj: string;
  isGatedAct: boolean;
  denseActFn: T5Activation;
  tieWordEmbeddings: boolean;
  /**
   * Whether the decoder output is scaled by d_model^-0.5 before lm_head. transformers 4 did
   * it exactly when the embeddings were tied; transformers 5 writes `scale_decoder_outputs`
   * (and may write tie_word_embeddings: true with scale_decoder_outputs: false).
   */
  scaleDecoderOutputs: boolean;
  padTokenId: number;
  eosTokenId: number;
  decoderStartTokenId: number;
}

const DEFAULTS = {
  t5: { vocab_size: 32128, d_model: 512, d_kv: 64, d_ff: 2048, num_layers: 6, num_heads: 8, feed_forward_proj: 'relu', tie_word_embeddings: true },
  mt5: { vocab_size: 250112, d_model: 512, d_kv: 64, d_ff: 1024, num_layers: 8, num_heads: 6, feed_forward_proj: 'gated-gelu', tie_word_embeddings: false },
} as const;

/** transformers' ACT2FN names the engine implements, mapped to the function it computes. */
const ACTIVATIONS: Record<string, T5Activation> = {
  relu: 'relu',
  gelu: 'gelu',
  gelu_new: 'gelu_new',
  gelu_pytorch_tanh: 'gelu_new', // the same tanh approximation
  silu: 'silu',
  swish: 'silu',
};

function bad(what: string): AppError {
  return new AppError('corrupt_file', `config.json: ${what}`);
}

function int(cfg: Record<string, unknown>, key: string, fallback: number | undefined, min = 1): number {
  const v = cfg[key] ?? fallback;
  if (v === undefined) throw bad(`${key} is missing`);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw bad(`${key} is ${JSON.stringify(v)}, expected an integer >= ${min}`);
  return v;
}

export function parseT5Config(raw: unknown): T5Config {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw bad('not a JSON object');
  const cfg = raw as Record<string, unknown>;
  const modelType = cfg.model_type;
  if (modelType !== 't5' && modelType !== 'mt5') {
    const arch = Array.isArray(cfg.architectures) ? ` (${cfg.architectures.join(', ')})` : '';
    throw new AppError('unsupported', `not supported: ${typeof modelType === 'string' ? modelType : 'unknown model_type'}${arch}; Hukuk Studio trains T5-family models (t5, mt5, t5-efficient-*)`);
  }
  if (cfg.is_encoder_decoder === false) throw new AppError('unsupported', 'not supported: an encoder-only T5 (is_encoder_decoder is false)');
  const d = DEFAULTS[modelType];
  const feedForwardProj = cfg.feed_forward_proj ?? d.feed_forward_proj;
  if (typeof feedForwardProj !== 'string') throw bad('feed_forward_proj is not a string');
  const parts = feedForwardProj.split('-');
  const isGatedAct = parts[0] === 'gated';
  if ((parts.length > 1 && !isGatedAct) || parts.length > 2) {
    throw bad(`feed_forward_proj ${JSON.stringify(feedForwardProj)} is not of the form "gated-{ACT_FN}" or "{ACT_FN}"`);
  }
  const actName = feedForwardProj === 'gated-gelu' ? 'gelu_new' : parts[parts.length - 1];
  const denseActFn = ACTIVATIONS[actName];
  if (!denseActFn) throw new AppError('unsupported', `not supported: the activation ${JSON.stringify(actName)} (feed_forward_proj ${feedForwardProj})`);
  const numLayers = int(cfg, 'num_layers', d.num_layers);
  const eps = cfg.layer_norm_epsilon ?? 1e-6;
  if (typeof eps !== 'number' || !(eps > 0)) throw bad('layer_norm_epsilon is not a positive number');
  const tie = cfg.tie_word_embeddings ?? d.tie_word_embeddings;
  if (typeof tie !== 'boolean') throw bad('tie_word_embeddings is not true/false');
  const eos = Array.isArray(cfg.eos_token_id) ? cfg.eos_token_id[0] : cfg.eos_token_id;
  return {
    modelType,
    vocabSize: int(cfg, 'vocab_size', d.vocab_size),
    dModel: int(cfg, 'd_model', d.d_model),
    dKv: int(cfg, 'd_kv', d.d_kv),
    dFf: int(cfg, 'd_ff', d.d_ff),
    numLayers,
    numDecoderLayers: cfg.num_decoder_layers == null ? numLayers : int(cfg, 'num_decoder_layers', undefined),
    numHeads: int(cfg, 'num_heads', d.num_heads),
    relativeAttentionNumBuckets: int(cfg, 'relative_attention_num_buckets', 32),
    relativeAttentionMaxDistance: int(cfg, 'relative_attention_max_distance', 128),
    layerNormEpsilon: eps,
    feedForwardProj,
    isGatedAct,
    denseActFn,
    tieWordEmbeddings: tie,
    scaleDecoderOutputs: typeof cfg.scale_decoder_outputs === 'boolean' ? cfg.scale_decoder_outputs : tie,
    padTokenId: int(cfg, 'pad_token_id', 0, 0),
    eosTokenId: int({ eos }, 'eos', 1, 0),
    decoderStartTokenId: int(cfg, 'decoder_start_token_id', 0, 0),
  };
}

export interface ExpectedTensor {
  name: string;
  shape: number[];
}

/**
 * Every tensor T5ForConditionalGeneration loads, with its shape, in state-dict order.
 * Optional ones (tied copies) are listed separately by `optionalT5Tensors`.
 */
export function expectedT5Tensors(c: T5Config): ExpectedTensor[] {
  const inner = c.numHeads * c.dKv; // need not equal d_model (t5-efficient variants)
  const out: ExpectedTensor[] = [{ name: 'shared.weight', shape: [c.vocabSize, c.dModel] }];
  const attention = (prefix: string, withBias: boolean) => {
    for (const p of ['q', 'k', 'v']) out.push({ name: `${prefix}.${p}.weight`, shape: [inner, c.dModel] });
    out.push({ name: `${prefix}.o.weight`, shape: [c.dModel, inner] });
    if (withBias) out.push({ name: `${prefix}.relative_attention_bias.weight`, shape: [c.relativeAttentionNumBuckets, c.numHeads] });
  };
  const ffn = (prefix: string) => {
    if (c.isGatedAct) {
      out.push({ name: `${prefix}.DenseReluDense.wi_0.weight`, shape: [c.dFf, c.dModel] });
      out.push({ name: `${prefix}.DenseReluDense.wi_1.weight`, shape: [c.dFf, c.dModel] });
    } else {
      out.push({ name: `${prefix}.DenseReluDense.wi.weight`, shape: [c.dFf, c.dModel] });
    }
    out.push({ name: `${prefix}.DenseReluDense.wo.weight`, shape: [c.dModel, c.dFf] });
    out.push({ name: `${prefix}.layer_norm.weight`, shape: [c.dModel] });
  };
  for (let i = 0; i < c.numLayers; i++) {
    const b = `encoder.block.${i}`;
    attention(`${b}.layer.0.SelfAttention`, i === 0);
    out.push({ name: `${b}.layer.0.layer_norm.weight`, shape: [c.dModel] });
    ffn(`${b}.layer.1`);
  }
  out.push({ name: 'encoder.final_layer_norm.weight', shape: [c.dModel] });
  for (let i = 0; i < c.numDecoderLayers; i++) {
    const b = `decoder.block.${i}`;
    attention(`${b}.layer.0.SelfAttention`, i === 0);
    out.push({ name: `${b}.layer.0.layer_norm.weight`, shape: [c.dModel] });
    attention(`${b}.layer.1.EncDecAttention`, false);
    out.push({ name: `${b}.layer.1.layer_norm.weight`, shape: [c.dModel] });
    ffn(`${b}.layer.2`);
  }
  out.push({ name: 'decoder.final_layer_norm.weight', shape: [c.dModel] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, c.dModel] });
  return out;
}

/** Tensors a checkpoint may carry but the model does not need (tied copies, a legacy bias). */
export function optionalT5Tensors(c: T5Config): ExpectedTensor[] {
  const opt: ExpectedTensor[] = [
    { name: 'encoder.embed_tokens.weight', shape: [c.vocabSize, c.dModel] },
    { name: 'decoder.embed_tokens.weight', shape: [c.vocabSize, c.dModel] },
    // Old checkpoints (the original t5-small) carry it; transformers ignores it.
    { name: 'decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight', shape: [c.relativeAttentionNumBuckets, c.numHeads] },
  ];
  if (c.tieWordEmbeddings) opt.push({ name: 'lm_head.weight', shape: [c.vocabSize, c.dModel] });
  return opt;
}
