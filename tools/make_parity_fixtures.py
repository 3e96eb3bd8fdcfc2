"""Makes the T5 parity fixtures (tests/fixtures/t5/<name>/) with transformers + peft.

Run on the GPU machine (torch 2.11, transformers 5.17, peft 0.21; everything is computed on
its CPU in fp32, so no TF32 or kernel choice changes the numbers):

    python3 tools/make_parity_fixtures.py OUT_DIR

For each configuration it writes
  model/config.json, model/model.safetensors, model/pytorch_model.bin (torch.save, zip format)
  adapter/adapter_config.json, adapter/adapter_model.safetensors   (peft's own save_pretrained)
  goldens.safetensors: input_ids, attention_mask, labels (int32), logits, loss (with the adapter),
    base_logits, base_loss (without it), grad.<adapter key> (gradient of the mean loss),
    greedy_ids, beam4_ids (generate on row 0, max_new_tokens 20, decoder start included),
    qlora_logits, qlora_loss (q,k,v,o,wi,wi_0,wi_1 replaced by their bitsandbytes NF4 +
    double-quant round trip, reproduced by tools/nf4_reference.py; the same adapter on top).
All with dropout 0 (model.eval(), gradients on). The LoRA weights are set to random values
(not peft's B = 0 init) so that the adapter changes the logits and every gradient is non-zero.
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from nf4_reference import dequantize_nf4, quantize_nf4  # noqa: E402

import transformers  # noqa: E402
import peft  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import T5Config, T5ForConditionalGeneration  # noqa: E402

torch.backends.cuda.matmul.allow_tf32 = False
torch.set_num_threads(4)

BASE = dict(vocab_size=128, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
            relative_attention_num_buckets=32, relative_attention_max_distance=128,
            dropout_rate=0.1, layer_norm_epsilon=1e-6, feed_forward_proj='relu',
            tie_word_embeddings=True, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)

# name -> (config overrides, lora settings, batch shape (B, S, T), padding lengths per row)
CONFIGS = {
    'relu_tied': (dict(), dict(r=4, lora_alpha=8, target_modules=['q', 'k', 'v', 'o']),
                  (2, 12, 10), [12, 9], [10, 7]),
    'gated_gelu_untied': (dict(feed_forward_proj='gated-gelu', tie_word_embeddings=False, vocab_size=160),
                          dict(r=4, lora_alpha=16, use_rslora=True,
                               target_modules=['q', 'v', 'wi_0', 'wi_1', 'wo']),
                          (2, 10, 8), [10, 10], [8, 8]),
    'gated_silu': (dict(feed_forward_proj='gated-silu', d_model=32, d_kv=12, d_ff=64),
                   dict(r=8, lora_alpha=8,
                        target_modules=r'.*(SelfAttention\.(q|v)|EncDecAttention\.(k|o)|DenseReluDense\.(wi_0|wi_1|wo))'),
                   (2, 11, 9), [11, 6], [9, 5]),
    # deeper encoder than decoder: transformers 5.17's generate sizes its cache by num_layers and
    # breaks when the decoder is deeper (IndexError in EncoderDecoderCache.update)
    'unequal_depth': (dict(num_layers=3, num_decoder_layers=2, num_heads=3, d_kv=16, vocab_size=200),
                      dict(r=4, lora_alpha=8, target_modules=['q', 'k', 'v', 'o', 'wi', 'wo']),
                      (2, 9, 12), [9, 7], [12, 12]),
    'buckets8': (dict(relative_attention_num_buckets=8, relative_attention_max_distance=20, num_heads=2, d_kv=16),
                 dict(r=2, lora_alpha=4, target_modules=['q', 'v']),
                 (2, 40, 36), [40, 33], [36, 30]),
    'padding': (dict(vocab_size=300),
                dict(r=4, lora_alpha=8, target_modules=['q', 'k', 'v', 'o', 'wi', 'wo']),
                (3, 14, 11), [14, 5, 1], [11, 3, 6]),
}

QUANTIZED = ('q', 'k', 'v', 'o', 'wi', 'wi_0', 'wi_1')


def make_batch(g, cfg, B, S, T, src_lens, tgt_lens):
    ids = torch.randint(2, cfg.vocab_size, (B, S), generator=g)
    mask = torch.zeros(B, S, dtype=torch.long)
    labels = torch.randint(2, cfg.vocab_size, (B, T), generator=g)
    for b in range(B):
        ids[b, src_lens[b] - 1] = cfg.eos_token_id
        ids[b, src_lens[b]:] = cfg.pad_token_id
        mask[b, :src_lens[b]] = 1
        labels[b, tgt_lens[b] - 1] = cfg.eos_token_id
        labels[b, tgt_lens[b]:] = -100
    return ids, mask, labels


def perturb(model, g):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if 'layer_norm' in name:
                p.mul_(1 + 0.2 * torch.randn(p.shape, generator=g))
            elif 'relative_attention_bias' in name:
                p.copy_(torch.randn(p.shape, generator=g))


def nf4_roundtrip(w):
    a = w.detach().cpu().float().numpy()
    st = quantize_nf4(a, 64, 256, True)
    return torch.from_numpy(dequantize_nf4(st, a.shape, 64, 256).copy())


def build(name, overrides, lora, shape, src_lens, tgt_lens, out_root, seed):
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    cfg = T5Config(**{**BASE, **overrides})
    cfg._attn_implementation = 'eager'
    model = T5ForConditionalGeneration(cfg)
    perturb(model, g)
    model.eval()
    d = os.path.join(out_root, name)
    os.makedirs(os.path.join(d, 'model'), exist_ok=True)
    model.save_pretrained(os.path.join(d, 'model'), safe_serialization=True)
    torch.save(model.state_dict(), os.path.join(d, 'model', 'pytorch_model.bin'))

    B, S, T = shape
    ids, mask, labels = make_batch(g, cfg, B, S, T, src_lens, tgt_lens)
    gold = {'input_ids': ids.int(), 'attention_mask': mask.int(), 'labels': labels.int()}
    with torch.no_grad():
        base = model(input_ids=ids, attention_mask=mask, labels=labels)
    gold['base_logits'] = base.logits.float().contiguous()
    gold['base_loss'] = base.loss.float().reshape(1)

    base_state = {k: v.clone() for k, v in model.state_dict().items()}
    lcfg = LoraConfig(task_type='SEQ_2_SEQ_LM', lora_dropout=0.0, bias='none', **lora)
    pm = get_peft_model(model, lcfg)
    with torch.no_grad():
        for pname, p in pm.named_parameters():
            if 'lora_' in pname:
                # non-zero B so the adapter matters; small enough to keep the problem well
                # conditioned (0.5 made torch's own fp32 gradients differ from fp64 by ~1e-4)
                p.copy_(0.15 * torch.randn(p.shape, generator=g))
    pm.eval()
    for pname, p in pm.named_parameters():
        p.requires_grad_('lora_' in pname)
    out = pm(input_ids=ids, attention_mask=mask, labels=labels)
    out.loss.backward()
    gold['logits'] = out.logits.detach().float().contiguous()
    gold['loss'] = out.loss.detach().float().reshape(1)
    for pname, p in pm.named_parameters():
        if 'lora_' in pname:
            key = pname.replace('.default', '')
            gold['grad.' + key] = p.grad.detach().float().contiguous()
    pm.save_pretrained(os.path.join(d, 'adapter'))

    # torch's own fp32 rounding, measured against the same computation in fp64 (metadata only)
    import copy
    pm64 = copy.deepcopy(pm).double()
    out64 = pm64(input_ids=ids, attention_mask=mask, labels=labels)
    out64.loss.backward()
    rel = lambda a, b: float((a.double() - b).norm() / b.norm())
    fp64_logits_rel = rel(out.logits.detach(), out64.logits.detach())
    fp64_grad_rel = max(rel(p.grad, p64.grad) for (n1, p), (n2, p64) in zip(pm.named_parameters(), pm64.named_parameters())
                        if 'lora_' in n1)
    del pm64

    # generation on row 0 (no padding there), with the adapter
    greedy = beam = None
    try:
        with torch.no_grad():
            row = ids[:1, :src_lens[0]]
            rmask = mask[:1, :src_lens[0]]
            greedy = pm.generate(input_ids=row, attention_mask=rmask, max_new_tokens=20, do_sample=False, num_beams=1)
            beam = pm.generate(input_ids=row, attention_mask=rmask, max_new_tokens=20, do_sample=False, num_beams=4)
        gold['greedy_ids'] = greedy.int().contiguous()
        gold['beam4_ids'] = beam.int().contiguous()
    except Exception as e:  # a transformers limitation must not cost the other goldens
        print(name, 'generate failed, no greedy/beam goldens:', repr(e), flush=True)

    # QLoRA: base Linear weights q,k,v,o,wi* through the NF4 round trip, same adapter
    lora_state = {k: v.detach().clone() for k, v in pm.state_dict().items() if 'lora_' in k}
    qmodel = T5ForConditionalGeneration(cfg)
    qstate = dict(base_state)
    for k in qstate:
        parts = k.split('.')
        if len(parts) >= 2 and parts[-1] == 'weight' and parts[-2] in QUANTIZED:
            qstate[k] = nf4_roundtrip(qstate[k])
    qmodel.load_state_dict(qstate, strict=False)
    if cfg.tie_word_embeddings:
        qmodel.tie_weights()
    qmodel.eval()
    qpm = get_peft_model(qmodel, LoraConfig(task_type='SEQ_2_SEQ_LM', lora_dropout=0.0, bias='none', **lora))
    missing = qpm.load_state_dict(lora_state, strict=False)
    assert not [k for k in missing.missing_keys if 'lora_' in k], missing.missing_keys
    qpm.eval()
    with torch.no_grad():
        qo = qpm(input_ids=ids, attention_mask=mask, labels=labels)
    gold['qlora_logits'] = qo.logits.float().contiguous()
    gold['qlora_loss'] = qo.loss.float().reshape(1)

    meta = {
        'config': name, 'seed': str(seed), 'torch': torch.__version__, 'transformers': transformers.__version__,
        'peft': peft.__version__,
        'generate': json.dumps({'row': 0, 'max_new_tokens': 20, 'do_sample': False, 'num_beams': [1, 4],
                                'length_penalty': 1.0, 'early_stopping': False}),
        'qlora': 'nf4 blocksize 64, double quant blocksize 256, modules ' + ','.join(QUANTIZED) + '; with the adapter',
        'lora': json.dumps(lora),
        'torch_fp32_vs_fp64': json.dumps({'logits_rel': fp64_logits_rel, 'worst_grad_rel': fp64_grad_rel}),
    }
    save_file({k: v.contiguous() for k, v in gold.items()}, os.path.join(d, 'goldens.safetensors'), metadata=meta)
    print(name, 'fp32-vs-fp64 logits', fp64_logits_rel, 'worst grad', fp64_grad_rel)
    print(name, 'loss', float(out.loss.detach()), 'base', float(base.loss), 'qlora', float(qo.loss),
          'greedy', greedy.tolist() if greedy is not None else None, 'beam4', beam.tolist() if beam is not None else None, flush=True)


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else 'fixtures_out'
    os.makedirs(out_root, exist_ok=True)
    only = sys.argv[2:] or list(CONFIGS)
    failed = []
    for i, name in enumerate(only):
        overrides, lora, shape, src_lens, tgt_lens = CONFIGS[name]
        try:
            build(name, overrides, lora, shape, src_lens, tgt_lens, out_root, 1234 + i)
        except Exception as e:  # keep going: one broken configuration must not cost the others
            import traceback
            traceback.print_exc()
            failed.append(name)
    print('versions', torch.__version__, transformers.__version__, peft.__version__)
    if failed:
        print('FAILED', failed)
        sys.exit(1)


if __name__ == '__main__':
    main()
