export * from './kmeans.js';
export * from './sinkhorn.js';
export * from './annotations.js';
export * from './cluster-grid.js';
export * from './self-labels.js';
export * from './neighbours.js';
export * from './scan.js';
