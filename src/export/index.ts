export * from './onnx-graph.js';
export * from './unet-onnx.js';
export * from './onnx-export.js';
