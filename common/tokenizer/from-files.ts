// Picks and builds the tokenizer from a model folder's file contents, for code that reads the
// files itself (the engine worker may not import main/): tokenizer.json wins when present (as
// in transformers), else spiece.model with tokenizer_config.json's extra_ids.
import { t5TokenizerFromSpiece } from './from-spiece';
import { t5TokenizerFromTokenizerJson } from './from-tokenizer-json';
import type { T5Tokenizer } from './tokenizer';

export interface TokenizerFiles {
  /** Text of tokenizer.json, if the folder has one. */
  tokenizerJson?: string;
  /** Bytes of spiece.model, if the folder has one. */
  spieceModel?: Uint8Array;
  /** Text of tokenizer_config.json, if any (for extra_ids). */
  tokenizerConfig?: string;
}

export function t5TokenizerFromFiles(files: TokenizerFiles): T5Tokenizer {
  if (files.tokenizerJson !== undefined) return t5TokenizerFromTokenizerJson(JSON.parse(files.tokenizerJson));
  if (files.spieceModel !== undefined) {
    let extraIds = 100;
    if (files.tokenizerConfig) {
      try {
        const cfg = JSON.parse(files.tokenizerConfig) as { extra_ids?: unknown };
        if (typeof cfg.extra_ids === 'number' && cfg.extra_ids >= 0) extraIds = cfg.extra_ids;
      } catch {
        /* a broken tokenizer_config.json only loses extra_ids; T5's default stays */
      }
    }
    return t5TokenizerFromSpiece(files.spieceModel, { extraIds });
  }
  throw new Error('no tokenizer.json or spiece.model');
}

/**
 * Incremental decoding for streamed generation: push ids one at a time, get the new text.
 * Decodes the whole sequence each time (Metaspace decoding is not prefix-stable for the first
 * token, and byte-fallback pieces complete a character only together), and holds text back
 * while it ends in an unfinished byte sequence (U+FFFD).
 */
export class StreamDecoder {
  private readonly ids: number[] = [];
  private emitted = '';
  constructor(
    private readonly tok: T5Tokenizer,
    private readonly skipSpecialTokens = true,
  ) {}

  push(id: number): string {
    this.ids.push(id);
    const text = this.tok.decode(this.ids, { skipSpecialTokens: this.skipSpecialTokens });
    if (text.endsWith('\ufffd')) return '';
    if (!text.startsWith(this.emitted)) {
      // Cannot happen with Metaspace decoding past the first token; be safe: emit nothing new.
      this.emitted = text;
      return '';
    }
    const delta = text.slice(this.emitted.length);
    this.emitted = text;
    return delta;
  }

  get text(): string {
    return this.emitted;
  }
}
