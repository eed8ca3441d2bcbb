export * from './evaluate.js';
export { EvalNetFeatures, EvalNetTrainer, trainEvalNet, loadEvalNet, accuracy } from './evalnet.js';
export * from './frechet.js';
export * from './prdc.js';
export * from './cluster-metrics.js';
export { layoutLine, metricCells, metricHeaders } from './format.js';
export type { LayoutMetrics } from './metrics-file.js';
