// Guidance signals for training and sampling: an image-level vector per image (one-hot of a class or
// cluster, n-hot, or any continuous feature) and/or spatial maps per image (mask channels). The null
// condition is all zeros; condition dropout swaps it in per sample.
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import { wholeBatch, type BatchSlice } from '../train/data-parallel.js';
import { keep, type Tensor } from '../torch/index.js';
import type { DatasetMeta } from '../data/batches.js';
import type { ConditionSpec } from './config.js';

export interface ConditionSet {
  /** [N, D] float32 image-level conditions, or null */
  vectors: Tensor | null;
  /** [N, K, H, W] spatial conditions (uint8 or float), or null */
  maps: Tensor | null;
  /**
   * [N, H, W] integer segment ids in [0, numSegments): a mask kept compact and expanded to numSegments
   * one-hot channels (after the maps) one batch at a time
   */
  segments?: Tensor | null;
  numSegments?: number;
  /** the discrete id behind each vector when there is one (class or cluster), for per-id sampling */
  ids: Int32Array | null;
  /** number of distinct ids (k) when ids exist */
  numIds: number | null;
  /** true when the vectors are the one-hot codes of the ids (so a condition can be made from an id) */
  oneHot: boolean;
  /** where it came from: "none", "label", or a file path with its metadata */
  source: string;
  meta: Record<string, string>;
}

/** The empty condition set of an unguided model. */
export function noCondition(): ConditionSet {
  return { vectors: null, maps: null, ids: null, numIds: null, oneHot: false, source: 'none', meta: {} };
}

/** One-hot float32 vectors [N, k] from integer ids. */
export function oneHotVectors(ids: Int32Array, k: number): Tensor {
  for (const id of ids)
    if (id < 0 || id >= k || !Number.isInteger(id)) throw new RangeError(`id ${id} is outside [0, ${k})`);
  return torch.tidy(() => torch.oneHot(torch.tensor(ids).long(), k).float());
}

/** One-hot ground-truth labels as the condition set. */
export function labelCondition(labels: Int32Array, numClasses: number): ConditionSet {
  return {
    vectors: keep(oneHotVectors(labels, numClasses)),
    maps: null,
    ids: Int32Array.from(labels),
    numIds: numClasses,
    oneHot: true,
    source: 'label',
    meta: { kind: 'ground-truth one-hot', k: String(numClasses) },
  };
}

/**
 * Reads a condition file (safetensors): `assignments` (int [N]) with metadata `k` -> one-hot ids, and/or
 * `vectors` (float [N, D]) -> used as given, and/or `maps` ([N, K, H, W]). This is what the annotation
 * stage (`selfguided cluster`) writes. N must equal the dataset's size (unless expectN is null).
 */
export function loadConditionFile(path: string, expectN: number | null): ConditionSet {
  if (!existsSync(path)) throw new Error(`condition file not found: ${path}`);
  const { tensors, metadata } = torch.safetensors.loadFile(path);
  const out: ConditionSet = {
    vectors: null,
    maps: null,
    ids: null,
    numIds: null,
    oneHot: false,
    source: path,
    meta: metadata,
  };
  try {
    const assignments = tensors.get('assignments');
    const vectors = tensors.get('vectors');
    const maps = tensors.get('maps');
    const segments = tensors.get('segments');
    if (!assignments && !vectors && !maps && !segments)
      throw new Error(
        `condition file ${path} has none of 'assignments', 'vectors', 'maps', 'segments' (found: ${[...tensors.keys()].join(', ') || 'nothing'})`,
      );
    for (const [name, t] of [
      ['assignments', assignments],
      ['vectors', vectors],
      ['maps', maps],
      ['segments', segments],
    ] as const) {
      if (t && expectN !== null && t.shape[0] !== expectN) {
        throw new Error(
          `condition file ${path}: '${name}' has ${t.shape[0]} rows but the dataset has ${expectN} images (was it made for another dataset? its metadata says dataset=${metadata.dataset ?? 'unknown'})`,
        );
      }
    }
    if (assignments) {
      if (assignments.ndim !== 1 || torch.isFloating(assignments.dtype))
        throw new Error(`condition file ${path}: 'assignments' must be integer [N]`);
      const k = Number(metadata.k);
      if (!Number.isInteger(k) || k < 1)
        throw new Error(`condition file ${path}: metadata 'k' (number of clusters) is missing or invalid`);
      out.ids = Int32Array.from(assignments.toTypedArray() as ArrayLike<number | bigint>, Number);
      out.numIds = k;
      if (!vectors) {
        out.vectors = keep(oneHotVectors(out.ids, k));
        out.oneHot = true;
      }
    }
    if (vectors) {
      if (vectors.ndim !== 2)
        throw new Error(`condition file ${path}: 'vectors' must be [N, D], got [${vectors.shape.join(', ')}]`);
      out.vectors = keep(vectors.float());
    }
    if (maps) {
      if (maps.ndim !== 4)
        throw new Error(`condition file ${path}: 'maps' must be [N, K, H, W], got [${maps.shape.join(', ')}]`);
      out.maps = keep(maps.alias());
    }
    if (segments) {
      const k = Number(metadata.segmentCount);
      if (segments.ndim !== 3 || torch.isFloating(segments.dtype))
        throw new Error(
          `condition file ${path}: 'segments' must be integer [N, H, W], got ${segments.dtype} [${segments.shape.join(', ')}]`,
        );
      if (!Number.isInteger(k) || k < 1)
        throw new Error(
          `condition file ${path}: metadata 'segmentCount' (number of segment ids) is missing or invalid`,
        );
      const max = segments.max().item();
      if (max >= k) throw new Error(`condition file ${path}: a segment id ${max} is not below segmentCount ${k}`);
      out.segments = keep(segments.alias());
      out.numSegments = k;
    }
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
  return out;
}

/**
 * The rows of a condition set for a batch: [B, D] vectors and [B, K, H, W] float maps (the map channels,
 * then the segments as one-hot channels), or null.
 */
export function gatherConditions(c: ConditionSet, indices: Int32Array): { cond: Tensor | null; maps: Tensor | null } {
  return torch.tidy(() => {
    const idx = torch.tensor(indices).long();
    const parts: Tensor[] = [];
    if (c.maps) parts.push(c.maps.indexSelect(0, idx).float());
    if (c.segments)
      parts.push(torch.oneHot(c.segments.indexSelect(0, idx).long(), c.numSegments!).permute(0, 3, 1, 2).float());
    return {
      cond: c.vectors ? c.vectors.indexSelect(0, idx) : null,
      maps: parts.length === 0 ? null : parts.length === 1 ? parts[0]! : torch.cat(parts, 1),
    };
  });
}

/**
 * Replaces each sample's condition by the null (all-zero) condition with probability p, the same draw
 * for its vector and its maps. Returns new tensors.
 */
export function dropConditions(
  cond: Tensor | null,
  maps: Tensor | null,
  p: number,
  generator?: torch.Generator,
  /** these rows are a slice of a larger batch: the draws are made for the whole batch and sliced */
  slice?: BatchSlice,
): { cond: Tensor | null; maps: Tensor | null } {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`condition dropout must be in [0, 1], got ${p}`);
  const b = cond?.shape[0] ?? maps?.shape[0];
  if (b === undefined) return { cond: null, maps: null };
  const s = slice ?? wholeBatch(b);
  return torch.tidy(() => {
    const keepMask = torch
      .rand([s.total], { generator, device: (cond ?? maps)!.device })
      .narrow(0, s.offset, b)
      .ge(p)
      .float();
    return {
      cond: cond ? cond.mul(keepMask.unsqueeze(1)) : null,
      maps: maps ? maps.mul(keepMask.reshape(b, 1, 1, 1)) : null,
    };
  });
}

/** The UNet inputs a condition set needs: vector size and spatial channels. */
export function conditionDims(c: ConditionSet): { condDim: number; spatialCondChannels: number } {
  return {
    condDim: c.vectors?.shape[1] ?? 0,
    spatialCondChannels: (c.maps?.shape[1] ?? 0) + (c.segments ? c.numSegments! : 0),
  };
}

/** Frees a condition set's tensors. */
export function disposeConditions(c: ConditionSet): void {
  c.vectors?.dispose();
  c.maps?.dispose();
  c.segments?.dispose();
}

/** The condition set a config names: none, the dataset's labels, or a condition file. */
export function buildConditions(spec: ConditionSpec, ds: DatasetMeta): ConditionSet {
  if (spec.kind === 'none') return noCondition();
  if (spec.kind === 'label') {
    if (!ds.labels)
      throw new Error(
        `condition 'label' needs ground-truth labels, and ${ds.info.name} has none (use --labels-from-folders for image folders)`,
      );
    if (ds.labels.some((l) => l < 0))
      throw new Error(
        `condition 'label': some images in ${ds.info.name} have no label (images directly in the root folder)`,
      );
    return labelCondition(ds.labels, ds.numClasses!);
  }
  return loadConditionFile(spec.path, ds.length);
}
