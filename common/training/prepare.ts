// Rows of (question, answer) text to tokenized training examples, with the seed's prompt
// template (input "Soru: {question}", target "{answer}"). Pure: the tokenizer is passed in.
import type { TokenizedExample } from './batching';

export interface QaPair {
  question: string;
  answer: string;
}

export interface PromptTemplate {
  input: string;
  target: string;
}

export const DEFAULT_TEMPLATE: PromptTemplate = { input: 'Soru: {question}', target: '{answer}' };

export function applyTemplate(t: string, pair: QaPair): string {
  return t.replace(/\{question\}/g, pair.question).replace(/\{answer\}/g, pair.answer);
}

export function tokenizePairs(
  pairs: readonly QaPair[],
  encode: (text: string) => number[],
  template: PromptTemplate = DEFAULT_TEMPLATE,
): TokenizedExample[] {
  return pairs.map((p) => ({ inputIds: encode(applyTemplate(template.input, p)), labels: encode(applyTemplate(template.target, p)) }));
}

/** The largest id in the examples (to check against the model's vocabulary before training). */
export function maxTokenId(examples: readonly TokenizedExample[]): number {
  let m = -1;
  for (const e of examples) {
    for (let i = 0; i < e.inputIds.length; i++) m = Math.max(m, e.inputIds[i]);
    for (let i = 0; i < e.labels.length; i++) m = Math.max(m, e.labels[i]);
  }
  return m;
}
