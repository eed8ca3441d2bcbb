// A trainer's data, opened from its spec: in memory (the dataset and its batch sampler), or streamed from
// a shard directory when the spec says so. The trainer sees the dataset's description, its batches, and
// a fixed pool of first images for its previews, and cannot tell the two apart otherwise.
import type { Tensor } from '../torch/index.js';
import { wholeBatch, type DataParallel } from '../train/data-parallel.js';
import { MemoryBatches, type BatchSource, type DatasetMeta } from './batches.js';
import type { ImageDataset } from './dataset.js';
import { loadShards } from './load-shards.js';
import { DataSpec, loadDataset, type DataSpecInput } from './spec.js';
import { StreamedDataset } from './stream.js';
import { parseWith } from '../util/json-file.js';

export interface TrainingData {
  dataset: DatasetMeta;
  batches: BatchSource;
  /** the dataset when it is in memory, null when streamed */
  inMemory: ImageDataset | null;
  /** float images of the first n samples: a fixed pool for previews */
  firstImages(n: number): Promise<Tensor>;
  dispose(): void;
}

export interface TrainingDataOptions {
  /** the global batch */
  batchSize: number;
  seed: number;
  hflip?: boolean;
  parallel: DataParallel | null;
  /** read the labels of a streamed dataset (a pass over its shards' .cls entries) */
  labels?: boolean;
  log?: (msg: string) => void;
}

export async function openTrainingData(input: DataSpecInput, o: TrainingDataOptions): Promise<TrainingData> {
  const spec = parseWith(DataSpec, input, 'data spec');
  const { batchSize, seed, hflip } = o;
  if (spec.kind === 'shards' && spec.stream) {
    const ds = await StreamedDataset.open(spec.path, { limit: spec.limit, labels: o.labels });
    const batches = ds.batches({
      batchSize,
      seed,
      hflip,
      bufferSize: spec.shuffleBuffer,
      rank: o.parallel?.rank ?? 0,
      worldSize: o.parallel?.worldSize ?? 1,
    });
    o.log?.(
      `streaming ${ds.length} samples from the ${ds.index.shards.length} shards in ${spec.path} (${batches.steps} batches per epoch per process)`,
    );
    return {
      dataset: ds,
      batches,
      inMemory: null,
      firstImages: async (n) => {
        const first = await loadShards(spec.path, { limit: Math.min(n, ds.length) });
        try {
          return first.images(Array.from({ length: first.length }, (_, i) => i));
        } finally {
          first.dispose();
        }
      },
      dispose: () => batches.close(),
    };
  }
  const ds = await loadDataset(spec, o.log);
  const slice = (total: number) => (o.parallel ? o.parallel.slice(total) : wholeBatch(total));
  return {
    dataset: ds,
    batches: new MemoryBatches(ds, { batchSize, seed, hflip, shuffle: true }, slice),
    inMemory: ds,
    firstImages: (n) => Promise.resolve(ds.images(Array.from({ length: Math.min(n, ds.length) }, (_, i) => i))),
    dispose: () => ds.dispose(),
  };
}
