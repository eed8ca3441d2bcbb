// A shard directory streamed from disk: the batches of each epoch read, shuffled and decoded by a worker
// thread (data/stream-worker.ts) a few batches ahead of the trainer, in an order that is a pure function
// of (seed, epoch, rank) (data/stream-order.ts). Memory holds the shuffle buffer's encoded samples and the
// prefetched batches, whatever the dataset's size. The state a checkpoint keeps is (epoch, batch): a
// resumed run gets the batches an uninterrupted one would have, bit for bit.
import type { Worker } from 'node:worker_threads';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { BatchSlice } from '../train/data-parallel.js';
import { hostRng } from '../util/streams.js';
import { moduleWorker, siblingModule } from '../util/worker.js';
import type { BatchSource, DatasetMeta, ImageBatch } from './batches.js';
import { decodeImages, readShard, readShardIndex, type ShardIndex, type ShardSample } from './shards.js';
import { checkLayout, type StreamLayout } from './stream-order.js';
import type { FromWorker, ToWorker } from './stream-worker.js';
import { join } from 'node:path';

/** The default shuffle buffer, in samples (encoded: ~2-3 KB each at 64 px). */
export const DEFAULT_SHUFFLE_BUFFER = 8192;

export interface StreamState {
  epoch: number;
  /** the next batch of the epoch */
  batch: number;
}

export interface ShardStreamOptions {
  /** the global batch */
  batchSize: number;
  seed: number;
  hflip?: boolean;
  /** samples in the shuffle buffer (default 8,192) */
  bufferSize?: number;
  /** batches decoded ahead (default 4) */
  prefetch?: number;
  /** this process's rank and the number of processes (default 0 of 1) */
  rank?: number;
  worldSize?: number;
  /** keep only the first n samples */
  limit?: number;
}

/** Interleaved uint8 pixels [n, S, S, C] as float images [n, C, S, S] in [-1, 1]. */
function hwcImages(pixels: Uint8Array, n: number, S: number, C: number): Tensor {
  return torch.tidy(() =>
    torch
      .tensor(pixels, { shape: [n, S, S, C] })
      .permute(0, 3, 1, 2)
      .float()
      .mul(2 / 255)
      .sub(1),
  );
}

/** Sample counts per shard once the first `limit` samples are kept. */
function keptCounts(index: ShardIndex, limit?: number): number[] {
  let left = Math.min(index.samples, limit ?? Infinity);
  return index.shards.map((s) => {
    const c = Math.min(s.samples, left);
    left -= c;
    return c;
  });
}

/**
 * What a trainer knows of a streamed shard directory without reading its images: size, channels, class
 * names, and the labels when asked for (one pass over the shards' .cls entries; no image is decoded).
 */
export class StreamedDataset implements DatasetMeta {
  readonly scene = null;

  private constructor(
    readonly dir: string,
    readonly index: ShardIndex,
    readonly length: number,
    readonly labels: Int32Array | null,
    readonly limit: number | undefined,
  ) {}

  static async open(dir: string, o: { limit?: number; labels?: boolean } = {}): Promise<StreamedDataset> {
    const index = readShardIndex(dir);
    const n = Math.min(index.samples, o.limit ?? Infinity);
    let labels: Int32Array | null = null;
    if (o.labels && index.classNames) {
      labels = new Int32Array(n);
      let i = 0;
      for (const shard of index.shards) {
        if (i >= n) break;
        for await (const s of readShard(join(dir, shard.name), shard)) {
          if (i >= n) break;
          labels[i++] = s.label ?? -1;
        }
      }
    }
    return new StreamedDataset(dir, index, n, labels, o.limit);
  }

  get channels(): number {
    return this.index.channels;
  }
  get size(): number {
    return this.index.imageSize;
  }
  get classNames(): string[] | null {
    return this.index.classNames;
  }
  get numClasses(): number | null {
    return this.index.classNames?.length ?? null;
  }
  get info() {
    return {
      name: `shards:${this.dir}`,
      preprocessing: {
        shards: this.dir,
        size: this.size,
        channels: this.channels,
        samples: this.length,
        streamed: true,
        source: this.index.provenance.source ?? '',
      },
    };
  }

  /**
   * The samples in pack order from `from` on, as float images in [-1, 1] a batch at a time (decoded on
   * this thread, 64 at once through sharp's own threads): feature extraction's reading order.
   */
  async *inOrder(from: number, batch: number): AsyncGenerator<Tensor> {
    const S = this.size,
      C = this.channels;
    let start = 0;
    let pending: ShardSample[] = [];
    const flush = async () => {
      const batch = pending;
      pending = [];
      return hwcImages(await decodeImages(batch, this.index), batch.length, S, C);
    };
    for (const shard of this.index.shards) {
      const end = Math.min(start + shard.samples, this.length);
      if (end > from) {
        let i = start;
        for await (const s of readShard(join(this.dir, shard.name), shard)) {
          if (i >= end) break;
          if (i++ < from) continue;
          pending.push(s);
          if (pending.length === batch) yield await flush();
        }
      }
      start += shard.samples;
      if (start >= this.length) break;
    }
    if (pending.length) yield await flush();
  }

  /** This process's batches: its own shards of each epoch, shuffled through a bounded buffer. */
  batches(o: ShardStreamOptions): ShardStream {
    return new ShardStream(this, o);
  }
}

type Waiter = { ok: (m: FromWorker & { type: 'batch' }) => void; bad: (e: Error) => void };

export class ShardStream implements BatchSource {
  readonly layout: StreamLayout;
  /** whole batches per epoch on every rank */
  readonly steps: number;
  private readonly slice: BatchSlice;
  private state: StreamState = { epoch: 0, batch: 0 };
  private worker: Worker | null = null;
  private gen = 0;
  private queue: (FromWorker & { type: 'batch' })[] = [];
  private failure: Error | null = null;
  private waiter: Waiter | null = null;

  constructor(
    readonly dataset: StreamedDataset,
    readonly o: ShardStreamOptions,
  ) {
    const worldSize = o.worldSize ?? 1,
      rank = o.rank ?? 0;
    if (o.batchSize % worldSize !== 0)
      throw new RangeError(`a global batch of ${o.batchSize} does not split evenly over ${worldSize} processes`);
    const localBatch = o.batchSize / worldSize;
    this.layout = {
      counts: keptCounts(dataset.index, dataset.limit),
      seed: o.seed,
      rank,
      worldSize,
      bufferSize: o.bufferSize ?? DEFAULT_SHUFFLE_BUFFER,
      localBatch,
    };
    checkLayout(this.layout);
    this.steps = Math.floor(Math.floor(dataset.length / worldSize) / localBatch);
    this.slice = { total: o.batchSize, offset: rank * localBatch, size: localBatch };
  }

  private start(): void {
    this.gen++;
    this.queue = [];
    this.failure = null;
    if (!this.worker) {
      const w = moduleWorker(siblingModule(import.meta.url, 'stream-worker'));
      w.on('message', (m: FromWorker) => this.receive(m));
      w.on('error', (e) => this.fail(new Error(`the shard reader stopped: ${e.message}`)));
      w.unref();
      this.worker = w;
    }
    const msg: ToWorker = {
      type: 'start',
      gen: this.gen,
      dir: this.dataset.dir,
      index: this.dataset.index,
      layout: this.layout,
      epoch: this.state.epoch,
      batch: this.state.batch,
      prefetch: this.o.prefetch ?? 4,
    };
    this.worker.postMessage(msg);
  }

  private receive(m: FromWorker): void {
    if (m.gen !== this.gen) return;
    if (m.type === 'error') return this.fail(new Error(m.message));
    const w = this.waiter;
    if (w) {
      this.waiter = null;
      w.ok(m);
    } else this.queue.push(m);
  }

  private fail(e: Error): void {
    this.failure = e;
    const w = this.waiter;
    this.waiter = null;
    w?.bad(e);
  }

  private message(): Promise<FromWorker & { type: 'batch' }> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.failure) return Promise.reject(this.failure);
    // The worker keeps the process alive only while a batch is awaited.
    this.worker!.ref();
    return new Promise<FromWorker & { type: 'batch' }>((ok, bad) => (this.waiter = { ok, bad })).finally(() =>
      this.worker?.unref(),
    );
  }

  async next(): Promise<ImageBatch> {
    if (!this.worker) this.start();
    const m = await this.message();
    const { epoch, batch } = this.state;
    if (m.epoch !== epoch || m.batch !== batch)
      throw new Error(`the shard reader sent batch ${m.batch} of epoch ${m.epoch}, expected ${batch} of ${epoch}`);
    this.worker!.postMessage({ type: 'ack', gen: this.gen } satisfies ToWorker);
    this.state = batch + 1 >= this.steps ? { epoch: epoch + 1, batch: 0 } : { epoch, batch: batch + 1 };
    const { rank } = this.layout;
    const S = this.dataset.size,
      C = this.dataset.channels;
    const rng = hostRng(this.o.seed, 'stream.flips', epoch, rank, batch);
    const flips = Array.from(m.ids, () => (this.o.hflip ? rng.next() < 0.5 : false));
    const images = hwcImages(m.pixels, m.ids.length, S, C);
    return { indices: m.ids, flips, images, slice: this.slice };
  }

  stateDict(): StreamState {
    return { ...this.state };
  }

  loadStateDict(s: StreamState): void {
    const ok = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;
    if (!ok(s.epoch) || !ok(s.batch) || s.batch >= this.steps)
      throw new RangeError(`invalid stream state ${JSON.stringify(s)} (${this.steps} batches per epoch)`);
    this.state = { epoch: s.epoch, batch: s.batch };
    if (this.worker) this.start();
  }

  close(): void {
    if (!this.worker) return;
    this.worker.postMessage({ type: 'stop' } satisfies ToWorker);
    void this.worker.terminate();
    this.worker = null;
    this.fail(new Error('the shard stream is closed'));
  }
}
