"""Makes tests/native/generate_goldens.json: transformers' `generate` with the options our engine
implements, on the committed T5 parity fixtures (tests/fixtures/t5/<name>/model + adapter).

The fixtures' own goldens cover plain greedy and 4-beam search on one row. These cases add what
those cannot reach: length_penalty, early_stopping True / "never", repetition_penalty,
no_repeat_ngram_size, min_new_tokens, hypotheses of different lengths ending in eos, and whole
batches with padding (rows finishing at different steps). The random fixture models almost never
emit eos 1, so most cases set eos_token_id to a token the model does produce.

Run with torch (CPU, fp32), transformers 5.17 and peft 0.21 from the repository root:
    python3 tests/native/generate_goldens.py
"""
import json
import os

import torch
import transformers
import peft
from peft import PeftModel
from safetensors import safe_open
from transformers import T5ForConditionalGeneration

torch.manual_seed(0)
torch.set_num_threads(2)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'fixtures', 't5')
# the fixtures whose random models give varied output (the others repeat one token, often pad)
FIXTURES = ['gated_gelu_untied', 'padding', 'relu_tied']

# name -> generate kwargs (eos: 'g4' = the 4th token of plain greedy on row 0, 'g2' the 2nd, 'g1' the 1st)
CASES = {
    'greedy': dict(num_beams=1),
    'beam4_lp2': dict(num_beams=4, length_penalty=2.0),
    'beam4_lp05_eos': dict(num_beams=4, length_penalty=0.5, eos='g4'),
    'beam4_lpneg_eos': dict(num_beams=4, length_penalty=-1.0, eos='g4'),
    'beam4_eos': dict(num_beams=4, eos='g4'),
    'beam4_eos2': dict(num_beams=4, eos='g2'),
    'beam4_eos1': dict(num_beams=4, eos='g1'),
    'greedy_eos1': dict(num_beams=1, eos='g1'),
    'beam3_es_true_eos': dict(num_beams=3, early_stopping=True, eos='g4'),
    'beam4_es_never_eos': dict(num_beams=4, early_stopping='never', eos='g4'),
    'beam4_es_never_lp2_eos': dict(num_beams=4, early_stopping='never', length_penalty=2.0, eos='g4'),
    'greedy_rep15': dict(num_beams=1, repetition_penalty=1.5),
    'greedy_norepeat2': dict(num_beams=1, no_repeat_ngram_size=2),
    'beam4_norepeat3_rep12': dict(num_beams=4, no_repeat_ngram_size=3, repetition_penalty=1.2),
    'greedy_eos_min6': dict(num_beams=1, eos='g2', min_new_tokens=6),
    'beam4_eos_min6': dict(num_beams=4, eos='g2', min_new_tokens=6),
    'greedy_eos': dict(num_beams=1, eos='g4'),
}
MAX_NEW = 16


def read_goldens(path):
    with safe_open(path, 'pt') as f:
        return {k: f.get_tensor(k) for k in f.keys() if k in ('input_ids', 'attention_mask')}


def main():
    out = {'transformers': transformers.__version__, 'torch': torch.__version__, 'peft': peft.__version__,
           'max_new_tokens': MAX_NEW, 'fixtures': {}}
    for name in FIXTURES:
        d = os.path.join(ROOT, name)
        if not os.path.isdir(d):
            continue
        base = T5ForConditionalGeneration.from_pretrained(os.path.join(d, 'model'), torch_dtype=torch.float32)
        model = PeftModel.from_pretrained(base, os.path.join(d, 'adapter')).eval()
        g = read_goldens(os.path.join(d, 'goldens.safetensors'))
        ids, mask = g['input_ids'].long(), g['attention_mask'].long()
        n0 = int(mask[0].sum())
        row = ids[:1, :n0]
        with torch.no_grad():
            plain = model.generate(input_ids=row, attention_mask=mask[:1, :n0], max_new_tokens=MAX_NEW,
                                   do_sample=False, num_beams=1)[0].tolist()
        cases = []
        for case, kw in CASES.items():
            kw = dict(kw)
            eos = kw.pop('eos', None)
            if eos is not None:
                kw['eos_token_id'] = plain[int(eos[1:])]
            for scope in ('row0', 'batch'):
                inp, m = (row, mask[:1, :n0]) if scope == 'row0' else (ids, mask)
                with torch.no_grad():
                    res = model.generate(input_ids=inp, attention_mask=m, max_new_tokens=MAX_NEW, do_sample=False,
                                         **kw)
                cases.append({'case': case, 'scope': scope, 'kwargs': kw, 'ids': res.tolist()})
        out['fixtures'][name] = cases
        print(name, 'plain greedy', plain, flush=True)
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'generate_goldens.json')
    with open(path, 'w') as f:
        json.dump(out, f, separators=(',', ':'))
        f.write('\n')
    print('wrote', path, os.path.getsize(path), 'bytes')


if __name__ == '__main__':
    main()
