export * from './errors';
export * from './channels';
export * from './api';
export * from './system';
