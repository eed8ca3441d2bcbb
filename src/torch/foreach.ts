// Multi-tensor in-place updates: one native call for a whole parameter list (PyTorch's foreach
// kernels), so an optimizer step over hundreds of parameters costs a handful of crossings, not thousands.
import { Op } from './op.js';
import { callTs, callVoid, type Tensor } from './tensor.js';

const O = {
  addList: new Op('_foreach_add_', 'List'),
  addScalar: new Op('_foreach_add_', 'Scalar'),
  mulScalar: new Op('_foreach_mul_', 'Scalar'),
  mulList: new Op('_foreach_mul_', 'List'),
  divList: new Op('_foreach_div_', 'List'),
  divScalar: new Op('_foreach_div_', 'Scalar'),
  addcmul: new Op('_foreach_addcmul_', 'Scalar'),
  addcdiv: new Op('_foreach_addcdiv_', 'Scalar'),
  sqrt: new Op('_foreach_sqrt'),
  zero: new Op('_foreach_zero_'),
  norm: new Op('_foreach_norm', 'Scalar'),
};

function same(a: readonly Tensor[], b: readonly Tensor[], what: string): void {
  if (a.length !== b.length) throw new RangeError(`${what}: lists differ in length (${a.length} vs ${b.length})`);
}

/** xs[i] += alpha * ys[i] */
export function add_(xs: readonly Tensor[], ys: readonly Tensor[], alpha = 1): void {
  same(xs, ys, 'foreach.add_');
  if (xs.length) callVoid(O.addList, [xs, ys, alpha]);
}
/** xs[i] += s */
export function addScalar_(xs: readonly Tensor[], s: number): void {
  if (xs.length) callVoid(O.addScalar, [xs, s]);
}
/** xs[i] *= s */
export function mul_(xs: readonly Tensor[], s: number): void {
  if (xs.length) callVoid(O.mulScalar, [xs, s]);
}
/** xs[i] *= ys[i] */
export function mulList_(xs: readonly Tensor[], ys: readonly Tensor[]): void {
  same(xs, ys, 'foreach.mulList_');
  if (xs.length) callVoid(O.mulList, [xs, ys]);
}
/** xs[i] /= ys[i] */
export function div_(xs: readonly Tensor[], ys: readonly Tensor[]): void {
  same(xs, ys, 'foreach.div_');
  if (xs.length) callVoid(O.divList, [xs, ys]);
}
/** xs[i] /= s */
export function divScalar_(xs: readonly Tensor[], s: number): void {
  if (xs.length) callVoid(O.divScalar, [xs, s]);
}
/** xs[i] += value * a[i] * b[i] */
export function addcmul_(xs: readonly Tensor[], a: readonly Tensor[], b: readonly Tensor[], value = 1): void {
  same(xs, a, 'foreach.addcmul_');
  same(xs, b, 'foreach.addcmul_');
  if (xs.length) callVoid(O.addcmul, [xs, a, b, value]);
}
/** xs[i] += value * a[i] / b[i] */
export function addcdiv_(xs: readonly Tensor[], a: readonly Tensor[], b: readonly Tensor[], value = 1): void {
  same(xs, a, 'foreach.addcdiv_');
  same(xs, b, 'foreach.addcdiv_');
  if (xs.length) callVoid(O.addcdiv, [xs, a, b, value]);
}
export function sqrt(xs: readonly Tensor[]): Tensor[] {
  return xs.length ? callTs(O.sqrt, [xs]) : [];
}
export function zero_(xs: readonly Tensor[]): void {
  if (xs.length) callVoid(O.zero, [xs]);
}
/** One 0-d tensor per input: its p-norm. */
export function norm(xs: readonly Tensor[], p = 2): Tensor[] {
  return xs.length ? callTs(O.norm, [xs, p]) : [];
}
