export * from './runs';
export * from './metrics';
export * from './models';
export * from './datasets';
export * from './artifacts';
export * from './chat';
