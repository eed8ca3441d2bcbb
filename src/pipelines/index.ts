export * from './annotate-file.js';
export * from './self-labels-file.js';
export * from './self-boxes-file.js';
export * from './self-masks-file.js';
export * from './open-features.js';
export * from './ground-truth.js';
export * from './stage.js';
export { runDemo, type DemoOptions, type DemoResult } from './demo.js';
