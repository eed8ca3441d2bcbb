export * from './checkpoint.js';
export * from './lock.js';
export * from './loop.js';
export * from './run-dir.js';
export * from './state.js';
export * from './data-parallel.js';
export * from './launcher.js';
