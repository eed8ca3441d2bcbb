// LOST (Simeoni et al., 2021): the main object of an image from its patch features, with no training.
// Patches of a small object correlate positively with few other patches, so the lowest-degree patch of
// the positive-correlation graph is the seed; the k lowest-degree patches correlated with it vote for
// the patches that belong with it, and the connected component of the seed among those is the object.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface LostOptions {
  /** size of the seed's expansion set: the k lowest-degree patches (100 in the reference code) */
  k?: number;
  /**
   * layer-norm each patch feature (default; measured better on fashion-scenes, docs/self-annotation.md) or
   * centre them (subtract the image's mean patch) before the dot products:
   * with a ReLU feature map every dot product is positive and LOST degenerates
   */
  normalize?: 'center' | 'layernorm' | 'none';
  /** find up to this many objects per image, removing each one's patches before looking again */
  maxObjects?: number;
  /** a further object must have at least this many patches */
  minPatches?: number;
  /** a further seed whose degree exceeds this fraction of the remaining patches is background: stop */
  maxSeedDegree?: number;
}

export interface LostBox {
  /** pixels, end exclusive: x0, y0, x1, y1 */
  box: [number, number, number, number];
  /** the same box in patch units */
  patchBox: [number, number, number, number];
  /** the seed patch (row-major index) and its degree */
  seed: number;
  degree: number;
  /** the object's patches (row-major indices) */
  patches: number[];
}

/**
 * LOST's normalisation for a features file, from its provenance: centring for a ViT's patches (keys or
 * tokens, already layer-normed inside the network: centring gave CorLoc 0.88 on black canvases where layer
 * norm gave 0.76, docs/self-annotation.md), layer norm otherwise (a ResNet's ReLU maps: 0.585 against
 * centring's 0.495).
 */
export function lostNormalizeFor(provenance: { config?: string }): NonNullable<LostOptions['normalize']> {
  try {
    return (JSON.parse(provenance.config || '{}') as { arch?: string }).arch === 'vit' ? 'center' : 'layernorm';
  } catch {
    return 'layernorm';
  }
}

/** The patch-to-patch correlations [B, hw, hw] of patch features [B, h, w, D], after normalisation. */
export function patchCorrelations(patches: Tensor, normalize: LostOptions['normalize'] = 'layernorm'): Tensor {
  return torch.tidy(() => {
    const [b, h, w, d] = patches.shape as [number, number, number, number];
    let f = patches.reshape(b, h * w, d).float();
    if (normalize === 'center') f = f.sub(f.mean(1, { keepdim: true }));
    if (normalize === 'layernorm') f = torch.layerNorm(f, [d]);
    return f.matmul(f.transpose(1, 2));
  });
}

/** 4-connected component of `start` within the cells where `inside` is true (an h x w grid). */
function component(inside: Uint8Array, h: number, w: number, start: number): number[] {
  const seen = new Uint8Array(h * w);
  const out: number[] = [];
  const stack = [start];
  seen[start] = 1;
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    const y = Math.floor(p / w),
      x = p % w;
    for (const [dy, dx] of [
      [-1, 0],
      [1, 0],
      [0, -1],
      [0, 1],
    ] as const) {
      const yy = y + dy,
        xx = x + dx;
      if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
      const q = yy * w + xx;
      if (!seen[q] && inside[q]) {
        seen[q] = 1;
        stack.push(q);
      }
    }
  }
  return out;
}

/** LOST on one image's correlation matrix (row-major hw x hw), among the patches still `alive`. */
function lostOnce(
  A: Float32Array,
  n: number,
  alive: Uint8Array,
  k: number,
): { seed: number; degree: number; mask: Uint8Array } {
  const degree = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    if (!alive[i]) continue;
    let d = 0;
    for (let j = 0; j < n; j++) if (alive[j] && A[i * n + j]! > 0) d++;
    degree[i] = d;
  }
  const order = Array.from({ length: n }, (_, i) => i)
    .filter((i) => alive[i])
    .sort((a, b) => degree[a]! - degree[b]! || a - b);
  const seed = order[0]!;
  const similar = order.slice(0, k).filter((j) => A[seed * n + j]! > 0);
  // Patches positively correlated with the seed set as a whole (the sum of its rows).
  const mask = new Uint8Array(n);
  for (let j = 0; j < n; j++) {
    if (!alive[j]) continue;
    let s = 0;
    for (const i of similar) s += A[i * n + j]!;
    if (s > 0) mask[j] = 1;
  }
  mask[seed] = 1;
  return { seed, degree: degree[seed]!, mask };
}

/**
 * Boxes of the objects in each image. Args: patches [B, h, w, D] (a feature map of stride `stride` over
 * images of `imageSize`). Returns per image its boxes, the first being LOST's main object.
 */
export function lostBoxes(patches: Tensor, imageSize: number, o: LostOptions = {}): LostBox[][] {
  const [b, h, w] = patches.shape as [number, number, number, number];
  const n = h * w;
  const k = o.k ?? 100;
  const maxObjects = o.maxObjects ?? 1;
  const minPatches = o.minPatches ?? 2;
  const maxSeedDegree = o.maxSeedDegree ?? 0.5;
  const sy = imageSize / h,
    sx = imageSize / w;
  // Correlations a chunk of images at a time: hw x hw floats each, at most about 64 MB together.
  const chunk = Math.max(1, Math.floor((64 * 2 ** 20) / (4 * n * n)));
  let all: ArrayLike<number> & { subarray(a: number, b: number): Float32Array; length: number } = new Float32Array(0),
    from = 0;
  const out: LostBox[][] = [];
  for (let i = 0; i < b; i++) {
    if (i === from + all.length / (n * n) || i === 0) {
      from = i;
      const len = Math.min(chunk, b - i);
      const corr = torch.tidy(() => patchCorrelations(patches.narrow(0, i, len), o.normalize ?? 'layernorm'));
      all = corr.toTypedArray() as Float32Array;
      corr.dispose();
    }
    const A = all.subarray((i - from) * n * n, (i - from + 1) * n * n);
    const alive = new Uint8Array(n).fill(1);
    const found: LostBox[] = [];
    for (let obj = 0; obj < maxObjects; obj++) {
      const remaining = alive.reduce((a, v) => a + v, 0);
      if (remaining === 0) break;
      const { seed, degree, mask } = lostOnce(A, n, alive, k);
      if (obj > 0 && degree > maxSeedDegree * remaining) break;
      const patchesOf = component(mask, h, w, seed);
      if (obj > 0 && patchesOf.length < minPatches) break;
      let px0 = w,
        py0 = h,
        px1 = 0,
        py1 = 0;
      for (const p of patchesOf) {
        const y = Math.floor(p / w),
          x = p % w;
        px0 = Math.min(px0, x);
        py0 = Math.min(py0, y);
        px1 = Math.max(px1, x + 1);
        py1 = Math.max(py1, y + 1);
      }
      found.push({
        box: [Math.round(px0 * sx), Math.round(py0 * sy), Math.round(px1 * sx), Math.round(py1 * sy)],
        patchBox: [px0, py0, px1, py1],
        seed,
        degree,
        patches: patchesOf,
      });
      for (const p of patchesOf) alive[p] = 0;
    }
    out.push(found);
  }
  return out;
}

/** Intersection over union of two boxes (x0, y0, x1, y1; end exclusive). */
export function boxIoU(a: readonly number[], b: readonly number[]): number {
  const iw = Math.max(0, Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!));
  const ih = Math.max(0, Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!));
  const inter = iw * ih;
  const area = (x: readonly number[]) => (x[2]! - x[0]!) * (x[3]! - x[1]!);
  return inter / (area(a) + area(b) - inter || 1);
}

/**
 * CorLoc: the fraction of images whose predicted main box overlaps some ground-truth box with IoU >= 0.5
 * (the standard measure of single-object discovery).
 */
export function corLoc(
  predicted: (readonly number[] | null)[],
  truth: (readonly number[])[][],
  threshold = 0.5,
): number {
  if (predicted.length !== truth.length)
    throw new RangeError(`${predicted.length} predictions for ${truth.length} images`);
  let hit = 0;
  predicted.forEach((p, i) => {
    if (p && truth[i]!.some((t) => boxIoU(p, t) >= threshold)) hit++;
  });
  return hit / Math.max(1, predicted.length);
}
