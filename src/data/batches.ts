// Where a trainer's batches come from: the in-memory dataset through its batch sampler, or shards streamed
// from disk (data/stream.ts). Both give this process's rows of each global batch, their sample ids (which
// index the conditions) and flips, and a JSON state that a checkpoint keeps.
import type { Tensor } from '../torch/index.js';
import type { BatchSlice } from '../train/data-parallel.js';
import type { ImageDataset } from './dataset.js';
import { BatchSampler, type LoaderOptions, type LoaderState } from './loader.js';
import type { SceneAnnotations } from './scene-annotations.js';

/** What a trainer knows of its dataset besides the pixels. */
export interface DatasetMeta {
  readonly length: number;
  readonly channels: number;
  readonly size: number;
  readonly labels: Int32Array | null;
  readonly classNames: string[] | null;
  readonly numClasses: number | null;
  readonly info: ImageDataset['info'];
  readonly scene: SceneAnnotations | null;
}

export interface ImageBatch {
  /** the sample ids of this process's rows */
  indices: Int32Array;
  /** which rows to flip left-right (apply the same to their spatial conditions) */
  flips: boolean[];
  /** float images in [-1, 1], [rows, C, H, W] on the CPU, unflipped; the caller disposes them */
  images: Tensor;
  /** where these rows sit in the global batch */
  slice: BatchSlice;
}

export interface BatchSource {
  next(): Promise<ImageBatch>;
  stateDict(): unknown;
  loadStateDict(s: never): void;
  /** stops any reader thread */
  close(): void;
}

/**
 * The global batches of an in-memory dataset (every process draws the same ones and keeps its slice, so
 * a data-parallel run follows a single process's).
 */
export class MemoryBatches implements BatchSource {
  private readonly sampler: BatchSampler;

  constructor(
    readonly dataset: ImageDataset,
    o: LoaderOptions,
    private readonly sliceOf: (total: number) => BatchSlice,
  ) {
    this.sampler = new BatchSampler(dataset.length, o);
  }

  next(): Promise<ImageBatch> {
    const global = this.sampler.next();
    const slice = this.sliceOf(global.indices.length);
    const indices = global.indices.slice(slice.offset, slice.offset + slice.size);
    return Promise.resolve({
      indices,
      flips: global.flips.slice(slice.offset, slice.offset + slice.size),
      images: this.dataset.images(indices),
      slice,
    });
  }

  stateDict(): LoaderState {
    return this.sampler.stateDict();
  }
  loadStateDict(s: LoaderState): void {
    this.sampler.loadStateDict(s);
  }
  close(): void {}
}
