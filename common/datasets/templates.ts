// Prompt templates: how a question/answer pair becomes the model's input and target text.
// `default` is the seed project's ("Soru: {question}" -> "{answer}"); `teknofest` prefixes
// the target with "Cevap: " as the Teknofest 2024 legal model did.

export interface PromptTemplate {
  input: string;
  target: string;
}

export const TEMPLATES = {
  default: { input: 'Soru: {question}', target: '{answer}' },
  teknofest: { input: 'Soru: {question}', target: 'Cevap: {answer}' },
} as const satisfies Record<string, PromptTemplate>;

export type TemplateName = keyof typeof TEMPLATES;

export function templateByName(name: string): PromptTemplate {
  const t = (TEMPLATES as Record<string, PromptTemplate>)[name];
  if (!t) throw new Error(`Unknown template "${name}" (known: ${Object.keys(TEMPLATES).join(', ')}).`);
  return t;
}

/** Fills {question} and {answer}; other braces are left as written. */
export function renderTemplate(pattern: string, question: string, answer: string): string {
  return pattern.replace(/\{(question|answer)\}/g, (_, k: string) => (k === 'question' ? question : answer));
}

export function applyTemplate(t: PromptTemplate, question: string, answer: string): { input: string; target: string } {
  return { input: renderTemplate(t.input, question, answer), target: renderTemplate(t.target, question, answer) };
}
