// Functions over tensors in the spirit of torch.* and torch.nn.functional: joins, convolutions,
// pooling, resampling, normalisation, activations, attention and losses.
import { dtypeCode } from './dtype.js';
import { Op } from './op.js';
import type { Generator } from './random.js';
import { callT, callTs, type Tensor } from './tensor.js';

const O = {
  cat: new Op('cat'),
  stack: new Op('stack'),
  whereSelf: new Op('where', 'self'),
  whereScalar: new Op('where', 'Scalar'),
  whereScalarOther: new Op('where', 'ScalarOther'),
  whereScalarSelf: new Op('where', 'ScalarSelf'),
  einsum: new Op('einsum'),
  cdist: new Op('cdist'),
  cosineSimilarity: new Op('cosine_similarity'),
  conv1d: new Op('conv1d'),
  conv2d: new Op('conv2d'),
  convTranspose2d: new Op('conv_transpose2d', 'input'),
  avgPool2d: new Op('avg_pool2d'),
  maxPool2d: new Op('max_pool2d'),
  adaptiveAvgPool2d: new Op('adaptive_avg_pool2d'),
  upNearest: new Op('upsample_nearest2d', 'vec'),
  upBilinear: new Op('upsample_bilinear2d', 'vec'),
  constantPad: new Op('constant_pad_nd'),
  reflectPad2d: new Op('reflection_pad2d'),
  replicatePad2d: new Op('replication_pad2d'),
  reflectPad1d: new Op('reflection_pad1d'),
  replicatePad1d: new Op('replication_pad1d'),
  groupNorm: new Op('group_norm'),
  layerNorm: new Op('layer_norm'),
  batchNorm: new Op('batch_norm'),
  dropout: new Op('dropout'),
  relu: new Op('relu'),
  gelu: new Op('gelu'),
  silu: new Op('silu'),
  sigmoid: new Op('sigmoid'),
  tanh: new Op('tanh'),
  softmax: new Op('softmax', 'int'),
  logSoftmax: new Op('log_softmax', 'int'),
  leakyRelu: new Op('leaky_relu'),
  softplus: new Op('softplus'),
  elu: new Op('elu'),
  mish: new Op('mish'),
  embedding: new Op('embedding'),
  oneHot: new Op('one_hot'),
  mse: new Op('mse_loss'),
  l1: new Op('l1_loss'),
  crossEntropy: new Op('cross_entropy_loss'),
  nll: new Op('nll_loss_nd'),
  bce: new Op('binary_cross_entropy'),
  bceLogits: new Op('binary_cross_entropy_with_logits'),
  sdpaPublic: new Op('scaled_dot_product_attention'),
  sdpaPrivate: new Op('_scaled_dot_product_attention'),
  baddbmm: new Op('baddbmm'),
  linear: new Op('linear'),
  affineGrid: new Op('affine_grid_generator'),
  gridSampler: new Op('grid_sampler'),
  normalize: new Op('linalg_vector_norm'),
};

export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };
function reduction(r: Reduction | undefined): number {
  const v = REDUCTION[r ?? 'mean'];
  if (v === undefined) throw new TypeError(`reduction must be 'none', 'mean' or 'sum', got '${String(r)}'`);
  return v;
}

// ---- joins and selection
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  return callT(O.cat, [tensors, dim]);
}
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  return callT(O.stack, [tensors, dim]);
}
/** Elementwise condition ? x : y (numbers broadcast as scalars). */
export function where(condition: Tensor, x: Tensor | number, y: Tensor | number): Tensor {
  if (typeof x === 'number' && typeof y === 'number') return callT(O.whereScalar, [condition, x, y]);
  if (typeof x === 'number') return callT(O.whereScalarSelf, [condition, x, y]);
  if (typeof y === 'number') return callT(O.whereScalarOther, [condition, x, y]);
  return callT(O.whereSelf, [condition, x, y]);
}
export function einsum(equation: string, ...tensors: Tensor[]): Tensor {
  return callT(O.einsum, [equation, tensors, null]);
}
/**
 * Pairwise p-norm distances between the rows of x1 [.., P, M] and x2 [.., R, M]. exact = true computes
 * each distance directly (no matrix-product shortcut), so the same pair always gives the same bits.
 */
export function cdist(x1: Tensor, x2: Tensor, p = 2, exact = false): Tensor {
  return callT(O.cdist, [x1, x2, p, exact ? 2 : null]);
}
export function cosineSimilarity(x1: Tensor, x2: Tensor, dim = 1, eps = 1e-8): Tensor {
  return callT(O.cosineSimilarity, [x1, x2, dim, eps]);
}
/** x / max(||x||_p over dim, eps), as F.normalize. */
export function normalize(x: Tensor, p = 2, dim = 1, eps = 1e-12): Tensor {
  const n = callT(O.normalize, [x, p, [dim], true, null]);
  const c = n.clampMin(eps);
  const out = x.div(c);
  n.dispose();
  c.dispose();
  return out;
}

/** x W^T + b */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  return callT(O.linear, [x, weight, bias ?? null]);
}

/** Batched diagonal matrices from the last dim of x. */
export function diagEmbed(x: Tensor, offset = 0): Tensor {
  return x.diagEmbed(offset);
}

// ---- convolution and pooling
export interface ConvOptions {
  stride?: number | number[];
  padding?: number | number[];
  dilation?: number | number[];
  groups?: number;
}
export function conv1d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: ConvOptions = {}): Tensor {
  return callT(O.conv1d, [input, weight, bias ?? null, o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1]);
}
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor | null, o: ConvOptions = {}): Tensor {
  return callT(O.conv2d, [input, weight, bias ?? null, o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1]);
}
export function convTranspose2d(
  input: Tensor,
  weight: Tensor,
  bias?: Tensor | null,
  o: ConvOptions & { outputPadding?: number | number[] } = {},
): Tensor {
  return callT(O.convTranspose2d, [
    input,
    weight,
    bias ?? null,
    o.stride ?? 1,
    o.padding ?? 0,
    o.outputPadding ?? 0,
    o.groups ?? 1,
    o.dilation ?? 1,
  ]);
}
export interface PoolOptions {
  stride?: number | number[];
  padding?: number | number[];
  ceilMode?: boolean;
}
export function avgPool2d(
  input: Tensor,
  kernelSize: number | number[],
  o: PoolOptions & { countIncludePad?: boolean } = {},
): Tensor {
  return callT(O.avgPool2d, [
    input,
    kernelSize,
    o.stride ?? kernelSize,
    o.padding ?? 0,
    o.ceilMode ?? false,
    o.countIncludePad ?? true,
    null,
  ]);
}
export function maxPool2d(
  input: Tensor,
  kernelSize: number | number[],
  o: PoolOptions & { dilation?: number | number[] } = {},
): Tensor {
  return callT(O.maxPool2d, [
    input,
    kernelSize,
    o.stride ?? kernelSize,
    o.padding ?? 0,
    o.dilation ?? 1,
    o.ceilMode ?? false,
  ]);
}
export function adaptiveAvgPool2d(input: Tensor, outputSize: number | [number, number]): Tensor {
  return callT(O.adaptiveAvgPool2d, [input, outputSize]);
}

export interface InterpolateOptions {
  size?: number | [number, number];
  scaleFactor?: number | [number, number];
  mode?: 'nearest' | 'bilinear';
  alignCorners?: boolean;
}
/** Resamples NCHW images to a size or by a scale factor. */
export function interpolate(input: Tensor, o: InterpolateOptions): Tensor {
  if ((o.size === undefined) === (o.scaleFactor === undefined))
    throw new TypeError('interpolate: give exactly one of size and scaleFactor');
  const size = o.size === undefined ? null : typeof o.size === 'number' ? [o.size, o.size] : o.size;
  const scale =
    o.scaleFactor === undefined
      ? null
      : typeof o.scaleFactor === 'number'
        ? [o.scaleFactor, o.scaleFactor]
        : o.scaleFactor;
  const mode = o.mode ?? 'nearest';
  if (mode === 'nearest') return callT(O.upNearest, [input, size, scale]);
  if (mode === 'bilinear') return callT(O.upBilinear, [input, size, o.alignCorners ?? false, scale]);
  throw new TypeError(`interpolate: mode must be 'nearest' or 'bilinear', got '${String(mode)}'`);
}

/** Sampling grid [N, H, W, 2] for a batch of 2x3 affine matrices theta [N, 2, 3] (F.affine_grid). */
export function affineGrid(theta: Tensor, size: [number, number, number, number], alignCorners = false): Tensor {
  return callT(O.affineGrid, [theta, size, alignCorners]);
}
/** Samples input at grid locations in [-1, 1] (F.grid_sample). */
export function gridSample(
  input: Tensor,
  grid: Tensor,
  o: { mode?: 'bilinear' | 'nearest'; paddingMode?: 'zeros' | 'border' | 'reflection'; alignCorners?: boolean } = {},
): Tensor {
  const mode = { bilinear: 0, nearest: 1 }[o.mode ?? 'bilinear'];
  const pad = { zeros: 0, border: 1, reflection: 2 }[o.paddingMode ?? 'zeros'];
  return callT(O.gridSampler, [input, grid, mode, pad, o.alignCorners ?? false]);
}

/** Pads the last dims: pads = [left, right, top, bottom, ...] as in F.pad. */
export function pad(
  input: Tensor,
  pads: readonly number[],
  mode: 'constant' | 'reflect' | 'replicate' = 'constant',
  value = 0,
): Tensor {
  if (mode === 'constant') return callT(O.constantPad, [input, [...pads], value]);
  if (pads.length === 4) return callT(mode === 'reflect' ? O.reflectPad2d : O.replicatePad2d, [input, [...pads]]);
  if (pads.length === 2) return callT(mode === 'reflect' ? O.reflectPad1d : O.replicatePad1d, [input, [...pads]]);
  throw new TypeError(`pad: mode '${mode}' takes 2 or 4 pad sizes, got ${pads.length}`);
}

// ---- normalisation and regularisation
export function groupNorm(
  input: Tensor,
  numGroups: number,
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  return callT(O.groupNorm, [input, numGroups, weight ?? null, bias ?? null, eps, true]);
}
export function layerNorm(
  input: Tensor,
  normalizedShape: number[],
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  return callT(O.layerNorm, [input, normalizedShape, weight ?? null, bias ?? null, eps, true]);
}
export function batchNorm(
  input: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  o: { weight?: Tensor | null; bias?: Tensor | null; training?: boolean; momentum?: number; eps?: number } = {},
): Tensor {
  return callT(O.batchNorm, [
    input,
    o.weight ?? null,
    o.bias ?? null,
    runningMean,
    runningVar,
    o.training ?? false,
    o.momentum ?? 0.1,
    o.eps ?? 1e-5,
    true,
  ]);
}
/** Zeroes elements with probability p and scales the rest by 1/(1-p) when training. */
export function dropout(input: Tensor, p = 0.5, training = true): Tensor {
  if (p < 0 || p > 1) throw new RangeError(`dropout: p must be in [0, 1], got ${p}`);
  return callT(O.dropout, [input, p, training]);
}

// ---- activations
export function relu(x: Tensor): Tensor {
  return callT(O.relu, [x]);
}
export function gelu(x: Tensor, approximate: 'none' | 'tanh' = 'none'): Tensor {
  return callT(O.gelu, [x, approximate]);
}
export function silu(x: Tensor): Tensor {
  return callT(O.silu, [x]);
}
export function sigmoid(x: Tensor): Tensor {
  return callT(O.sigmoid, [x]);
}
export function tanh(x: Tensor): Tensor {
  return callT(O.tanh, [x]);
}
export function softmax(x: Tensor, dim: number): Tensor {
  return callT(O.softmax, [x, dim, null]);
}
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return callT(O.logSoftmax, [x, dim, null]);
}
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return callT(O.leakyRelu, [x, negativeSlope]);
}
export function softplus(x: Tensor, beta = 1, threshold = 20): Tensor {
  return callT(O.softplus, [x, beta, threshold]);
}
export function elu(x: Tensor, alpha = 1): Tensor {
  return callT(O.elu, [x, alpha, 1, 1]);
}
export function mish(x: Tensor): Tensor {
  return callT(O.mish, [x]);
}

// ---- attention
let sdpaPublic: boolean | undefined;
/**
 * softmax(q k^T * scale + mask) v over the last two dims; q [.., L, E], k [.., S, E], v [.., S, Ev].
 * scale defaults to 1/sqrt(E). A boolean mask marks positions that may attend (true = keep).
 */
export function scaledDotProductAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  o: { attnMask?: Tensor | null; dropoutP?: number; isCausal?: boolean; scale?: number } = {},
): Tensor {
  if (sdpaPublic === undefined) {
    try {
      void O.sdpaPublic.index;
      sdpaPublic = true;
    } catch {
      sdpaPublic = false;
    }
  }
  const e = q.shape[q.ndim - 1]!;
  const defaultScale = 1 / Math.sqrt(e);
  let query = q;
  if (o.scale !== undefined && o.scale !== defaultScale) query = q.mul(o.scale / defaultScale);
  try {
    if (sdpaPublic) return callT(O.sdpaPublic, [query, k, v, o.attnMask ?? null, o.dropoutP ?? 0, o.isCausal ?? false]);
    const [out, weights] = callTs(O.sdpaPrivate, [
      query,
      k,
      v,
      o.attnMask ?? null,
      o.dropoutP ?? 0,
      false,
      o.isCausal ?? false,
    ]);
    weights!.dispose();
    return out!;
  } finally {
    if (query !== q) query.dispose();
  }
}

// ---- lookup tables
export function embedding(indices: Tensor, weight: Tensor, paddingIdx = -1): Tensor {
  return callT(O.embedding, [weight, indices, paddingIdx, false, false]);
}
/** int64 one-hot of integer class ids; convert with .float() for conditioning. */
export function oneHot(indices: Tensor, numClasses = -1): Tensor {
  return callT(O.oneHot, [indices, numClasses]);
}

// ---- losses
export function mseLoss(input: Tensor, target: Tensor, r?: Reduction): Tensor {
  return callT(O.mse, [input, target, reduction(r)]);
}
export function l1Loss(input: Tensor, target: Tensor, r?: Reduction): Tensor {
  return callT(O.l1, [input, target, reduction(r)]);
}
/** Logits [N, C, ...] against int64 class ids [N, ...] or class probabilities [N, C, ...]. */
export function crossEntropy(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor; reduction?: Reduction; ignoreIndex?: number; labelSmoothing?: number } = {},
): Tensor {
  return callT(O.crossEntropy, [
    input,
    target,
    o.weight ?? null,
    reduction(o.reduction),
    o.ignoreIndex ?? -100,
    o.labelSmoothing ?? 0,
  ]);
}
export function nllLoss(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor; reduction?: Reduction; ignoreIndex?: number } = {},
): Tensor {
  return callT(O.nll, [input, target, o.weight ?? null, reduction(o.reduction), o.ignoreIndex ?? -100]);
}
/** On probabilities in [0, 1]. */
export function binaryCrossEntropy(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor; reduction?: Reduction } = {},
): Tensor {
  return callT(O.bce, [input, target, o.weight ?? null, reduction(o.reduction)]);
}
export function binaryCrossEntropyWithLogits(
  input: Tensor,
  target: Tensor,
  o: { weight?: Tensor; posWeight?: Tensor; reduction?: Reduction } = {},
): Tensor {
  return callT(O.bceLogits, [input, target, o.weight ?? null, o.posWeight ?? null, reduction(o.reduction)]);
}

export type { Generator };
export { dtypeCode };
