// Layers with PyTorch's parameter names, shapes and default initialisations.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import * as init from './init.js';
import { Module, type AnyModule } from './module.js';

type Pair = number | [number, number];

/** PyTorch's reset_parameters for Linear and convolutions: kaiming_uniform(a=sqrt(5)), bias U(+-1/sqrt(fan_in)). */
function defaultInit(weight: Tensor, bias: Tensor | null): void {
  init.kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const bound = 1 / Math.sqrt(init.fans(weight).fanIn);
    init.uniform_(bias, -bound, bound);
  }
}

/** y = x W^T + b. Args: inFeatures, outFeatures, bias = true. Shapes: [*, in] -> [*, out]. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    bias = true,
  ) {
    super();
    this.weight = this.registerParameter('weight', torch.empty([outFeatures, inFeatures]));
    this.bias = bias ? this.registerParameter('bias', torch.empty([outFeatures])) : null;
    defaultInit(this.weight, this.bias);
  }
  forward(x: Tensor): Tensor {
    return torch.linear(x, this.weight, this.bias);
  }
}

export interface Conv2dOptions {
  stride?: Pair;
  padding?: Pair;
  dilation?: Pair;
  groups?: number;
  bias?: boolean;
}
function toPair(v: Pair): [number, number] {
  return typeof v === 'number' ? [v, v] : v;
}

/** What Conv2d and ConvTranspose2d share: geometry, groups and PyTorch's initialisation. */
abstract class ConvBase extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  protected constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernelSize: Pair,
    o: Conv2dOptions,
    transposed: boolean,
  ) {
    super();
    const [kh, kw] = toPair(kernelSize);
    this.stride = toPair(o.stride ?? 1);
    this.padding = toPair(o.padding ?? 0);
    this.dilation = toPair(o.dilation ?? 1);
    this.groups = o.groups ?? 1;
    const name = transposed ? 'ConvTranspose2d' : 'Conv2d';
    if (inChannels % this.groups || outChannels % this.groups)
      throw new RangeError(`${name}: channels ${inChannels}->${outChannels} not divisible by groups ${this.groups}`);
    const shape = transposed
      ? [inChannels, outChannels / this.groups, kh, kw]
      : [outChannels, inChannels / this.groups, kh, kw];
    this.weight = this.registerParameter('weight', torch.empty(shape));
    this.bias = (o.bias ?? true) ? this.registerParameter('bias', torch.empty([outChannels])) : null;
    defaultInit(this.weight, this.bias);
  }
}

/**
 * 2-D convolution. Args: inChannels, outChannels, kernelSize, { stride, padding, dilation, groups, bias }.
 * Shapes: [N, C_in, H, W] -> [N, C_out, H', W'].
 */
export class Conv2d extends ConvBase {
  constructor(inChannels: number, outChannels: number, kernelSize: Pair, o: Conv2dOptions = {}) {
    super(inChannels, outChannels, kernelSize, o, false);
  }
  forward(x: Tensor): Tensor {
    return torch.conv2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      dilation: this.dilation,
      groups: this.groups,
    });
  }
}

/**
 * Transposed 2-D convolution (the gradient of Conv2d). Args as Conv2d plus { outputPadding }.
 * Shapes: [N, C_in, H, W] -> [N, C_out, H', W'].
 */
export class ConvTranspose2d extends ConvBase {
  readonly outputPadding: [number, number];
  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: Pair,
    o: Conv2dOptions & { outputPadding?: Pair } = {},
  ) {
    super(inChannels, outChannels, kernelSize, o, true);
    this.outputPadding = toPair(o.outputPadding ?? 0);
  }
  forward(x: Tensor): Tensor {
    return torch.convTranspose2d(x, this.weight, this.bias, {
      stride: this.stride,
      padding: this.padding,
      outputPadding: this.outputPadding,
      groups: this.groups,
      dilation: this.dilation,
    });
  }
}

/** Group normalisation over channel groups, with affine weight and bias. Args: numGroups, numChannels, eps = 1e-5, affine = true. Shapes: [N, C, *] -> same. */
export class GroupNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(
    readonly numGroups: number,
    readonly numChannels: number,
    readonly eps = 1e-5,
    affine = true,
  ) {
    super();
    if (numChannels % numGroups)
      throw new RangeError(`GroupNorm: ${numChannels} channels not divisible into ${numGroups} groups`);
    this.weight = affine ? this.registerParameter('weight', torch.ones([numChannels])) : null;
    this.bias = affine ? this.registerParameter('bias', torch.zeros([numChannels])) : null;
  }
  forward(x: Tensor): Tensor {
    return torch.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}

/** Layer normalisation over the last dimensions. Args: normalizedShape, eps = 1e-5, elementwiseAffine = true. Shapes: [*, normalizedShape] -> same. */
export class LayerNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly normalizedShape: number[];
  constructor(
    normalizedShape: number | number[],
    readonly eps = 1e-5,
    elementwiseAffine = true,
  ) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    this.weight = elementwiseAffine ? this.registerParameter('weight', torch.ones(this.normalizedShape)) : null;
    this.bias = elementwiseAffine ? this.registerParameter('bias', torch.zeros(this.normalizedShape)) : null;
  }
  forward(x: Tensor): Tensor {
    return torch.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
}

/**
 * Batch normalisation with running statistics (used in eval mode). Args: numFeatures, eps = 1e-5, momentum = 0.1,
 * affine = true.
 * Shapes: [N, C, H, W] -> same.
 */
export class BatchNorm2d extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;
  constructor(
    readonly numFeatures: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
    affine = true,
  ) {
    super();
    this.weight = affine ? this.registerParameter('weight', torch.ones([numFeatures])) : null;
    this.bias = affine ? this.registerParameter('bias', torch.zeros([numFeatures])) : null;
    this.runningMean = this.registerBuffer('running_mean', torch.zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', torch.ones([numFeatures]));
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', torch.zeros([], { dtype: 'int64' }));
  }
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new RangeError(`BatchNorm2d expects NCHW input, got shape [${x.shape.join(', ')}]`);
    if (this.training) torch.noGrad(() => this.numBatchesTracked.add_(1));
    return torch.batchNorm(x, this.runningMean, this.runningVar, {
      weight: this.weight,
      bias: this.bias,
      training: this.training,
      momentum: this.momentum,
      eps: this.eps,
    });
  }
}

/** Batch normalisation of features [N, C] (as BatchNorm2d, over the batch only). */
export class BatchNorm1d extends BatchNorm2d {
  override forward(x: Tensor): Tensor {
    if (x.ndim !== 2) throw new RangeError(`BatchNorm1d expects [N, C] input, got shape [${x.shape.join(', ')}]`);
    return super.forward(x.unsqueeze(2).unsqueeze(3)).flatten(1);
  }
}

/** A lookup table. Args: numEmbeddings, embeddingDim, paddingIdx?. Shapes: int64 [*] -> [*, embeddingDim]. */
export class Embedding extends Module {
  readonly weight: Tensor;
  constructor(
    readonly numEmbeddings: number,
    readonly embeddingDim: number,
    readonly paddingIdx?: number,
  ) {
    super();
    this.weight = this.registerParameter('weight', torch.empty([numEmbeddings, embeddingDim]));
    init.normal_(this.weight);
    if (paddingIdx !== undefined) torch.noGrad(() => torch.tidy(() => this.weight.select(0, paddingIdx).zero_()));
  }
  forward(indices: Tensor): Tensor {
    return torch.embedding(indices, this.weight, this.paddingIdx ?? -1);
  }
}

/** Zeroes elements with probability p in training mode (scaled by 1/(1-p)); identity in eval mode. */
export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (p < 0 || p > 1) throw new RangeError(`Dropout: p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? torch.dropout(x, this.p, true) : x.alias();
  }
}

/** Applies a tensor function; the base of the parameter-free activation modules. */
export class Lambda extends Module {
  constructor(private readonly fn: (x: Tensor) => Tensor) {
    super();
  }
  forward(x: Tensor): Tensor {
    return this.fn(x);
  }
}
export class Identity extends Lambda {
  constructor() {
    super((x) => x.alias());
  }
}
export class ReLU extends Lambda {
  constructor() {
    super(torch.relu);
  }
}
export class GELU extends Lambda {
  constructor(approximate: 'none' | 'tanh' = 'none') {
    super((x) => torch.gelu(x, approximate));
  }
}
export class SiLU extends Lambda {
  constructor() {
    super(torch.silu);
  }
}
export class Sigmoid extends Lambda {
  constructor() {
    super(torch.sigmoid);
  }
}
export class Tanh extends Lambda {
  constructor() {
    super(torch.tanh);
  }
}
export class LeakyReLU extends Lambda {
  constructor(slope = 0.01) {
    super((x) => torch.leakyRelu(x, slope));
  }
}
export class Softmax extends Lambda {
  constructor(dim: number) {
    super((x) => torch.softmax(x, dim));
  }
}
export class Flatten extends Lambda {
  constructor(start = 1, end = -1) {
    super((x) => x.flatten(start, end));
  }
}
export class Upsample extends Lambda {
  constructor(scaleFactor: number, mode: 'nearest' | 'bilinear' = 'nearest') {
    super((x) => torch.interpolate(x, { scaleFactor, mode }));
  }
}

/** Runs modules in order (each call() frees its own intermediates). */
export class Sequential extends Module {
  readonly layers: Module[];
  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }
  forward(x: Tensor): Tensor {
    let h = x;
    for (const m of this.layers) h = m.call(h);
    return h === x ? x.alias() : h;
  }
}

/** A list of submodules registered under "0", "1", ... */
export class ModuleList<M extends AnyModule = AnyModule> extends Module<[], never> {
  readonly items: M[] = [];
  constructor(items: M[] = []) {
    super();
    for (const m of items) this.append(m);
  }
  append(m: M): this {
    this.registerModule(String(this.items.length), m);
    this.items.push(m);
    return this;
  }
  get length(): number {
    return this.items.length;
  }
  at(i: number): M {
    const m = this.items.at(i);
    if (!m) throw new RangeError(`ModuleList index ${i} out of range (length ${this.items.length})`);
    return m;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
  forward(): never {
    throw new Error('ModuleList has no forward; iterate over it');
  }
}

/**
 * Multi-head attention with PyTorch's packed in-projection (in_proj_weight/bias, out_proj).
 * Inputs are [L, N, E] (or [N, L, E] with batchFirst). keyPaddingMask [N, S] is true where keys are padding.
 */
export class MultiheadAttention extends Module<
  [Tensor, Tensor, Tensor, { keyPaddingMask?: Tensor; attnMask?: Tensor }?],
  Tensor
> {
  readonly inProjWeight: Tensor;
  readonly inProjBias: Tensor | null;
  readonly outProj: Linear;
  readonly headDim: number;
  constructor(
    readonly embedDim: number,
    readonly numHeads: number,
    o: { bias?: boolean; batchFirst?: boolean; dropout?: number } = {},
  ) {
    super();
    if (embedDim % numHeads)
      throw new RangeError(`MultiheadAttention: embedDim ${embedDim} not divisible by numHeads ${numHeads}`);
    this.headDim = embedDim / numHeads;
    this.batchFirst = o.batchFirst ?? false;
    this.dropout = o.dropout ?? 0;
    this.inProjWeight = this.registerParameter('in_proj_weight', torch.empty([3 * embedDim, embedDim]));
    init.xavierUniform_(this.inProjWeight);
    this.inProjBias = (o.bias ?? true) ? this.registerParameter('in_proj_bias', torch.zeros([3 * embedDim])) : null;
    this.outProj = this.registerModule('out_proj', new Linear(embedDim, embedDim, o.bias ?? true));
    if (this.outProj.bias) init.zeros_(this.outProj.bias);
  }
  readonly batchFirst: boolean;
  readonly dropout: number;

  forward(query: Tensor, key: Tensor, value: Tensor, o: { keyPaddingMask?: Tensor; attnMask?: Tensor } = {}): Tensor {
    const [q0, k0, v0] = this.batchFirst
      ? [query, key, value]
      : [query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)];
    const [wq, wk, wv] = this.inProjWeight.chunk(3, 0);
    const [bq, bk, bv] = this.inProjBias ? this.inProjBias.chunk(3, 0) : [null, null, null];
    const heads = (x: Tensor, w: Tensor, b: Tensor | null | undefined) => {
      const [n, l] = x.shape as [number, number];
      return torch
        .linear(x, w, b ?? null)
        .reshape(n, l, this.numHeads, this.headDim)
        .transpose(1, 2);
    };
    const q = heads(q0!, wq!, bq),
      k = heads(k0!, wk!, bk),
      v = heads(v0!, wv!, bv);
    let mask: Tensor | null = null;
    // Boolean masks say "may attend" to the attention kernel; PyTorch's MHA masks say "blocked".
    if (o.attnMask) mask = o.attnMask.dtype === 'bool' ? o.attnMask.logicalNot() : o.attnMask;
    if (o.keyPaddingMask) {
      const kp = o.keyPaddingMask.logicalNot().unsqueeze(1).unsqueeze(1);
      mask = mask ? (mask.dtype === 'bool' ? mask.logicalAnd(kp) : mask.maskedFill(kp.logicalNot(), -Infinity)) : kp;
    }
    const out = torch.scaledDotProductAttention(q, k, v, {
      attnMask: mask,
      dropoutP: this.training ? this.dropout : 0,
    });
    const [n, , l] = out.shape as [number, number, number];
    const merged = this.outProj.call(out.transpose(1, 2).reshape(n, l, this.embedDim));
    return this.batchFirst ? merged : merged.transpose(0, 1);
  }
}
