// The tensor engine's public surface: `import * as torch from 'selfguided/torch'` reads like PyTorch.
export * from './creation.js';
export * from './functional.js';
export * from './autograd.js';
export * from './runtime.js';
export { Tensor, isTensor, toSpec, type Device, type Scalar, type NestedArray, type ToTarget } from './tensor.js';
export { Generator, manualSeed, defaultGenerator, forkRng, streamGenerator } from './random.js';
export { tidy, keep, scopeDepth } from './scope.js';
export { DTYPES, isFloating, elementSize, type DType, type TypedArray } from './dtype.js';
export { ScriptModule, type JitInput, type JitOutput } from './jit.js';
export { Op } from './op.js';
export * as linalg from './linalg.js';
export * as foreach from './foreach.js';
export * as safetensors from './safetensors.js';
export * as profiler from './profiler.js';
export * as distributed from './distributed.js';
