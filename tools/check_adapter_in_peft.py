"""Checks that an adapter trained by `hukuk train` loads in peft and gives our engine's logits.

Run on the GPU machine (torch 2.11, transformers 5.17, peft 0.21), on its CPU in fp32:

    python3 tools/check_adapter_in_peft.py DIR [--tol 1e-4]

DIR holds what `tests/train/peft-export.test.ts` (HUKUK_PEFT_EXPORT=DIR) wrote here:
  model/        config.json + model.safetensors (the tiny base the adapter was trained on)
  adapter/      adapter_config.json + adapter_model.safetensors, written by our trainer
  engine.safetensors: input_ids, attention_mask, labels (int32), logits, loss (our engine's
                forward with the adapter, eval mode)
It loads the base with transformers, the adapter with peft.PeftModel.from_pretrained, runs the
same batch and prints one JSON line with the relative errors ||ours - peft|| / ||peft|| of the
logits and the loss; exits 1 when one exceeds --tol. It also checks that the adapter changes the
logits (so a silently ignored adapter cannot pass).
"""
import argparse
import json
import os
import sys

import torch
from safetensors.torch import load_file


def rel(a, b):
    return float((a - b).norm() / b.norm().clamp_min(1e-30))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()

    import transformers
    import peft
    from transformers import T5ForConditionalGeneration
    from peft import PeftModel

    torch.manual_seed(0)
    d = args.dir
    base = T5ForConditionalGeneration.from_pretrained(os.path.join(d, "model"), dtype=torch.float32).eval()
    g = load_file(os.path.join(d, "engine.safetensors"))
    ids = g["input_ids"].long()
    mask = g["attention_mask"].long()
    labels = g["labels"].long()
    with torch.no_grad():
        base_out = base(input_ids=ids, attention_mask=mask, labels=labels)
        base_logits = base_out.logits.clone()
    model = PeftModel.from_pretrained(base, os.path.join(d, "adapter")).eval()
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, labels=labels)
    ours = g["logits"].reshape(out.logits.shape)
    res = {
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "torch": torch.__version__,
        "lora_tensors": sum(1 for n, _ in model.named_parameters() if "lora_" in n),
        "logits_rel_err": rel(ours, out.logits),
        "loss_rel_err": abs(float(g["loss"].reshape(())) - float(out.loss)) / abs(float(out.loss)),
        "loss_peft": float(out.loss),
        "loss_ours": float(g["loss"].reshape(())),
        "adapter_effect_rel": rel(out.logits, base_logits),
        "base_loss": float(base_out.loss),
    }
    ok = res["logits_rel_err"] <= args.tol and res["loss_rel_err"] <= args.tol and res["adapter_effect_rel"] > 1e-3
    res["ok"] = ok
    print(json.dumps(res))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
