// Creating tensors: from JS data, filled, ranges and random draws.
import { dtypeCode, dtypeOfTypedArray, isFloating, type DType } from './dtype.js';
import { native } from './native.js';
import { Op } from './op.js';
import type { Generator } from './random.js';
import { callT, Tensor, type Device, type NestedArray } from './tensor.js';

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}
export interface RandomOptions extends TensorOptions {
  generator?: Generator;
}

const O = {
  zeros: new Op('zeros'),
  ones: new Op('ones'),
  full: new Op('full'),
  empty: new Op('empty', 'memory_format'),
  arange: new Op('arange', 'start_step'),
  linspace: new Op('linspace'),
  eye: new Op('eye', 'm'),
  rand: new Op('rand', 'generator'),
  randn: new Op('randn', 'generator'),
  randint: new Op('randint', 'low_generator'),
  randperm: new Op('randperm', 'generator'),
  bernoulli: new Op('bernoulli', 'p'),
  multinomial: new Op('multinomial'),
  zerosLike: new Op('zeros_like'),
  onesLike: new Op('ones_like'),
  fullLike: new Op('full_like'),
  emptyLike: new Op('empty_like'),
  randLike: new Op('rand_like'),
  randnLike: new Op('randn_like'),
  scalarTensor: new Op('scalar_tensor'),
};

function finish(t: Tensor, opts: TensorOptions): Tensor {
  if (opts.requiresGrad) t.requiresGrad_(true);
  return t;
}
function dt(opts: TensorOptions, fallback: DType = 'float32'): number {
  return dtypeCode(opts.dtype ?? fallback);
}
function shapeOf(size: number | readonly number[]): number[] {
  const s = typeof size === 'number' ? [size] : [...size];
  for (const d of s) {
    if (!Number.isInteger(d) || d < 0)
      throw new RangeError(`invalid size [${s.join(', ')}]: dimensions must be non-negative integers`);
  }
  return s;
}

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let cur: NestedArray = data;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as NestedArray;
    if (cur === undefined) break;
  }
  return shape;
}

function flatten(data: NestedArray, shape: number[], depth: number, out: (number | boolean)[]): void {
  if (depth === shape.length) {
    if (Array.isArray(data)) throw new TypeError('tensor: ragged nested array (too deep)');
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new TypeError(`tensor: ragged nested array: expected length ${shape[depth]} at depth ${depth}`);
  }
  for (const e of data) flatten(e, shape, depth + 1, out);
}

function packed(values: ArrayLike<number | boolean | bigint>, dtype: DType): ArrayBufferView {
  const n = values.length;
  const num = (x: number | boolean | bigint) => Number(x);
  switch (dtype) {
    case 'float32':
      return Float32Array.from({ length: n }, (_, i) => num(values[i]!));
    case 'float64':
      return Float64Array.from({ length: n }, (_, i) => num(values[i]!));
    case 'int64':
      return BigInt64Array.from({ length: n }, (_, i) => {
        const v = values[i]!;
        if (typeof v === 'bigint') return v;
        if (!Number.isInteger(Number(v))) throw new TypeError(`tensor: ${String(v)} is not an integer (dtype int64)`);
        return BigInt(Number(v));
      });
    case 'int32':
      return Int32Array.from({ length: n }, (_, i) => num(values[i]!));
    case 'int16':
      return Int16Array.from({ length: n }, (_, i) => num(values[i]!));
    case 'int8':
      return Int8Array.from({ length: n }, (_, i) => num(values[i]!));
    case 'uint8':
      return Uint8Array.from({ length: n }, (_, i) => num(values[i]!));
    case 'bool':
      return Uint8Array.from({ length: n }, (_, i) => (values[i] ? 1 : 0));
    default:
      throw new TypeError(
        `tensor: cannot build ${dtype} from JS numbers; build float32 and convert with .to('${dtype}')`,
      );
  }
}

/**
 * A tensor from nested arrays, a typed array (+ shape) or a scalar. JS numbers become float32 unless
 * a dtype is given (JS cannot tell 1 from 1.0); booleans become bool; typed arrays keep their type.
 */
export function tensor(
  data: NestedArray | ArrayBufferView | readonly bigint[],
  opts: TensorOptions & { shape?: readonly number[] } = {},
): Tensor {
  let values: ArrayLike<number | boolean | bigint>;
  let shape: number[];
  let dtype: DType;
  if (ArrayBuffer.isView(data)) {
    const natural = dtypeOfTypedArray(data);
    dtype = opts.dtype ?? natural;
    shape = opts.shape ? [...opts.shape] : [(data as unknown as ArrayLike<number>).length];
    if (dtype === natural) {
      const t = new Tensor(native.fromBytes(data, dtypeCode(dtype), shape, opts.device));
      return finish(t, opts);
    }
    values = data as unknown as ArrayLike<number | bigint>;
  } else {
    shape = inferShape(data as NestedArray);
    const flat: (number | boolean)[] = [];
    flatten(data as NestedArray, shape, 0, flat);
    values = flat;
    const first = flat[0];
    dtype = opts.dtype ?? (typeof first === 'boolean' ? 'bool' : typeof first === 'bigint' ? 'int64' : 'float32');
    if (opts.shape) shape = [...opts.shape];
  }
  const bytes = packed(values, dtype);
  return finish(new Tensor(native.fromBytes(bytes, dtypeCode(dtype), shape, opts.device)), opts);
}

export function scalarTensor(v: number, opts: TensorOptions = {}): Tensor {
  return finish(callT(O.scalarTensor, [v, dt(opts), null, opts.device ?? null, null]), opts);
}
export function zeros(size: number | readonly number[], opts: TensorOptions = {}): Tensor {
  return finish(callT(O.zeros, [shapeOf(size), dt(opts), null, opts.device ?? null, null]), opts);
}
export function ones(size: number | readonly number[], opts: TensorOptions = {}): Tensor {
  return finish(callT(O.ones, [shapeOf(size), dt(opts), null, opts.device ?? null, null]), opts);
}
export function full(size: number | readonly number[], value: number, opts: TensorOptions = {}): Tensor {
  return finish(callT(O.full, [shapeOf(size), value, dt(opts), null, opts.device ?? null, null]), opts);
}
/** Uninitialised memory: fill it before reading. */
export function empty(size: number | readonly number[], opts: TensorOptions = {}): Tensor {
  return finish(callT(O.empty, [shapeOf(size), dt(opts), null, opts.device ?? null, null, null]), opts);
}
/** [start, end) with step; dtype float32 unless given (int64 for integer arange: pass dtype). */
export function arange(start: number, end?: number, step = 1, opts: TensorOptions = {}): Tensor {
  const [a, b] = end === undefined ? [0, start] : [start, end];
  return finish(callT(O.arange, [a, b, step, dt(opts), null, opts.device ?? null, null]), opts);
}
export function linspace(start: number, end: number, steps: number, opts: TensorOptions = {}): Tensor {
  return finish(callT(O.linspace, [start, end, steps, dt(opts), null, opts.device ?? null, null]), opts);
}
export function eye(n: number, m = n, opts: TensorOptions = {}): Tensor {
  return finish(callT(O.eye, [n, m, dt(opts), null, opts.device ?? null, null]), opts);
}
/** Uniform [0, 1). */
export function rand(size: number | readonly number[], opts: RandomOptions = {}): Tensor {
  return finish(
    callT(O.rand, [shapeOf(size), opts.generator ?? null, dt(opts), null, opts.device ?? null, null]),
    opts,
  );
}
/** Standard normal. */
export function randn(size: number | readonly number[], opts: RandomOptions = {}): Tensor {
  return finish(
    callT(O.randn, [shapeOf(size), opts.generator ?? null, dt(opts), null, opts.device ?? null, null]),
    opts,
  );
}
/** Integers in [low, high), int64 by default. */
export function randint(low: number, high: number, size: number | readonly number[], opts: RandomOptions = {}): Tensor {
  return callT(O.randint, [
    low,
    high,
    shapeOf(size),
    opts.generator ?? null,
    dt(opts, 'int64'),
    null,
    opts.device ?? null,
    null,
  ]);
}
/** A random permutation of 0..n-1 (int64). */
export function randperm(n: number, opts: RandomOptions = {}): Tensor {
  return callT(O.randperm, [n, opts.generator ?? null, dt(opts, 'int64'), null, opts.device ?? null, null]);
}
/** Bernoulli draws with probability p for each element of a tensor shaped like `like`. */
export function bernoulli(like: Tensor, p: number, generator?: Generator): Tensor {
  return callT(O.bernoulli, [like, p, generator ?? null]);
}
export function multinomial(probs: Tensor, numSamples: number, replacement = false, generator?: Generator): Tensor {
  return callT(O.multinomial, [probs, numSamples, replacement, generator ?? null]);
}
function likeArgs(t: Tensor, opts: TensorOptions): (number | string | null)[] {
  return [opts.dtype ? dtypeCode(opts.dtype) : null, null, opts.device ?? null, null, null];
}
export function zerosLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return callT(O.zerosLike, [t, ...likeArgs(t, opts)]);
}
export function onesLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return callT(O.onesLike, [t, ...likeArgs(t, opts)]);
}
export function emptyLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return callT(O.emptyLike, [t, ...likeArgs(t, opts)]);
}
export function fullLike(t: Tensor, value: number, opts: TensorOptions = {}): Tensor {
  return callT(O.fullLike, [t, value, ...likeArgs(t, opts)]);
}
export function randLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return callT(O.randLike, [t, ...likeArgs(t, opts)]);
}
export function randnLike(t: Tensor, opts: TensorOptions = {}): Tensor {
  return callT(O.randnLike, [t, ...likeArgs(t, opts)]);
}
export { isFloating };
