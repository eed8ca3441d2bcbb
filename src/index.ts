// The library's front door: `import { torch, diffusion, annotate, evaluation } from 'selfguided'`. Each layer is a
// namespace (their names would clash flat); 'selfguided/torch', '/nn' and '/optim' reach the engine alone.
export * as torch from './torch/index.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as data from './data/index.js';
export * as features from './features/index.js';
export * as annotate from './annotate/index.js';
export * as diffusion from './diffusion/index.js';
export * as train from './train/index.js';
export * as evaluation from './eval/index.js';
export * as pipelines from './pipelines/index.js';
export * as exporting from './export/index.js';
export { startServer, type ServeOptions, type RunningServer } from './serve/server.js';
