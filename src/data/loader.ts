// Shuffled mini-batches over an in-memory dataset, endless across epochs, with optional horizontal
// flips. The order is a pure function of (seed, epoch), so the loader state is two integers and a
// resumed run sees exactly the batches an uninterrupted one would.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { hostRng } from '../util/streams.js';

export interface LoaderOptions {
  batchSize: number;
  shuffle?: boolean;
  seed?: number;
  /** flip each sample left-right with probability 1/2 */
  hflip?: boolean;
  /** drop the last incomplete batch of each epoch (default true) */
  dropLast?: boolean;
}

export interface LoaderState {
  epoch: number;
  cursor: number;
}

export interface Batch {
  indices: Int32Array;
  /** which samples are flipped (apply the same to their spatial conditions) */
  flips: boolean[];
}

export class BatchSampler {
  private epoch = 0;
  private cursor = 0;
  private order: Int32Array;

  constructor(
    readonly size: number,
    readonly o: LoaderOptions,
  ) {
    if (!(o.batchSize >= 1)) throw new RangeError(`batch size must be >= 1, got ${o.batchSize}`);
    if (size === 0) throw new RangeError('cannot batch an empty dataset');
    if ((o.dropLast ?? true) && o.batchSize > size)
      throw new RangeError(`batch size ${o.batchSize} exceeds the dataset size ${size}`);
    this.order = this.orderFor(0);
  }

  private orderFor(epoch: number): Int32Array {
    if (this.o.shuffle === false) return Int32Array.from({ length: this.size }, (_, i) => i);
    return hostRng(this.o.seed ?? 0, 'loader.order', epoch).permutation(this.size);
  }

  /** The next batch's indices and flips; moves to the next epoch when this one is used up. */
  next(): Batch {
    const bs = this.o.batchSize;
    const dropLast = this.o.dropLast ?? true;
    if (this.cursor >= this.size || (dropLast && this.cursor + bs > this.size)) {
      this.epoch++;
      this.cursor = 0;
      this.order = this.orderFor(this.epoch);
    }
    const indices = this.order.slice(this.cursor, Math.min(this.size, this.cursor + bs));
    const flipRng = hostRng(this.o.seed ?? 0, 'loader.flips', this.epoch, this.cursor);
    const flips = Array.from(indices, () => (this.o.hflip ? flipRng.next() < 0.5 : false));
    this.cursor += indices.length;
    return { indices, flips };
  }

  stateDict(): LoaderState {
    return { epoch: this.epoch, cursor: this.cursor };
  }

  loadStateDict(s: LoaderState): void {
    if (
      !Number.isInteger(s.epoch) ||
      !Number.isInteger(s.cursor) ||
      s.epoch < 0 ||
      s.cursor < 0 ||
      s.cursor > this.size
    ) {
      throw new RangeError(`invalid loader state ${JSON.stringify(s)}`);
    }
    this.epoch = s.epoch;
    this.cursor = s.cursor;
    this.order = this.orderFor(s.epoch);
  }
}

/** Flips the selected samples of an NCHW tensor left-right. */
export function applyFlips(x: Tensor, flips: boolean[]): Tensor {
  if (!flips.some(Boolean)) return x.alias();
  return torch.tidy(() => {
    const mask = torch.tensor(flips).reshape(flips.length, 1, 1, 1);
    return torch.where(mask, x.flip(3), x);
  });
}
