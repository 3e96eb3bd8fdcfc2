export * from './config';
export * from './metrics';
export * from './batching';
export * from './rng';
export * from './presets';
export * from './memory-estimate';
export * from './gradient-checkpointing';
