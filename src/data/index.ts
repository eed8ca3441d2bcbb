export * from './dataset.js';
export * from './fashion-mnist.js';
export * from './image-folder.js';
export * from './long-tail.js';
export * from './loader.js';
export * from './spec.js';
export * from './scene-annotations.js';
