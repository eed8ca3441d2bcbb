// Long-tailed subsets: class i keeps n_i = floor(n_max * rho^(-i/(C-1))) images, chosen at random
// with a seed (the CIFAR-LT construction), to test guidance on unbalanced data.
import { hostRng } from '../util/streams.js';

export interface LongTailOptions {
  /** imbalance ratio n_max / n_min, e.g. 100 */
  rho: number;
  seed?: number;
  /** images of the largest class (default: the smallest class's full count) */
  nMax?: number;
  /** which class gets the most images first (default 0, 1, ..., C-1) */
  classOrder?: number[];
}

export function longTailCounts(numClasses: number, nMax: number, rho: number): number[] {
  if (!(rho >= 1)) throw new RangeError(`imbalance ratio rho must be >= 1, got ${rho}`);
  if (numClasses < 2) return [nMax];
  return Array.from({ length: numClasses }, (_, i) => Math.floor(nMax * rho ** (-i / (numClasses - 1))));
}

/** Indices of a long-tailed subset of a labeled dataset, sorted ascending. */
export function longTailIndices(labels: Int32Array, numClasses: number, o: LongTailOptions): Int32Array {
  const byClass: number[][] = Array.from({ length: numClasses }, () => []);
  labels.forEach((l, i) => {
    if (l >= 0 && l < numClasses) byClass[l]!.push(i);
  });
  const order = o.classOrder ?? [...Array(numClasses).keys()];
  if (order.length !== numClasses || new Set(order).size !== numClasses)
    throw new RangeError('classOrder must be a permutation of the class ids');
  const nMax = o.nMax ?? Math.min(...byClass.map((c) => c.length));
  const counts = longTailCounts(numClasses, nMax, o.rho);
  const rng = hostRng(o.seed ?? 0, 'long-tail.subset');
  const out: number[] = [];
  order.forEach((cls, rank) => {
    const members = byClass[cls]!;
    const want = counts[rank]!;
    if (want > members.length)
      throw new RangeError(`class ${cls} has ${members.length} images, fewer than the ${want} asked for`);
    const perm = rng.permutation(members.length);
    for (let j = 0; j < want; j++) out.push(members[perm[j]!]!);
  });
  return Int32Array.from(out.sort((a, b) => a - b));
}
