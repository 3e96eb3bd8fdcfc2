// hukuk dataset inspect <path> [--question-column C --answer-column C] [--tokenizer PATH]
//                              [--template default|teknofest] [--test-file F] [--validation-file F]
//                              [--split-ratio R] [--seed N] [--max-input N] [--max-target N] [--json]
// Prints what an import would find: rows per split, the column mapping, skipped rows with
// their lines and reasons, duplicates, and (with --tokenizer) token-length statistics.
import { parseArgs } from 'node:util';
import type { CliContext } from '../types';
import { AppError } from '../../../common/contract/errors';
import { describeOrigin } from '../../../common/datasets';
import { inspectDataset, type DatasetSummary } from '../../io/datasets';

export const summary = 'inspect a dataset file or folder: columns, splits, skipped rows, token lengths';

const USAGE =
  'usage: hukuk dataset inspect <path> [--question-column C --answer-column C] [--tokenizer PATH]\n' +
  '       [--template default|teknofest] [--test-file F] [--validation-file F] [--split-ratio R] [--seed N]\n' +
  '       [--max-input N] [--max-target N] [--json]';

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new AppError('invalid_payload', `--${name} must be a number, got "${v}"`);
  return n;
}

export function formatSummary(s: DatasetSummary): string[] {
  const out: string[] = [];
  out.push(`${s.path} (${s.format}; ${s.files.length} file${s.files.length === 1 ? '' : 's'})`);
  for (const n of s.notes) out.push(`note: ${n}`);
  out.push(`columns: ${s.columns.join(', ')}`);
  out.push(`question <- "${s.mapping.question}", answer <- "${s.mapping.answer}"`);
  out.push(`template: input "${s.template.input}", target "${s.template.target}"${s.template.name ? ` (${s.template.name})` : ''}`);
  const rows = Object.entries(s.rows).map(([k, v]) => `${k} ${v}${s.splitSource[k as keyof typeof s.splitSource] === 'seeded' ? ' (seeded split)' : ''}`);
  out.push(`rows: ${rows.join(', ')}`);
  out.push(`skipped: ${s.skippedCount}`);
  for (const k of s.skipped.slice(0, 20)) out.push(`  ${describeOrigin(k)}: ${k.reason}`);
  if (s.skippedCount > 20) out.push(`  … ${s.skippedCount - 20} more (--json lists up to 100)`);
  out.push(`duplicates: ${s.duplicates.sameQuestion} repeated questions, ${s.duplicates.sameAnswer} answers shared by different questions`);
  for (const g of s.duplicates.sameQuestionGroups.slice(0, 5)) out.push(`  "${g.text.slice(0, 70)}" at ${g.origins.map(describeOrigin).join(', ')}`);
  if (s.stats && s.tokenizer) {
    const st = s.stats;
    out.push(`tokenizer: ${s.tokenizer.file} (${s.tokenizer.kind})`);
    for (const [name, l] of [['input', st.input], ['target', st.target]] as const) {
      const trunc = Object.entries(l.truncatedAt).map(([L, n]) => `${L}:${n}`).join(' ');
      out.push(`${name.padEnd(6)} tokens p50 ${l.p50}  p95 ${l.p95}  p99 ${l.p99}  max ${l.max}  mean ${l.mean} | truncated at ${trunc} | suggested max ${l.suggestedMaxLength}`);
    }
    out.push(`over-long at input ${st.maxInputLength} / target ${st.maxTargetLength}: ${st.overLongCount} rows (kept, truncated in training)`);
  }
  return out;
}

export async function run(args: string[], ctx: CliContext): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'inspect') {
    ctx.stderr(USAGE);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      allowPositionals: true,
      strict: true,
      options: {
        'question-column': { type: 'string' },
        'answer-column': { type: 'string' },
        tokenizer: { type: 'string' },
        template: { type: 'string' },
        'test-file': { type: 'string' },
        'validation-file': { type: 'string' },
        'split-ratio': { type: 'string' },
        seed: { type: 'string' },
        'max-input': { type: 'string' },
        'max-target': { type: 'string' },
        json: { type: 'boolean' },
      },
    });
  } catch (e) {
    ctx.stderr(`hukuk dataset: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values: v, positionals } = parsed;
  if (positionals.length !== 1) {
    ctx.stderr(USAGE);
    return 2;
  }
  try {
    const splitFiles: Record<string, string> = {};
    if (v['test-file']) splitFiles.test = v['test-file'];
    if (v['validation-file']) splitFiles.validation = v['validation-file'];
    const { summary: s } = await inspectDataset(positionals[0], {
      mapping: { question: v['question-column'], answer: v['answer-column'] },
      tokenizer: v.tokenizer,
      template: v.template,
      splitFiles,
      split: { ratio: num(v['split-ratio'], 'split-ratio'), seed: num(v.seed, 'seed') },
      maxLengths: { input: num(v['max-input'], 'max-input'), target: num(v['max-target'], 'max-target') },
    });
    if (v.json) ctx.stdout(JSON.stringify(s, null, 2));
    else for (const line of formatSummary(s)) ctx.stdout(line);
    return 0;
  } catch (e) {
    if (v.json && e instanceof AppError) ctx.stdout(JSON.stringify({ error: e.toValue() }));
    ctx.stderr(`hukuk dataset: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
