// Dataset files on disk: readers, hashes, inspection (statistics) and the tokenized cache.
export * from './readers';
export * from './hash';
export * from './inspect';
export * from './cache';
