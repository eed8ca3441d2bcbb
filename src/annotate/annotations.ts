// Self-annotations f(g(x)) as guidance signals, written as a condition file that `selfguided train
// --condition <file>` reads: cluster ids (one-hot, the paper's default) or continuous vectors
// (centroid, the feature itself, a kNN-averaged feature), plus ground-truth and random controls.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { hostRng } from '../util/streams.js';
import { nearestNeighbours } from './neighbours.js';

export type ConditionKind = 'onehot' | 'centroid' | 'feature' | 'knn' | 'ground-truth' | 'random';
export const CONDITION_KINDS: readonly ConditionKind[] = [
  'onehot',
  'centroid',
  'feature',
  'knn',
  'ground-truth',
  'random',
];

export interface Annotations {
  /** cluster (or class) id per image (null for purely continuous conditions) */
  assignments: Int32Array | null;
  k: number | null;
  /** [k, D] centroids, when a clustering made the ids */
  centroids: Tensor | null;
  /** a learned assignment (SCAN's head: argmax of weight [k, D] . unit feature + bias [k]), which
   * then assigns new images in place of the nearest centroid */
  head?: { weight: Tensor; bias: Tensor } | null;
  /** [N, D] continuous conditions, for the vector kinds (n-hot ids for multi-object conditions) */
  vectors: Tensor | null;
  /** [N, K, H, W] spatial conditions: a box channel, say */
  maps?: Tensor | null;
  /** [N, H, W] segment ids in [0, segmentCount) (metadata), expanded to one-hot channels when training */
  segments?: Tensor | null;
  kind: ConditionKind | 'boxes' | 'masks';
  /** method and provenance, stored as metadata */
  meta: Record<string, string>;
}

/** Mean of each image's K nearest neighbours (cosine, itself included) among L2-normalised features. */
export function knnAverage(features: Tensor, k: number, blockSize = 4096): Tensor {
  return torch.tidy(() => {
    const x = torch.normalize(features.float(), 2, 1);
    const nn = nearestNeighbours(x, Math.min(k, x.shape[0]!), { includeSelf: true, blockSize });
    const [n, kk] = nn.shape as [number, number];
    const out: Tensor[] = [];
    for (let s = 0; s < n; s += blockSize) {
      const b = Math.min(blockSize, n - s);
      out.push(
        x
          .index([nn.narrow(0, s, b).flatten()])
          .reshape(b, kk, x.shape[1]!)
          .mean(1),
      );
    }
    return torch.normalize(torch.cat(out, 0), 2, 1);
  });
}

export interface BuildOptions {
  kind: ConditionKind;
  features?: Tensor;
  assignments?: Int32Array;
  centroids?: Tensor;
  head?: { weight: Tensor; bias: Tensor } | null;
  k?: number;
  labels?: Int32Array | null;
  numClasses?: number | null;
  knn?: number;
  seed?: number;
}

/** Builds the guidance signal of the given kind from features, clusters or labels. */
export function buildAnnotations(o: BuildOptions, meta: Record<string, string>): Annotations {
  switch (o.kind) {
    case 'onehot':
    case 'centroid': {
      if (!o.assignments || o.k === undefined) throw new Error(`condition '${o.kind}' needs a clustering`);
      const vectors =
        o.kind === 'centroid'
          ? torch.tidy(() => o.centroids!.indexSelect(0, torch.tensor(o.assignments!).long()))
          : null;
      return {
        assignments: o.assignments,
        k: o.k,
        centroids: o.centroids ?? null,
        head: o.head ?? null,
        vectors,
        kind: o.kind,
        meta,
      };
    }
    case 'feature':
    case 'knn': {
      if (!o.features) throw new Error(`condition '${o.kind}' needs features`);
      const vectors =
        o.kind === 'feature' ? torch.normalize(o.features.float(), 2, 1) : knnAverage(o.features, o.knn ?? 10);
      return {
        assignments: o.assignments ?? null,
        k: o.assignments ? (o.k ?? null) : null,
        centroids: o.centroids ?? null,
        vectors,
        kind: o.kind,
        meta: o.kind === 'knn' ? { ...meta, knn: String(o.knn ?? 10) } : meta,
      };
    }
    case 'ground-truth': {
      if (!o.labels || !o.numClasses) throw new Error("condition 'ground-truth' needs a labeled dataset");
      return {
        assignments: Int32Array.from(o.labels),
        k: o.numClasses,
        centroids: null,
        vectors: null,
        kind: o.kind,
        meta,
      };
    }
    case 'random': {
      const n = o.assignments?.length ?? o.features?.shape[0] ?? o.labels?.length;
      const k = o.k ?? o.numClasses;
      if (n === undefined || !k) throw new Error("condition 'random' needs a size and k");
      const rng = hostRng(o.seed ?? 0, 'annotations.random-ids');
      return {
        assignments: Int32Array.from({ length: n }, () => rng.int(k)),
        k,
        centroids: null,
        vectors: null,
        kind: o.kind,
        meta,
      };
    }
    default:
      throw new TypeError(`unknown condition kind '${String(o.kind)}'; expected ${CONDITION_KINDS.join(', ')}`);
  }
}

/** Frees the annotation's tensors (centroids, head, vectors, maps, segments). */
export function disposeAnnotations(a: Annotations): void {
  for (const t of [a.centroids, a.head?.weight, a.head?.bias, a.vectors, a.maps, a.segments]) t?.dispose();
}

/** Writes the annotations as a condition file (safetensors: assignments, centroids?, head.*?, vectors?, maps?). */
export function saveAnnotations(path: string, a: Annotations): void {
  const ids = a.assignments ? torch.tensor(a.assignments).long() : null;
  const tensors: Record<string, Tensor> = {};
  if (ids) tensors.assignments = ids;
  if (a.centroids) tensors.centroids = a.centroids;
  if (a.head) {
    tensors['head.weight'] = a.head.weight;
    tensors['head.bias'] = a.head.bias;
  }
  if (a.vectors) tensors.vectors = a.vectors;
  if (a.maps) tensors.maps = a.maps;
  if (a.segments) tensors.segments = a.segments;
  const meta: Record<string, string> = { ...a.meta, kind: a.kind };
  if (a.k !== null) meta.k = String(a.k);
  torch.safetensors.saveFile(path, tensors, meta);
  ids?.dispose();
}
