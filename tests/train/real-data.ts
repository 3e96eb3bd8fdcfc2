// The shared 1,500 real Soru/Cevap rows, tokenized with the shared SentencePiece fixture and
// the default template, as the trainer's examples (for tests and bench/train_cpu.ts).
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tokenizeSplit, TEMPLATES } from '../../common/datasets';
import type { TokenizedExample } from '../../common/training';
import { loadTokenizer } from '../../main/io/tokenizers';

export const SHARED = resolve(__dirname, '../../../shared');

export function realExamples(): { examples: TokenizedExample[]; vocabSize: number } {
  const { tokenizer } = loadTokenizer(join(SHARED, 'fixtures/tokenizer'));
  const rows = JSON.parse(readFileSync(join(SHARED, 'data/turkish-law-chatbot-test.json'), 'utf8')) as { Soru: string; Cevap: string }[];
  const t = tokenizeSplit(
    rows.map((r, i) => ({ question: r.Soru, answer: r.Cevap, origin: { file: 'turkish-law-chatbot-test.json', row: i } })),
    tokenizer,
    TEMPLATES.default,
  );
  return { examples: t.inputIds.map((ids, i) => ({ inputIds: ids, labels: t.targetIds[i] })), vocabSize: tokenizer.vocabSize };
}
