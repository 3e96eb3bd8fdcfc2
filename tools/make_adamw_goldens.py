"""AdamW + clip_grad_norm_ + transformers' schedules, computed by torch/transformers, as goldens
for tests/train/optimizer.test.ts. Run anywhere torch and transformers are installed (CPU, fp32):

    python3 tools/make_adamw_goldens.py tests/fixtures/train/adamw_goldens.safetensors

Case: two tensors (37 and 3000 values), three updates; each update multiplies the gradients by
0.25 (gradient accumulation over 4 micro-batches), clips the global norm to 1.0
(torch.nn.utils.clip_grad_norm_), then torch.optim.AdamW(lr=3e-3, betas=(0.9, 0.999), eps=1e-8,
weight_decay=0.05, foreach=False). Stored: w0.{k}, g.{step}.{k}, norm (per step, before
clipping), w.{k}, m.{k}, v.{k} (after the last step), and lr.<schedule> for steps 0..119 of each
schedule with 10 warm-up and 110 total steps.
"""
import sys

import torch
from safetensors.torch import save_file
from transformers import get_constant_schedule, get_constant_schedule_with_warmup, get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

out = {}
gen = torch.Generator().manual_seed(1234)
params = [torch.nn.Parameter(torch.randn(37, generator=gen)), torch.nn.Parameter(torch.randn(3000, generator=gen) * 0.1)]
for k, p in enumerate(params):
    out[f"w0.{k}"] = p.detach().clone()
opt = torch.optim.AdamW(params, lr=3e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05, foreach=False)
norms = []
for step in range(3):
    for k, p in enumerate(params):
        g = torch.randn(p.shape, generator=gen) * (0.5 if k == 0 else 0.05)
        out[f"g.{step}.{k}"] = g.clone()
        p.grad = g.clone() * 0.25
    norms.append(float(torch.nn.utils.clip_grad_norm_(params, 1.0, foreach=False)))
    opt.step()
    opt.zero_grad()
out["norm"] = torch.tensor(norms, dtype=torch.float64)
for k, p in enumerate(params):
    st = opt.state[p]
    out[f"w.{k}"] = p.detach().clone()
    out[f"m.{k}"] = st["exp_avg"].clone()
    out[f"v.{k}"] = st["exp_avg_sq"].clone()

makers = {
    "linear": lambda o: get_linear_schedule_with_warmup(o, 10, 110),
    "constant": lambda o: get_constant_schedule(o),
    "constant_with_warmup": lambda o: get_constant_schedule_with_warmup(o, 10),
    "cosine": lambda o: get_cosine_schedule_with_warmup(o, 10, 110),
}
for name, make in makers.items():
    o = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    s = make(o)
    lrs = []
    for _ in range(120):
        lrs.append(s.get_last_lr()[0])
        o.step()
        s.step()
    out[f"lr.{name}"] = torch.tensor(lrs, dtype=torch.float64)

save_file({k: v.contiguous() for k, v in out.items()}, sys.argv[1])
print("wrote", sys.argv[1], len(out), "tensors; norms", norms)
