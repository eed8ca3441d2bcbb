export * from './optimizer.js';
export * from './adam.js';
export * from './sgd.js';
export * from './clip.js';
export * from './schedule.js';
export * from './ema.js';
