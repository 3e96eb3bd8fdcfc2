// Dataset logic shared by main, the worker and the UI (pure: no node imports). Files are
// read by main/io/datasets; this folder turns rows into prepared, checked, measured pairs.
export * from './types';
export * from './columns';
export * from './templates';
export * from './split';
export * from './prepare';
export * from './stats';
export * from './csv';
export * from './json-lines';
export * from './cache-format';
