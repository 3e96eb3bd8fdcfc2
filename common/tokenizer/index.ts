// Tokenizers for T5-family models, pure TypeScript (no node imports): usable in main, the
// engine worker and the renderer. Load from bytes with t5TokenizerFromSpiece() or from a
// parsed tokenizer.json with t5TokenizerFromTokenizerJson(); main/io/tokenizers reads files.
export { T5Tokenizer, SPACE, type EncodeOptions, type DecodeOptions, type AddedToken } from './tokenizer';
export { t5TokenizerFromSpiece, t5TokenizerFromSpmModel, type SpieceOptions } from './from-spiece';
export { t5TokenizerFromTokenizerJson } from './from-tokenizer-json';
export { parseSpmModel, PieceType, ModelType, type SpmModel, type SpmPiece } from './spm-model';
export { t5TokenizerFromFiles, StreamDecoder, type TokenizerFiles } from './from-files';
