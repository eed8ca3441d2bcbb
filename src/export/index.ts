export * from './onnx-graph.js';
export * from './unet-onnx.js';
export * from './onnx-export.js';
export * from './f32.js';
export * from './sample-onnx.js';
