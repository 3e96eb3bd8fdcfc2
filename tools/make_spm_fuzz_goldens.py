#!/usr/bin/env python3
"""Writes tests/fixtures/tokenizer/spm_fuzz_goldens.json: awkward random strings (combining
marks, compatibility characters, odd whitespace, controls, emoji, '▁') with the ids the real
sentencepiece library gives them for ../shared/fixtures/tokenizer/spiece.model. Checks the
'sentencepiece' semantics of common/tokenizer beyond the shared goldens.

Needs the sentencepiece Python binding (Debian: apt-get install python3-sentencepiece).
Run from the repository root: /usr/bin/python3 tools/make_spm_fuzz_goldens.py
"""
import json
import random

import sentencepiece as spm

POOL = ['a', 'b', 'ı', 'İ', 'i', 'ş', 'ğ', 'Ü', 'ö', 'ç', ' ', '  ', '\t', '\n', '\u0307', '\u0301', '\u0308', 'ﬁ', '①', 'Ａ',
        '\u00a0', '\u3000', '\u200b', '\u200d', '🙂', '👍🏽', '\u0000', '\u001f', 'é', 'e', 'x', '.', ',', '\r\n', '\u2581',
        'ǅ', '㎏', 'Å', 'ﾊﾟ', '\u1100\u1161', '\ufeff', '\u0085', '\u2028', 'ma', 'hke', 'me', 'Anayasa', '▁▁']

sp = spm.SentencePieceProcessor(model_file='../shared/fixtures/tokenizer/spiece.model')
rng = random.Random(20261127)
cases = []
for _ in range(3000):
    text = ''.join(rng.choice(POOL) for _ in range(rng.randint(1, 10)))
    cases.append({'text': text, 'ids': sp.encode(text)})
with open('tests/fixtures/tokenizer/spm_fuzz_goldens.json', 'w', encoding='utf-8') as f:
    json.dump({'made_with': f'sentencepiece {spm.__version__}', 'cases': cases}, f, ensure_ascii=False)
print('wrote', len(cases), 'cases')
