"""Loads adapters saved by OUR engine (tools/t5_peft_roundtrip.mjs) with peft and compares
logits with what our engine computed. Run on the GPU machine (CPU fp32 compute):
    python3 tools/t5_peft_check.py .device-t5
"""
import json
import os
import sys

import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import T5ForConditionalGeneration

root = sys.argv[1] if len(sys.argv) > 1 else '.device-t5'
ok = True
for name in sorted(os.listdir(root)):
    d = os.path.join(root, name)
    exp_path = os.path.join(d, 'expected.json')
    if not os.path.exists(exp_path):
        continue
    fx = os.path.join('tests', 'fixtures', 't5', name)
    g = load_file(os.path.join(fx, 'goldens.safetensors'))
    base = T5ForConditionalGeneration.from_pretrained(os.path.join(fx, 'model'), attn_implementation='eager')
    model = PeftModel.from_pretrained(base, os.path.join(d, 'adapter'))
    model.eval()
    with torch.no_grad():
        out = model(input_ids=g['input_ids'].long(), attention_mask=g['attention_mask'].long(), labels=g['labels'].long())
    exp = json.load(open(exp_path))
    ours = torch.tensor(exp['logits'], dtype=torch.float32).reshape(exp['shape'])
    rel = float((out.logits - ours).norm() / out.logits.norm())
    lrel = abs(float(out.loss) - exp['loss']) / abs(float(out.loss))
    good = rel < 1e-5 and lrel < 1e-5
    ok = ok and good
    print(f'peft-roundtrip {name}: logits rel {rel:.3e}, loss peft {float(out.loss):.6f} ours {exp["loss"]:.6f} '
          f'(rel {lrel:.3e}) {"OK" if good else "FAIL"}', flush=True)
print('peft-roundtrip', 'ALL OK' if ok else 'FAILED')
