// hukuk tokenize --tokenizer <folder|spiece.model|tokenizer.json> --input <file.jsonl>
// Reads lines {"text": "..."} and writes lines {"ids": [...]} (eos appended, as transformers
// does) to stdout, one per input line, in order. A line that is not such an object stops the
// command with its line number (exit 1): a silently skipped line would shift every id after it.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import type { CliContext } from '../types';
import { loadTokenizer } from '../../io/tokenizers';
import { AppError } from '../../../common/contract/errors';

export const summary = 'tokenize JSONL {"text"} lines with a T5 tokenizer: --tokenizer PATH --input FILE';

export async function run(args: string[], ctx: CliContext): Promise<number> {
  let values: { tokenizer?: string; input?: string; 'no-eos'?: boolean };
  try {
    ({ values } = parseArgs({
      args,
      options: { tokenizer: { type: 'string' }, input: { type: 'string' }, 'no-eos': { type: 'boolean' } },
      strict: true,
    }));
  } catch (e) {
    ctx.stderr(`hukuk tokenize: ${(e as Error).message}`);
    return 2;
  }
  if (!values.tokenizer || !values.input) {
    ctx.stderr('usage: hukuk tokenize --tokenizer <folder|spiece.model|tokenizer.json> --input <file.jsonl> [--no-eos]');
    return 2;
  }
  let tok;
  try {
    tok = loadTokenizer(values.tokenizer).tokenizer;
  } catch (e) {
    ctx.stderr(`hukuk tokenize: ${e instanceof AppError ? e.message : String(e)}`);
    return 1;
  }
  const addEos = !values['no-eos'];
  const lines = createInterface({ input: createReadStream(values.input, { encoding: 'utf8' }), crlfDelay: Infinity });
  let lineNo = 0;
  try {
    for await (const raw of lines) {
      lineNo++;
      const line = lineNo === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
      if (line.trim() === '') continue;
      let obj: unknown;
      try {
        obj = JSON.parse(line);
      } catch (e) {
        ctx.stderr(`hukuk tokenize: ${values.input}:${lineNo}: not JSON (${(e as Error).message})`);
        return 1;
      }
      const text = (obj as { text?: unknown } | null)?.text;
      if (typeof text !== 'string') {
        ctx.stderr(`hukuk tokenize: ${values.input}:${lineNo}: expected an object with a string "text"`);
        return 1;
      }
      ctx.stdout(JSON.stringify({ ids: tok.encode(text, { addEos }) }));
    }
  } catch (e) {
    ctx.stderr(`hukuk tokenize: cannot read ${values.input}: ${(e as Error).message}`);
    return 1;
  }
  return 0;
}
