"""Training parity, 300 steps (issue 5): transformers + peft vs our engine's QLoRA on the real data.

Runs on the GPU machine (torch, transformers, peft; no bitsandbytes there). Stages:

  python3 tools/loss_curve_parity.py prep    WORK BATCHES.json   # base model + peft's initial adapter
  python3 tools/loss_curve_parity.py peft    WORK BATCHES.json OUT/peft.json
  node bench/loss_curve_ours.mjs --work WORK --batches BATCHES.json --compute fp32 --out OUT/ours_fp32.json
  python3 tools/loss_curve_parity.py compare OUT                  # table + loss-curve-parity.png

What is compared, exactly:
  - base: a small but real-shaped T5 built here with a fixed seed (4+4 layers, d_model 256, d_ff 1024,
    4 heads x 64, vocab 1100 = the shared tokenizer's, ReLU FFN, tied embeddings, dropout 0),
    transformers' own initialisation, saved as safetensors (WORK/model);
  - torch side: the SAME base with q,k,v,o,wi replaced by their NF4 + double-quant round trip
    (blocksize 64 / 256, tools/nf4_reference.py = bitsandbytes' arithmetic), i.e. QLoRA's effective
    base weights computed without bitsandbytes; peft LoRA on top, fp32, TF32 off;
  - our side: `hukuk`'s engine loads WORK/model with quant 'nf4' (it quantizes q,k,v,o,wi itself),
    compute fp32 (and bf16 as a second curve), on CUDA;
  - both start from the same adapter: peft's initial LoRA (A kaiming-uniform, B = 0) saved by
    save_pretrained, loaded by our engine with loadAdapter;
  - both train on the same token ids (tools/loss_curve_batches.ts, our TS tokenizer) in the same
    order, padded the same way; r 16, alpha 32, q,k,v,o, lora_dropout 0, AdamW lr 3e-4
    (betas 0.9/0.999, eps 1e-8, weight decay 0), linear decay to 0 over 300 steps, no warm-up,
    grad-norm clip 1.0, one batch of 8 per update;
  - evaluation: token-weighted mean loss on 128 fixed held-out rows (batches of 32) at steps
    0, 25, ..., 300.
"""
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

STEPS_EVAL = 25
LR = 3e-4
LORA = dict(r=16, lora_alpha=32, target_modules=['q', 'k', 'v', 'o'], lora_dropout=0.0, bias='none')
QUANTIZED = ('q', 'k', 'v', 'o', 'wi', 'wi_0', 'wi_1')  # our engine's policy (native/src/t5/model.cpp)
CFG = dict(vocab_size=1100, d_model=256, d_kv=64, d_ff=1024, num_layers=4, num_decoder_layers=4, num_heads=4,
           relative_attention_num_buckets=32, relative_attention_max_distance=128, dropout_rate=0.0,
           layer_norm_epsilon=1e-6, feed_forward_proj='relu', tie_word_embeddings=True,
           pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)


def collate(rows, torch, device):
    """common/training/batching.collate: pad to the batch's longest row, pad 0, labels -100."""
    S = max(len(r['input_ids']) for r in rows)
    T = max(len(r['labels']) for r in rows)
    ids = torch.zeros((len(rows), S), dtype=torch.long)
    mask = torch.zeros((len(rows), S), dtype=torch.long)
    labels = torch.full((len(rows), T), -100, dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, :len(r['input_ids'])] = torch.tensor(r['input_ids'])
        mask[b, :len(r['input_ids'])] = 1
        labels[b, :len(r['labels'])] = torch.tensor(r['labels'])
    return ids.to(device), mask.to(device), labels.to(device)


def prep(work, batches_file):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import T5Config, T5ForConditionalGeneration
    data = json.load(open(batches_file))
    assert data['vocab_size'] == CFG['vocab_size'], data['vocab_size']
    torch.manual_seed(1234)
    model = T5ForConditionalGeneration(T5Config(**CFG)).eval()
    model.save_pretrained(os.path.join(work, 'model'), safe_serialization=True)
    torch.manual_seed(5678)
    pm = get_peft_model(model, LoraConfig(task_type='SEQ_2_SEQ_LM', **LORA))
    pm.save_pretrained(os.path.join(work, 'adapter_init'))
    n = sum(p.numel() for n_, p in pm.named_parameters() if 'lora_' in n_)
    print(f'prep: model + initial adapter ({n} LoRA parameters) in {work}', flush=True)


def peft_train(work, batches_file, out_file):
    import numpy as np
    import torch
    import transformers
    import peft
    from peft import PeftModel
    from transformers import T5ForConditionalGeneration, get_linear_schedule_with_warmup
    from nf4_reference import dequantize_nf4, quantize_nf4
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    data = json.load(open(batches_file))
    model = T5ForConditionalGeneration.from_pretrained(os.path.join(work, 'model'), dtype=torch.float32,
                                                       attn_implementation='eager')
    n_q = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            parts = name.split('.')
            if parts[-1] == 'weight' and len(parts) >= 2 and parts[-2] in QUANTIZED:
                a = p.detach().cpu().float().numpy()
                st = quantize_nf4(a, 64, 256, True)
                p.copy_(torch.from_numpy(dequantize_nf4(st, a.shape, 64, 256).copy()))
                n_q += 1
    model = model.to(dev)
    pm = PeftModel.from_pretrained(model, os.path.join(work, 'adapter_init'), is_trainable=True).to(dev)
    params = [p for n_, p in pm.named_parameters() if p.requires_grad]
    assert params and all('lora_' in n_ for n_, p in pm.named_parameters() if p.requires_grad)
    opt = torch.optim.AdamW(params, lr=LR, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    steps = len(data['batches'])
    sched = get_linear_schedule_with_warmup(opt, 0, steps)
    train, val = data['train'], data['validation']

    def evaluate():
        pm.eval()
        tot, ntok = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(val), 32):
                ids, mask, labels = collate(val[i:i + 32], torch, dev)
                loss = pm(input_ids=ids, attention_mask=mask, labels=labels).loss
                n = int((labels != -100).sum())
                tot += float(loss) * n
                ntok += n
        pm.train()
        return tot / ntok

    t0 = time.time()
    res = {'side': 'transformers+peft', 'device': torch.cuda.get_device_name(0) if dev == 'cuda' else 'cpu',
           'torch': torch.__version__, 'transformers': transformers.__version__, 'peft': peft.__version__,
           'base': f'NF4 round trip of {n_q} weights (tools/nf4_reference.py), fp32 compute, TF32 off',
           'train': [], 'eval': [{'step': 0, 'loss': evaluate()}]}
    pm.train()
    for s, batch in enumerate(data['batches']):
        ids, mask, labels = collate([train[i] for i in batch], torch, dev)
        lr = sched.get_last_lr()[0]
        loss = pm(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        gn = torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        res['train'].append({'step': s + 1, 'loss': float(loss), 'lr': lr, 'gradNorm': float(gn)})
        if (s + 1) % STEPS_EVAL == 0:
            res['eval'].append({'step': s + 1, 'loss': evaluate()})
            print(f"peft step {s + 1} train {float(loss):.4f} eval {res['eval'][-1]['loss']:.4f}", flush=True)
    res['seconds'] = time.time() - t0
    json.dump(res, open(out_file, 'w'))


def rel(a, b):
    return abs(a - b) / abs(b)


def compare(out_dir):
    ref = json.load(open(os.path.join(out_dir, 'peft.json')))
    sides = {}
    for tag in ('fp32', 'bf16'):
        f = os.path.join(out_dir, f'ours_{tag}.json')
        if os.path.exists(f):
            sides[tag] = json.load(open(f))
    summary = {'reference': ref['side'], 'device': ref['device'], 'versions': {k: ref[k] for k in ('torch', 'transformers', 'peft')},
               'tolerance': 0.02, 'sides': {}}
    lines = ['| step | peft eval loss | ' + ' | '.join(f'ours {t} eval loss (rel. diff)' for t in sides) + ' |',
             '|---:|---:|' + '---:|' * len(sides)]
    for i, e in enumerate(ref['eval']):
        cells = []
        for t, o in sides.items():
            oe = o['eval'][i]
            assert oe['step'] == e['step']
            cells.append(f"{oe['loss']:.4f} ({100 * rel(oe['loss'], e['loss']):.3f}%)")
        lines.append(f"| {e['step']} | {e['loss']:.4f} | " + ' | '.join(cells) + ' |')
    for t, o in sides.items():
        ev = [rel(a['loss'], b['loss']) for a, b in zip(o['eval'], ref['eval'])]
        tr = [rel(a['loss'], b['loss']) for a, b in zip(o['train'], ref['train'])]
        lr = [rel(a['lr'], b['lr']) for a, b in zip(o['train'], ref['train']) if b['lr'] > 0]
        summary['sides'][t] = {
            'evals': len(ev), 'max_eval_rel': max(ev), 'max_train_rel': max(tr), 'mean_train_rel': sum(tr) / len(tr),
            'max_lr_rel': max(lr), 'pass_eval_2pct': max(ev) <= 0.02, 'train_steps': len(tr),
            'final_eval': {'ours': o['eval'][-1]['loss'], 'peft': ref['eval'][-1]['loss']}}
    summary['table'] = '\n'.join(lines)
    json.dump(summary, open(os.path.join(out_dir, 'compare.json'), 'w'), indent=1)
    open(os.path.join(out_dir, 'table.md'), 'w').write(summary['table'] + '\n')
    print(summary['table'])
    print(json.dumps(summary['sides'], indent=1))
    plot(ref, sides, os.path.join(out_dir, 'loss-curve-parity.png'))


def plot(ref, sides, png):
    try:
        import matplotlib
        matplotlib.use('Agg')
        import matplotlib.pyplot as plt
    except ImportError:
        print('no matplotlib: PNG not written', flush=True)
        return
    fig, ax = plt.subplots(1, 2, figsize=(13, 4.8))
    col = {'fp32': 'tab:red', 'bf16': 'tab:green'}
    ax[0].plot([r['step'] for r in ref['train']], [r['loss'] for r in ref['train']], color='tab:blue', lw=1, label='transformers+peft (fp32, NF4 round-trip base)')
    for t, o in sides.items():
        ax[0].plot([r['step'] for r in o['train']], [r['loss'] for r in o['train']], color=col[t], lw=0.8, ls='--', label=f'ours QLoRA CUDA {t}')
    ax[0].set(title='train loss per step (batch of 8)', xlabel='step', ylabel='loss')
    ax[0].legend(fontsize=8)
    ax[1].plot([r['step'] for r in ref['eval']], [r['loss'] for r in ref['eval']], 'o-', color='tab:blue', label='transformers+peft')
    for t, o in sides.items():
        ax[1].plot([r['step'] for r in o['eval']], [r['loss'] for r in o['eval']], 'x--', color=col[t], label=f'ours {t}')
    ax[1].set(title='eval loss (128 held-out rows) every 25 steps', xlabel='step', ylabel='loss')
    ax[1].legend(fontsize=8)
    fig.suptitle(f"Training parity, 300 steps, T5 4+4 d256 vocab 1100, LoRA r16 q,k,v,o, real data ({ref['device']})", fontsize=10)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print('wrote', png, flush=True)


if __name__ == '__main__':
    stage = sys.argv[1]
    if stage == 'prep':
        prep(sys.argv[2], sys.argv[3])
    elif stage == 'peft':
        peft_train(sys.argv[2], sys.argv[3], sys.argv[4])
    elif stage == 'compare':
        compare(sys.argv[2])
    else:
        sys.exit(f'unknown stage {stage}')
