// k-means on the engine: k-means++ seeding, Lloyd iterations with blocked distance computation,
// several restarts (best inertia wins), spherical (cosine) or Euclidean, empty clusters re-seeded
// with the worst-fit points, and optional balanced (Sinkhorn) assignment.
import * as torch from '../torch/index.js';
import { keep, type Tensor } from '../torch/index.js';
import { type Rng } from '../util/rng.js';
import { hostRng } from '../util/streams.js';
import type { FeatureRows } from '../features/feature-rows.js';
import { sinkhornAssign } from './sinkhorn.js';

export type KMeansMetric = 'cosine' | 'euclidean';

export interface KMeansOptions {
  k: number;
  /** Lloyd iterations at most (the reference uses 30) */
  maxIter?: number;
  /** stop when inertia improves by less than this fraction */
  tol?: number;
  /** independent runs; the lowest inertia wins */
  restarts?: number;
  /** 'cosine' (spherical k-means on L2-normalised features, the paper's) or 'euclidean' */
  metric?: KMeansMetric;
  seed?: number;
  /** rows per distance block (memory vs speed) */
  blockSize?: number;
  /** k-means++ seeds from a random subset of at most this many points (k-means++ is sequential) */
  initSample?: number;
  /** balanced assignment by Sinkhorn-Knopp (equal cluster sizes) instead of nearest centroid */
  balanced?: boolean;
  onIteration?: (info: { restart: number; iter: number; inertia: number }) => void;
}

export interface KMeansResult {
  /** [k, D] (unit norm for cosine) */
  centroids: Tensor;
  assignments: Int32Array;
  inertia: number;
  iterations: number;
  sizes: number[];
  reseeded: number;
}

/** Nearest centroid per row and its distance (squared Euclidean, or 1 - cosine), in blocks. */
export function assignNearest(
  x: Tensor,
  centroids: Tensor,
  metric: KMeansMetric,
  blockSize = 8192,
): { idx: Tensor; dist: Tensor } {
  return torch.tidy(() => {
    const n = x.shape[0]!;
    const cnorm = metric === 'euclidean' ? centroids.square().sum(1) : null;
    const idxs: Tensor[] = [];
    const dists: Tensor[] = [];
    for (let s = 0; s < n; s += blockSize) {
      // Each block's [rows, k] products are freed before the next: the whole distance matrix of a large
      // k would not fit (100,000 x 5,000 is 2 GB).
      const m = torch.tidy(() => {
        const xb = x.narrow(0, s, Math.min(blockSize, n - s));
        const dot = xb.matmul(centroids.t());
        if (metric === 'cosine') {
          const best = dot.max(1);
          return { idx: best.indices, dist: best.values.rsub(1) };
        }
        const best = cnorm!.unsqueeze(0).sub(dot.mul(2)).min(1);
        return { idx: best.indices, dist: best.values.add(xb.square().sum(1)).clampMin(0) };
      });
      idxs.push(m.idx);
      dists.push(m.dist);
    }
    return { idx: torch.cat(idxs), dist: torch.cat(dists) };
  });
}

function prepare(features: Tensor, metric: KMeansMetric): Tensor {
  return torch.tidy(() => {
    const x = features.to('float32').contiguous();
    return metric === 'cosine' ? torch.normalize(x, 2, 1) : x;
  });
}

/** k-means++: each new seed drawn with probability proportional to its distance to the nearest seed. */
function kmeansPlusPlus(x: Tensor, k: number, metric: KMeansMetric, rng: Rng, sampleSize: number): Tensor {
  return torch.tidy(() => {
    const n = x.shape[0]!;
    const pool = n > sampleSize ? x.indexSelect(0, torch.tensor(rng.permutation(n).slice(0, sampleSize)).long()) : x;
    const m = pool.shape[0]!;
    const chosen: number[] = [rng.int(m)];
    let best = torch.tidy(() => assignNearest(pool, pool.narrow(0, chosen[0]!, 1), metric).dist);
    for (let i = 1; i < k; i++) {
      const w = best.toTypedArray() as Float32Array;
      let total = 0;
      for (const v of w) total += v;
      let pick: number;
      if (!(total > 0)) {
        pick = rng.int(m); // all remaining points coincide with seeds
      } else {
        let r = rng.next() * total;
        pick = m - 1;
        for (let j = 0; j < m; j++) {
          r -= w[j]!;
          if (r <= 0) {
            pick = j;
            break;
          }
        }
      }
      chosen.push(pick);
      const d = assignNearest(pool, pool.narrow(0, pick, 1), metric).dist;
      const next = best.minimum(d);
      best.dispose();
      d.dispose();
      best = next;
    }
    return pool.indexSelect(0, torch.tensor(Int32Array.from(chosen)).long());
  });
}

function updateCentroids(
  x: Tensor,
  idx: Tensor,
  k: number,
  old: Tensor,
  metric: KMeansMetric,
): { centroids: Tensor; counts: Int32Array } {
  return torch.tidy(() => {
    const sums = torch.zeros([k, x.shape[1]!]).indexAdd_(0, idx, x);
    const countsT = idx.bincount(k);
    const counts = Int32Array.from(countsT.toTypedArray() as BigInt64Array, Number);
    const safe = countsT.clampMin(1).float().unsqueeze(1);
    let c = sums.div(safe);
    // Empty clusters keep their old centroid until re-seeded.
    const empty = countsT.eq(0).unsqueeze(1);
    c = torch.where(empty, old, c);
    if (metric === 'cosine') c = torch.normalize(c, 2, 1);
    return { centroids: c, counts };
  });
}

export function kmeans(features: Tensor, o: KMeansOptions): KMeansResult {
  const metric = o.metric ?? 'cosine';
  const n = features.shape[0]!;
  if (features.ndim !== 2) throw new RangeError(`kmeans expects features [N, D], got [${features.shape.join(', ')}]`);
  if (!Number.isInteger(o.k) || o.k < 1) throw new RangeError(`k must be a positive integer, got ${o.k}`);
  if (o.k > n) throw new RangeError(`k = ${o.k} is larger than the number of points (${n})`);
  const x = keep(prepare(features, metric));
  const restarts = o.restarts ?? 1;
  const maxIter = o.maxIter ?? 30;
  const tol = o.tol ?? 1e-4;
  const block = o.blockSize ?? 8192;
  let best: KMeansResult | null = null;
  try {
    for (let r = 0; r < restarts; r++) {
      const rng = hostRng(o.seed ?? 0, 'kmeans.init', r);
      let centroids = keep(kmeansPlusPlus(x, o.k, metric, rng, o.initSample ?? Math.max(20000, 10 * o.k)));
      let prev = Infinity,
        inertia = Infinity,
        iter = 0,
        reseeded = 0;
      let idx: Tensor | null = null;
      for (iter = 1; iter <= maxIter; iter++) {
        const a = o.balanced ? balancedAssign(x, centroids, metric) : assignNearest(x, centroids, metric, block);
        idx?.dispose();
        idx = keep(a.idx);
        inertia = torch.tidy(() => a.dist.sum().item());
        const up = updateCentroids(x, idx, o.k, centroids, metric);
        centroids.dispose();
        centroids = keep(up.centroids);
        const emptyIds = [...up.counts.keys()].filter((c) => up.counts[c] === 0);
        if (emptyIds.length) {
          reseeded += emptyIds.length;
          // Re-seed each empty cluster with one of the points worst served by its centroid.
          torch.tidy(() => {
            const far = a.dist.topk(emptyIds.length).indices;
            const pts = x.indexSelect(0, far);
            centroids.indexPut_([torch.tensor(Int32Array.from(emptyIds)).long()], pts);
          });
        }
        a.dist.dispose();
        o.onIteration?.({ restart: r, iter, inertia });
        if (!emptyIds.length && Number.isFinite(prev) && prev - inertia <= tol * Math.abs(prev)) break;
        prev = inertia;
      }
      // Final assignment against the final centroids, so assignments and centroids agree.
      const fin = o.balanced ? balancedAssign(x, centroids, metric) : assignNearest(x, centroids, metric, block);
      idx?.dispose();
      const assignments = Int32Array.from(fin.idx.toTypedArray() as BigInt64Array, Number);
      inertia = torch.tidy(() => fin.dist.sum().item());
      fin.idx.dispose();
      fin.dist.dispose();
      const sizes = new Array<number>(o.k).fill(0);
      for (const a of assignments) sizes[a]!++;
      const result: KMeansResult = {
        centroids,
        assignments,
        inertia,
        iterations: Math.min(iter, maxIter),
        sizes,
        reseeded,
      };
      if (!best || inertia < best.inertia) {
        best?.centroids.dispose();
        best = result;
      } else {
        centroids.dispose();
      }
    }
  } finally {
    x.dispose();
  }
  return best!;
}

function balancedAssign(x: Tensor, centroids: Tensor, metric: KMeansMetric): { idx: Tensor; dist: Tensor } {
  return torch.tidy(() => {
    const idx = sinkhornAssign(x, centroids, { metric });
    const c = centroids.indexSelect(0, idx);
    const dist = metric === 'cosine' ? x.mul(c).sum(1).rsub(1) : x.sub(c).square().sum(1);
    return { idx, dist };
  });
}

export interface KMeansRowsOptions extends KMeansOptions {
  /**
   * Lloyd iterations on a seeded sample of at most this many rows, then every row assigned to the
   * nearest centroid in one pass, a block at a time: the rows are never all in memory.
   */
  fitSample?: number;
  /** rows per block of the assignment pass */
  assignBlock?: number;
  /** called after each block of the assignment pass */
  onAssigned?: (rows: number) => void;
}

/**
 * k-means over rows that need not fit in memory (a features file read from disk). Without `fitSample`,
 * or when there are no more rows than it, this is kmeans() on all of them.
 */
export function kmeansRows(src: FeatureRows, o: KMeansRowsOptions): KMeansResult {
  const n = src.rows;
  if (!o.fitSample || n <= o.fitSample) {
    const all = src.read(0, n);
    try {
      return kmeans(all, o);
    } finally {
      all.dispose();
    }
  }
  if (o.balanced)
    throw new RangeError('balanced (Sinkhorn) k-means assigns all rows at once; it cannot fit on a sample');
  if (o.k > o.fitSample) throw new RangeError(`k = ${o.k} is larger than the fitting sample (${o.fitSample})`);
  const metric = o.metric ?? 'cosine';
  const rows = hostRng(o.seed ?? 0, 'kmeans.fit-sample')
    .permutation(n)
    .slice(0, o.fitSample)
    .sort();
  const sample = src.gather(rows);
  let fit: KMeansResult;
  try {
    fit = kmeans(sample, o);
  } finally {
    sample.dispose();
  }
  const assignments = new Int32Array(n);
  const sizes = new Array<number>(o.k).fill(0);
  let inertia = 0;
  const block = o.assignBlock ?? 65536;
  for (let s = 0; s < n; s += block) {
    const count = Math.min(block, n - s);
    torch.tidy(() => {
      const x = prepare(src.read(s, count), metric);
      const a = assignNearest(x, fit.centroids, metric, o.blockSize ?? 8192);
      const idx = a.idx.toTypedArray() as BigInt64Array;
      for (let i = 0; i < count; i++) {
        const c = Number(idx[i]!);
        assignments[s + i] = c;
        sizes[c]!++;
      }
      inertia += a.dist.double().sum().item();
    });
    o.onAssigned?.(s + count);
  }
  return { centroids: fit.centroids, assignments, inertia, iterations: fit.iterations, sizes, reseeded: fit.reseeded };
}
