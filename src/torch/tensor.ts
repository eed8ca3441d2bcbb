// The Tensor: a typed front end over one native libtorch tensor, with PyTorch's names in camelCase.
import { dtypeCode, dtypeFromCode, typedArrayFor, type DType, type TypedArray } from './dtype.js';
import { native, type Handle, type NativeValue } from './native.js';
import { callRaw, Op, type OpArg } from './op.js';
import { markTracked, track, untrack, type Tracked } from './scope.js';

export type Device = 'cpu' | 'cuda' | `cuda:${number}`;

/** What `to()` takes, as in PyTorch: a device, a dtype, or both. */
export type ToTarget = Device | DType | { device?: Device; dtype?: DType };

const isDevice = (x: string): x is Device => x === 'cpu' || x.startsWith('cuda');

/** A `to()` target as { device, dtype } (Tensor.to and Module.to read it alike). */
export function toSpec(target: ToTarget): { device?: Device; dtype?: DType } {
  if (typeof target !== 'string') return target;
  return isDevice(target) ? { device: target } : { dtype: target };
}
export type Scalar = number | boolean;
export type NestedArray = number | boolean | NestedArray[];

export function isTensor(v: unknown): v is Tensor {
  return v instanceof Tensor;
}

/** Wraps whatever a native call returned: handles become Tensors, arrays stay arrays. */
export function wrapValue(v: NativeValue): unknown {
  if (Array.isArray(v)) return v.map(wrapValue);
  if (typeof v === 'object' && v !== null) return new Tensor(v as Handle);
  return v;
}

export function callT(op: Op, args: readonly OpArg[]): Tensor {
  return new Tensor(callRaw(op, args) as Handle);
}

export function callTs(op: Op, args: readonly OpArg[]): Tensor[] {
  return (callRaw(op, args) as Handle[]).map((h) => new Tensor(h));
}

export function callVoid(op: Op, args: readonly OpArg[]): void {
  callRaw(op, args, true);
}

function pair(op: Op, args: readonly OpArg[]): { values: Tensor; indices: Tensor } {
  const [values, indices] = callTs(op, args);
  return { values: values!, indices: indices! };
}

const O = {
  addT: new Op('add', 'Tensor'),
  addS: new Op('add', 'Scalar'),
  subT: new Op('sub', 'Tensor'),
  subS: new Op('sub', 'Scalar'),
  rsubS: new Op('rsub', 'Scalar'),
  mulT: new Op('mul', 'Tensor'),
  mulS: new Op('mul', 'Scalar'),
  divT: new Op('div', 'Tensor'),
  divS: new Op('div', 'Scalar'),
  divTMode: new Op('div', 'Tensor_mode'),
  divSMode: new Op('div', 'Scalar_mode'),
  remT: new Op('remainder', 'Tensor'),
  remS: new Op('remainder', 'Scalar'),
  powTT: new Op('pow', 'Tensor_Tensor'),
  powTS: new Op('pow', 'Tensor_Scalar'),
  add_T: new Op('add_', 'Tensor'),
  add_S: new Op('add_', 'Scalar'),
  sub_T: new Op('sub_', 'Tensor'),
  sub_S: new Op('sub_', 'Scalar'),
  mul_T: new Op('mul_', 'Tensor'),
  mul_S: new Op('mul_', 'Scalar'),
  div_T: new Op('div_', 'Tensor'),
  div_S: new Op('div_', 'Scalar'),
  addcmul_: new Op('addcmul_'),
  addcdiv_: new Op('addcdiv_'),
  lerp_S: new Op('lerp_', 'Scalar'),
  lerp_T: new Op('lerp_', 'Tensor'),
  copy_: new Op('copy_'),
  zero_: new Op('zero_'),
  fill_S: new Op('fill_', 'Scalar'),
  clamp_: new Op('clamp_'),
  uniform_: new Op('uniform_'),
  normal_: new Op('normal_'),
  maskedFill_S: new Op('masked_fill_', 'Scalar'),
  indexPut_: new Op('index_put_'),
  eqT: new Op('eq', 'Tensor'),
  eqS: new Op('eq', 'Scalar'),
  neT: new Op('ne', 'Tensor'),
  neS: new Op('ne', 'Scalar'),
  ltT: new Op('lt', 'Tensor'),
  ltS: new Op('lt', 'Scalar'),
  leT: new Op('le', 'Tensor'),
  leS: new Op('le', 'Scalar'),
  gtT: new Op('gt', 'Tensor'),
  gtS: new Op('gt', 'Scalar'),
  geT: new Op('ge', 'Tensor'),
  geS: new Op('ge', 'Scalar'),
  logicalAnd: new Op('logical_and'),
  logicalOr: new Op('logical_or'),
  logicalNot: new Op('logical_not'),
  logicalXor: new Op('logical_xor'),
  isnan: new Op('isnan'),
  isfinite: new Op('isfinite'),
  isinf: new Op('isinf'),
  neg: new Op('neg'),
  reciprocal: new Op('reciprocal'),
  exp: new Op('exp'),
  expm1: new Op('expm1'),
  log: new Op('log'),
  log2: new Op('log2'),
  log10: new Op('log10'),
  log1p: new Op('log1p'),
  sqrt: new Op('sqrt'),
  rsqrt: new Op('rsqrt'),
  sin: new Op('sin'),
  cos: new Op('cos'),
  tan: new Op('tan'),
  atan: new Op('atan'),
  atan2: new Op('atan2'),
  asin: new Op('asin'),
  acos: new Op('acos'),
  sinh: new Op('sinh'),
  cosh: new Op('cosh'),
  tanh: new Op('tanh'),
  sigmoid: new Op('sigmoid'),
  abs: new Op('abs'),
  sign: new Op('sign'),
  erf: new Op('erf'),
  erfinv: new Op('erfinv'),
  floor: new Op('floor'),
  ceil: new Op('ceil'),
  round: new Op('round'),
  trunc: new Op('trunc'),
  square: new Op('square'),
  clamp: new Op('clamp'),
  clampT: new Op('clamp', 'Tensor'),
  maximum: new Op('maximum'),
  minimum: new Op('minimum'),
  relu: new Op('relu'),
  sum: new Op('sum'),
  sumDim: new Op('sum', 'dim_IntList'),
  mean: new Op('mean'),
  meanDim: new Op('mean', 'dim'),
  varC: new Op('var', 'correction'),
  stdC: new Op('std', 'correction'),
  max: new Op('max'),
  maxDim: new Op('max', 'dim'),
  min: new Op('min'),
  minDim: new Op('min', 'dim'),
  amax: new Op('amax'),
  amin: new Op('amin'),
  argmax: new Op('argmax'),
  argmin: new Op('argmin'),
  logsumexp: new Op('logsumexp'),
  norm: new Op('linalg_vector_norm'),
  prod: new Op('prod'),
  prodDim: new Op('prod', 'dim_int'),
  all: new Op('all'),
  allDim: new Op('all', 'dim'),
  any: new Op('any'),
  anyDim: new Op('any', 'dim'),
  cumsum: new Op('cumsum'),
  cumprod: new Op('cumprod'),
  matmul: new Op('matmul'),
  mm: new Op('mm'),
  bmm: new Op('bmm'),
  outer: new Op('outer'),
  dot: new Op('dot'),
  reshape: new Op('reshape'),
  view: new Op('view'),
  permute: new Op('permute'),
  transpose: new Op('transpose', 'int'),
  t: new Op('t'),
  flatten: new Op('flatten', 'using_ints'),
  squeeze: new Op('squeeze'),
  squeezeDim: new Op('squeeze', 'dim'),
  unsqueeze: new Op('unsqueeze'),
  expand: new Op('expand'),
  expandAs: new Op('expand_as'),
  repeat: new Op('repeat'),
  narrow: new Op('narrow'),
  slice: new Op('slice', 'Tensor'),
  select: new Op('select', 'int'),
  indexSelect: new Op('index_select'),
  gather: new Op('gather'),
  scatterSrc: new Op('scatter', 'src'),
  scatterValue: new Op('scatter', 'value'),
  indexAdd: new Op('index_add'),
  indexAdd_: new Op('index_add_'),
  bincount: new Op('bincount'),
  scatterAdd: new Op('scatter_add'),
  maskedFillS: new Op('masked_fill', 'Scalar'),
  maskedFillT: new Op('masked_fill', 'Tensor'),
  index: new Op('index', 'Tensor'),
  maskedSelect: new Op('masked_select'),
  split: new Op('split', 'Tensor'),
  splitSizes: new Op('split_with_sizes'),
  chunk: new Op('chunk'),
  unbind: new Op('unbind', 'int'),
  flip: new Op('flip'),
  roll: new Op('roll'),
  tril: new Op('tril'),
  triu: new Op('triu'),
  diag: new Op('diag'),
  diagonal: new Op('diagonal'),
  diagEmbed: new Op('diag_embed'),
  nonzero: new Op('nonzero'),
  contiguous: new Op('contiguous'),
  clone: new Op('clone'),
  detach: new Op('detach'),
  toDtype: new Op('to', 'dtype'),
  toAny: new Op('to', 'dtype_layout'),
  sort: new Op('sort'),
  argsort: new Op('argsort'),
  topk: new Op('topk'),
  softmax: new Op('softmax', 'int'),
  logSoftmax: new Op('log_softmax', 'int'),
  whereSelf: new Op('where', 'self'),
  whereScalarOther: new Op('where', 'ScalarOther'),
};

export interface ReduceOptions {
  keepdim?: boolean;
}
export interface VarOptions extends ReduceOptions {
  /** Bessel's correction; 1 (unbiased, PyTorch's default) or 0. */
  correction?: number;
}

type Dims = number | readonly number[];
function dimList(d: Dims | undefined): number[] | undefined {
  return d === undefined ? undefined : typeof d === 'number' ? [d] : [...d];
}
function sizes(args: readonly (number | readonly number[])[]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as number[])] : (args as number[]);
}

export class Tensor implements Tracked {
  /** @internal */
  _scope?: Tracked['_scope'];
  readonly handle: Handle;

  /** @internal wraps a native handle; use the creation functions (torch.tensor, torch.zeros...) instead */
  constructor(handle: Handle) {
    this.handle = handle;
    track(this);
  }

  /** @internal no scope owns it: its bytes count towards V8's collection heuristics from now on */
  _unscoped(): void {
    native.reportExternal(this.handle);
  }

  // ---- lifetime
  /** Frees the native tensor now. Using it afterwards throws. Idempotent. */
  dispose(): void {
    native.dispose(this.handle);
    untrack(this);
  }
  [Symbol.dispose](): void {
    this.dispose();
  }
  get isDisposed(): boolean {
    return native.isDisposed(this.handle);
  }

  // ---- metadata
  get shape(): number[] {
    return native.shape(this.handle);
  }
  size(dim?: number): number {
    if (dim === undefined) return this.numel();
    const s = this.shape;
    const d = dim < 0 ? s.length + dim : dim;
    if (d < 0 || d >= s.length) throw new RangeError(`size: dim ${dim} out of range for shape [${s.join(', ')}]`);
    return s[d]!;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get dtype(): DType {
    return dtypeFromCode(native.dtype(this.handle));
  }
  get device(): Device {
    return native.device(this.handle) as Device;
  }
  numel(): number {
    return native.numel(this.handle);
  }

  // ---- data out
  /** The single value of a one-element tensor (int64 as a JS number). */
  item(): number {
    const v = native.item(this.handle);
    return typeof v === 'boolean' ? Number(v) : v;
  }
  /** A copy of the elements in row-major order, as the dtype's typed array. */
  toTypedArray(): TypedArray {
    return typedArrayFor(this.dtype, native.toBytes(this.handle));
  }
  /** float32 view of the data (converted when the dtype differs). */
  toFloat32Array(): Float32Array {
    const a = this.toTypedArray();
    if (a instanceof Float32Array) return a;
    return Float32Array.from(a as ArrayLike<number>, (x) => Number(x));
  }
  /** Nested JS arrays of numbers (booleans for bool), like tensor.tolist(). */
  toArray(): NestedArray {
    const dt = this.dtype;
    const raw = this.toTypedArray();
    const flat: (number | boolean)[] =
      dt === 'bool'
        ? Array.from(raw as Uint8Array, (x) => x !== 0)
        : Array.from(raw as ArrayLike<number | bigint>, (x) => Number(x));
    const shape = this.shape;
    if (shape.length === 0) return flat[0]!;
    let pos = 0;
    const build = (d: number): NestedArray[] => {
      const out: NestedArray[] = [];
      for (let i = 0; i < shape[d]!; i++) out.push(d === shape.length - 1 ? flat[pos++]! : build(d + 1));
      return out;
    };
    return build(0);
  }
  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  // ---- autograd
  get requiresGrad(): boolean {
    return native.requiresGrad(this.handle);
  }
  requiresGrad_(flag = true): this {
    native.setRequiresGrad(this.handle, flag);
    return this;
  }
  /** The accumulated gradient (a new handle on the same storage), or null. */
  get grad(): Tensor | null {
    const g = native.grad(this.handle);
    return g === null ? null : new Tensor(g);
  }
  set grad(g: Tensor | null) {
    native.setGrad(this.handle, g === null ? null : g.handle);
  }
  get isLeaf(): boolean {
    return native.isLeaf(this.handle);
  }
  get gradFn(): string | null {
    return native.gradFnName(this.handle);
  }
  backward(gradient?: Tensor, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward(
      [this.handle],
      [gradient?.handle ?? null],
      opts.retainGraph ?? opts.createGraph ?? false,
      opts.createGraph ?? false,
    );
  }
  /** Replaces this tensor's data with src's (shape, dtype and device may change), like `t.data = src`. */
  setData_(src: Tensor): this {
    native.setData(this.handle, src.handle);
    return this;
  }
  detach(): Tensor {
    return callT(O.detach, [this]);
  }

  // ---- conversion
  /** Casts and/or moves; returns a new handle (sharing data when nothing changes). */
  to(target: ToTarget): Tensor {
    const spec = toSpec(target);
    return callT(O.toAny, [
      this,
      spec.dtype ? dtypeCode(spec.dtype) : null,
      null,
      spec.device ?? null,
      null,
      false,
      false,
      null,
    ]);
  }
  /** A new handle on the same tensor (shares data and autograd history). */
  alias(): Tensor {
    return callT(O.toDtype, [this, native.dtype(this.handle)]);
  }
  float(): Tensor {
    return this.to('float32');
  }
  double(): Tensor {
    return this.to('float64');
  }
  long(): Tensor {
    return this.to('int64');
  }
  int(): Tensor {
    return this.to('int32');
  }
  bool(): Tensor {
    return this.to('bool');
  }
  cpu(): Tensor {
    return this.to('cpu');
  }
  cuda(index = 0): Tensor {
    return this.to(`cuda:${index}`);
  }
  contiguous(): Tensor {
    return callT(O.contiguous, [this]);
  }
  clone(): Tensor {
    return callT(O.clone, [this]);
  }

  // ---- arithmetic (Tensor or number operands, broadcasting)
  add(other: Tensor | number, alpha = 1): Tensor {
    return typeof other === 'number' ? callT(O.addS, [this, other, alpha]) : callT(O.addT, [this, other, alpha]);
  }
  sub(other: Tensor | number, alpha = 1): Tensor {
    return typeof other === 'number' ? callT(O.subS, [this, other, alpha]) : callT(O.subT, [this, other, alpha]);
  }
  /** other - this */
  rsub(other: number): Tensor {
    return callT(O.rsubS, [this, other, 1]);
  }
  mul(other: Tensor | number): Tensor {
    return typeof other === 'number' ? callT(O.mulS, [this, other]) : callT(O.mulT, [this, other]);
  }
  div(other: Tensor | number, roundingMode?: 'trunc' | 'floor'): Tensor {
    if (roundingMode) return callT(typeof other === 'number' ? O.divSMode : O.divTMode, [this, other, roundingMode]);
    return typeof other === 'number' ? callT(O.divS, [this, other]) : callT(O.divT, [this, other]);
  }
  remainder(other: Tensor | number): Tensor {
    return typeof other === 'number' ? callT(O.remS, [this, other]) : callT(O.remT, [this, other]);
  }
  pow(exponent: Tensor | number): Tensor {
    return typeof exponent === 'number' ? callT(O.powTS, [this, exponent]) : callT(O.powTT, [this, exponent]);
  }
  neg(): Tensor {
    return callT(O.neg, [this]);
  }
  reciprocal(): Tensor {
    return callT(O.reciprocal, [this]);
  }
  maximum(other: Tensor): Tensor {
    return callT(O.maximum, [this, other]);
  }
  minimum(other: Tensor): Tensor {
    return callT(O.minimum, [this, other]);
  }
  clamp(min?: number | Tensor | null, max?: number | Tensor | null): Tensor {
    if (min instanceof Tensor || max instanceof Tensor) return callT(O.clampT, [this, min ?? null, max ?? null]);
    return callT(O.clamp, [this, min ?? null, max ?? null]);
  }
  clampMin(min: number): Tensor {
    return this.clamp(min, null);
  }
  clampMax(max: number): Tensor {
    return this.clamp(null, max);
  }

  // ---- comparison and logic (bool results)
  eq(o: Tensor | number): Tensor {
    return typeof o === 'number' ? callT(O.eqS, [this, o]) : callT(O.eqT, [this, o]);
  }
  ne(o: Tensor | number): Tensor {
    return typeof o === 'number' ? callT(O.neS, [this, o]) : callT(O.neT, [this, o]);
  }
  lt(o: Tensor | number): Tensor {
    return typeof o === 'number' ? callT(O.ltS, [this, o]) : callT(O.ltT, [this, o]);
  }
  le(o: Tensor | number): Tensor {
    return typeof o === 'number' ? callT(O.leS, [this, o]) : callT(O.leT, [this, o]);
  }
  gt(o: Tensor | number): Tensor {
    return typeof o === 'number' ? callT(O.gtS, [this, o]) : callT(O.gtT, [this, o]);
  }
  ge(o: Tensor | number): Tensor {
    return typeof o === 'number' ? callT(O.geS, [this, o]) : callT(O.geT, [this, o]);
  }
  logicalAnd(o: Tensor): Tensor {
    return callT(O.logicalAnd, [this, o]);
  }
  logicalOr(o: Tensor): Tensor {
    return callT(O.logicalOr, [this, o]);
  }
  logicalXor(o: Tensor): Tensor {
    return callT(O.logicalXor, [this, o]);
  }
  logicalNot(): Tensor {
    return callT(O.logicalNot, [this]);
  }
  isnan(): Tensor {
    return callT(O.isnan, [this]);
  }
  isfinite(): Tensor {
    return callT(O.isfinite, [this]);
  }
  isinf(): Tensor {
    return callT(O.isinf, [this]);
  }

  // ---- unary math
  exp(): Tensor {
    return callT(O.exp, [this]);
  }
  expm1(): Tensor {
    return callT(O.expm1, [this]);
  }
  log(): Tensor {
    return callT(O.log, [this]);
  }
  log2(): Tensor {
    return callT(O.log2, [this]);
  }
  log10(): Tensor {
    return callT(O.log10, [this]);
  }
  log1p(): Tensor {
    return callT(O.log1p, [this]);
  }
  sqrt(): Tensor {
    return callT(O.sqrt, [this]);
  }
  rsqrt(): Tensor {
    return callT(O.rsqrt, [this]);
  }
  sin(): Tensor {
    return callT(O.sin, [this]);
  }
  cos(): Tensor {
    return callT(O.cos, [this]);
  }
  tan(): Tensor {
    return callT(O.tan, [this]);
  }
  asin(): Tensor {
    return callT(O.asin, [this]);
  }
  acos(): Tensor {
    return callT(O.acos, [this]);
  }
  atan(): Tensor {
    return callT(O.atan, [this]);
  }
  atan2(other: Tensor): Tensor {
    return callT(O.atan2, [this, other]);
  }
  sinh(): Tensor {
    return callT(O.sinh, [this]);
  }
  cosh(): Tensor {
    return callT(O.cosh, [this]);
  }
  tanh(): Tensor {
    return callT(O.tanh, [this]);
  }
  sigmoid(): Tensor {
    return callT(O.sigmoid, [this]);
  }
  relu(): Tensor {
    return callT(O.relu, [this]);
  }
  abs(): Tensor {
    return callT(O.abs, [this]);
  }
  sign(): Tensor {
    return callT(O.sign, [this]);
  }
  erf(): Tensor {
    return callT(O.erf, [this]);
  }
  erfinv(): Tensor {
    return callT(O.erfinv, [this]);
  }
  floor(): Tensor {
    return callT(O.floor, [this]);
  }
  ceil(): Tensor {
    return callT(O.ceil, [this]);
  }
  round(): Tensor {
    return callT(O.round, [this]);
  }
  trunc(): Tensor {
    return callT(O.trunc, [this]);
  }
  square(): Tensor {
    return callT(O.square, [this]);
  }
  softmax(dim: number): Tensor {
    return callT(O.softmax, [this, dim, null]);
  }
  logSoftmax(dim: number): Tensor {
    return callT(O.logSoftmax, [this, dim, null]);
  }

  // ---- reductions
  sum(dim?: Dims, opts: ReduceOptions & { dtype?: DType } = {}): Tensor {
    const dt = opts.dtype ? dtypeCode(opts.dtype) : null;
    return dim === undefined
      ? callT(O.sum, [this, dt])
      : callT(O.sumDim, [this, dimList(dim), opts.keepdim ?? false, dt]);
  }
  mean(dim?: Dims, opts: ReduceOptions = {}): Tensor {
    return dim === undefined
      ? callT(O.mean, [this, null])
      : callT(O.meanDim, [this, dimList(dim), opts.keepdim ?? false, null]);
  }
  var(dim?: Dims, opts: VarOptions = {}): Tensor {
    return callT(O.varC, [this, dimList(dim) ?? null, opts.correction ?? 1, opts.keepdim ?? false]);
  }
  std(dim?: Dims, opts: VarOptions = {}): Tensor {
    return callT(O.stdC, [this, dimList(dim) ?? null, opts.correction ?? 1, opts.keepdim ?? false]);
  }
  /** Largest element (no dim), or {values, indices} along dim. */
  max(): Tensor;
  max(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  max(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? callT(O.max, [this]) : pair(O.maxDim, [this, dim, keepdim]);
  }
  min(): Tensor;
  min(dim: number, keepdim?: boolean): { values: Tensor; indices: Tensor };
  min(dim?: number, keepdim = false): Tensor | { values: Tensor; indices: Tensor } {
    return dim === undefined ? callT(O.min, [this]) : pair(O.minDim, [this, dim, keepdim]);
  }
  amax(dim: Dims = [], opts: ReduceOptions = {}): Tensor {
    return callT(O.amax, [this, dimList(dim), opts.keepdim ?? false]);
  }
  amin(dim: Dims = [], opts: ReduceOptions = {}): Tensor {
    return callT(O.amin, [this, dimList(dim), opts.keepdim ?? false]);
  }
  argmax(dim?: number, keepdim = false): Tensor {
    return callT(O.argmax, [this, dim ?? null, keepdim]);
  }
  argmin(dim?: number, keepdim = false): Tensor {
    return callT(O.argmin, [this, dim ?? null, keepdim]);
  }
  logsumexp(dim: Dims, keepdim = false): Tensor {
    return callT(O.logsumexp, [this, dimList(dim), keepdim]);
  }
  /** Vector p-norm over dim (all elements when dim is omitted). */
  norm(p = 2, dim?: Dims, keepdim = false): Tensor {
    return callT(O.norm, [this, p, dimList(dim) ?? null, keepdim, null]);
  }
  prod(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? callT(O.prod, [this, null]) : callT(O.prodDim, [this, dim, keepdim, null]);
  }
  all(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? callT(O.all, [this]) : callT(O.allDim, [this, dim, keepdim]);
  }
  any(dim?: number, keepdim = false): Tensor {
    return dim === undefined ? callT(O.any, [this]) : callT(O.anyDim, [this, dim, keepdim]);
  }
  cumsum(dim: number): Tensor {
    return callT(O.cumsum, [this, dim, null]);
  }
  cumprod(dim: number): Tensor {
    return callT(O.cumprod, [this, dim, null]);
  }

  // ---- linear algebra
  matmul(o: Tensor): Tensor {
    return callT(O.matmul, [this, o]);
  }
  mm(o: Tensor): Tensor {
    return callT(O.mm, [this, o]);
  }
  bmm(o: Tensor): Tensor {
    return callT(O.bmm, [this, o]);
  }
  outer(o: Tensor): Tensor {
    return callT(O.outer, [this, o]);
  }
  dot(o: Tensor): Tensor {
    return callT(O.dot, [this, o]);
  }
  t(): Tensor {
    return callT(O.t, [this]);
  }
  /** Transpose of the last two dims (matrix transpose, batched). */
  get mT(): Tensor {
    return this.transpose(-2, -1);
  }

  // ---- shape
  reshape(...shape: number[] | [readonly number[]]): Tensor {
    return callT(O.reshape, [this, sizes(shape)]);
  }
  view(...shape: number[] | [readonly number[]]): Tensor {
    return callT(O.view, [this, sizes(shape)]);
  }
  permute(...dims: number[] | [readonly number[]]): Tensor {
    return callT(O.permute, [this, sizes(dims)]);
  }
  transpose(d0: number, d1: number): Tensor {
    return callT(O.transpose, [this, d0, d1]);
  }
  flatten(startDim = 0, endDim = -1): Tensor {
    return callT(O.flatten, [this, startDim, endDim]);
  }
  squeeze(dim?: number): Tensor {
    return dim === undefined ? callT(O.squeeze, [this]) : callT(O.squeezeDim, [this, dim]);
  }
  unsqueeze(dim: number): Tensor {
    return callT(O.unsqueeze, [this, dim]);
  }
  expand(...shape: number[] | [readonly number[]]): Tensor {
    return callT(O.expand, [this, sizes(shape), false]);
  }
  expandAs(o: Tensor): Tensor {
    return callT(O.expandAs, [this, o]);
  }
  repeat(...reps: number[] | [readonly number[]]): Tensor {
    return callT(O.repeat, [this, sizes(reps)]);
  }
  narrow(dim: number, start: number, length: number): Tensor {
    return callT(O.narrow, [this, dim, start, length]);
  }
  /** this[..., start:end:step, ...] along dim (negative and omitted bounds as in Python). */
  slice(dim: number, start?: number | null, end?: number | null, step = 1): Tensor {
    return callT(O.slice, [this, dim, start ?? null, end ?? null, step]);
  }
  select(dim: number, index: number): Tensor {
    return callT(O.select, [this, dim, index]);
  }
  /** Advanced indexing: this[i0, i1, ...] with index tensors (null skips a dim). */
  index(indices: readonly (Tensor | null)[]): Tensor {
    return callT(O.index, [this, indices]);
  }
  indexSelect(dim: number, index: Tensor): Tensor {
    return callT(O.indexSelect, [this, dim, index]);
  }
  gather(dim: number, index: Tensor): Tensor {
    return callT(O.gather, [this, dim, index, false]);
  }
  scatter(dim: number, index: Tensor, src: Tensor | number): Tensor {
    return typeof src === 'number'
      ? callT(O.scatterValue, [this, dim, index, src])
      : callT(O.scatterSrc, [this, dim, index, src]);
  }
  scatterAdd(dim: number, index: Tensor, src: Tensor): Tensor {
    return callT(O.scatterAdd, [this, dim, index, src]);
  }
  /** this with source's slices added at `index` along dim (repeated indices accumulate). */
  indexAdd(dim: number, index: Tensor, source: Tensor, alpha = 1): Tensor {
    return callT(O.indexAdd, [this, dim, index, source, alpha]);
  }
  /** Counts of each non-negative integer value (1-d int tensor), at least minlength long. */
  bincount(minlength = 0, weights?: Tensor): Tensor {
    return callT(O.bincount, [this, weights ?? null, minlength]);
  }
  maskedFill(mask: Tensor, value: number | Tensor): Tensor {
    return typeof value === 'number'
      ? callT(O.maskedFillS, [this, mask, value])
      : callT(O.maskedFillT, [this, mask, value]);
  }
  maskedSelect(mask: Tensor): Tensor {
    return callT(O.maskedSelect, [this, mask]);
  }
  split(sizeOrSizes: number | readonly number[], dim = 0): Tensor[] {
    return typeof sizeOrSizes === 'number'
      ? callTs(O.split, [this, sizeOrSizes, dim])
      : callTs(O.splitSizes, [this, [...sizeOrSizes], dim]);
  }
  chunk(chunks: number, dim = 0): Tensor[] {
    return callTs(O.chunk, [this, chunks, dim]);
  }
  unbind(dim = 0): Tensor[] {
    return callTs(O.unbind, [this, dim]);
  }
  flip(dims: Dims): Tensor {
    return callT(O.flip, [this, dimList(dims)]);
  }
  roll(shifts: Dims, dims: Dims): Tensor {
    return callT(O.roll, [this, dimList(shifts), dimList(dims)]);
  }
  tril(diagonal = 0): Tensor {
    return callT(O.tril, [this, diagonal]);
  }
  triu(diagonal = 0): Tensor {
    return callT(O.triu, [this, diagonal]);
  }
  diag(diagonal = 0): Tensor {
    return callT(O.diag, [this, diagonal]);
  }
  diagonal(offset = 0, dim1 = 0, dim2 = 1): Tensor {
    return callT(O.diagonal, [this, offset, dim1, dim2]);
  }
  /** Batched diagonal matrices from the last dim. */
  diagEmbed(offset = 0): Tensor {
    return callT(O.diagEmbed, [this, offset, -2, -1]);
  }
  nonzero(): Tensor {
    return callT(O.nonzero, [this]);
  }
  where(condition: Tensor, other: Tensor | number): Tensor {
    return typeof other === 'number'
      ? callT(O.whereScalarOther, [condition, this, other])
      : callT(O.whereSelf, [condition, this, other]);
  }

  // ---- sorting
  sort(dim = -1, descending = false): { values: Tensor; indices: Tensor } {
    return pair(O.sort, [this, dim, descending]);
  }
  argsort(dim = -1, descending = false): Tensor {
    return callT(O.argsort, [this, dim, descending]);
  }
  topk(k: number, dim = -1, largest = true, sorted = true): { values: Tensor; indices: Tensor } {
    return pair(O.topk, [this, k, dim, largest, sorted]);
  }

  // ---- in place (return this; used by optimizers, EMA and initialisers)
  add_(other: Tensor | number, alpha = 1): this {
    callVoid(typeof other === 'number' ? O.add_S : O.add_T, [this, other, alpha]);
    return this;
  }
  sub_(other: Tensor | number, alpha = 1): this {
    callVoid(typeof other === 'number' ? O.sub_S : O.sub_T, [this, other, alpha]);
    return this;
  }
  mul_(other: Tensor | number): this {
    callVoid(typeof other === 'number' ? O.mul_S : O.mul_T, [this, other]);
    return this;
  }
  div_(other: Tensor | number): this {
    callVoid(typeof other === 'number' ? O.div_S : O.div_T, [this, other]);
    return this;
  }
  addcmul_(t1: Tensor, t2: Tensor, value = 1): this {
    callVoid(O.addcmul_, [this, t1, t2, value]);
    return this;
  }
  addcdiv_(t1: Tensor, t2: Tensor, value = 1): this {
    callVoid(O.addcdiv_, [this, t1, t2, value]);
    return this;
  }
  lerp_(end: Tensor, weight: number | Tensor): this {
    callVoid(typeof weight === 'number' ? O.lerp_S : O.lerp_T, [this, end, weight]);
    return this;
  }
  copy_(src: Tensor): this {
    callVoid(O.copy_, [this, src, false]);
    return this;
  }
  zero_(): this {
    callVoid(O.zero_, [this]);
    return this;
  }
  fill_(value: number): this {
    callVoid(O.fill_S, [this, value]);
    return this;
  }
  clamp_(min?: number | null, max?: number | null): this {
    callVoid(O.clamp_, [this, min ?? null, max ?? null]);
    return this;
  }
  maskedFill_(mask: Tensor, value: number): this {
    callVoid(O.maskedFill_S, [this, mask, value]);
    return this;
  }
  indexAdd_(dim: number, index: Tensor, source: Tensor, alpha = 1): this {
    callVoid(O.indexAdd_, [this, dim, index, source, alpha]);
    return this;
  }
  indexPut_(indices: readonly (Tensor | null)[], values: Tensor, accumulate = false): this {
    callVoid(O.indexPut_, [this, indices, values, accumulate]);
    return this;
  }
  uniform_(from = 0, to = 1, generator?: { handle: Handle } | null): this {
    callVoid(O.uniform_, [this, from, to, generator ?? null]);
    return this;
  }
  normal_(mean = 0, std = 1, generator?: { handle: Handle } | null): this {
    callVoid(O.normal_, [this, mean, std, generator ?? null]);
    return this;
  }
}
markTracked(Tensor.prototype);
