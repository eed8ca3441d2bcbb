// The order a streamed epoch delivers its samples in, as a pure function of the shard sizes, the seed,
// the epoch and the process's rank: nothing is read to compute it. An epoch shuffles the shards, gives each
// data-parallel rank an equal contiguous run of the shards' concatenation (its own shards, sharing at most
// the one at each boundary, of which each reads its own part), and passes the rank's run through a bounded
// shuffle buffer (WebDataset's: fill, then emit a random slot and put the next sample in its place, then
// drain in random order). Because the order is computed, not observed, the reader knows from the start
// which samples it will need and when, so a resumed run starts reading where the interrupted one's
// pending samples begin, and the samples it keeps waiting never exceed the buffer.
import { hostRng } from '../util/streams.js';

export interface StreamLayout {
  /** samples in each shard, in pack order (after any limit) */
  counts: number[];
  seed: number;
  rank: number;
  worldSize: number;
  /** samples the shuffle buffer holds (>= 1; 1 keeps the shuffled shards' own order) */
  bufferSize: number;
  /** this rank's batch (the global batch over the world size) */
  localBatch: number;
}

export interface EpochPlan {
  epoch: number;
  /** sample ids (positions in pack order) in the order this rank reads them */
  read: Int32Array;
  /** sample ids in the order this rank emits them (a permutation of `read`) */
  emit: Int32Array;
  /** whole batches this epoch (the same on every rank; the emitted tail short of a batch is dropped) */
  steps: number;
  /** the shards read, as runs of [shard, first sample in it, end], in reading order */
  segments: { shard: number; from: number; to: number }[];
}

export function checkLayout(l: StreamLayout): void {
  const total = l.counts.reduce((a, b) => a + b, 0);
  if (!(l.worldSize >= 1) || !(l.rank >= 0 && l.rank < l.worldSize))
    throw new RangeError(`rank ${l.rank} of ${l.worldSize} processes`);
  if (!Number.isInteger(l.bufferSize) || l.bufferSize < 1)
    throw new RangeError(`shuffle buffer must be >= 1 sample, got ${l.bufferSize}`);
  if (!Number.isInteger(l.localBatch) || l.localBatch < 1)
    throw new RangeError(`batch must be >= 1, got ${l.localBatch}`);
  const perRank = Math.floor(total / l.worldSize);
  if (perRank < l.localBatch)
    throw new RangeError(
      `${total} samples over ${l.worldSize} process(es) give ${perRank} each, fewer than a batch of ${l.localBatch}`,
    );
}

/** The epoch's reading and emission order for this rank. */
export function epochPlan(l: StreamLayout, epoch: number): EpochPlan {
  const starts: number[] = [];
  let total = 0;
  for (const c of l.counts) {
    starts.push(total);
    total += c;
  }
  const perRank = Math.floor(total / l.worldSize);
  const lo = l.rank * perRank,
    hi = lo + perRank;
  const shards = hostRng(l.seed, 'stream.shards', epoch).permutation(l.counts.length);
  const read = new Int32Array(perRank);
  const segments: EpochPlan['segments'] = [];
  let pos = 0,
    n = 0;
  for (const s of shards) {
    const c = l.counts[s]!;
    const a = Math.max(lo, pos),
      b = Math.min(hi, pos + c);
    if (a < b) {
      segments.push({ shard: s, from: a - pos, to: b - pos });
      for (let k = a - pos; k < b - pos; k++) read[n++] = starts[s]! + k;
    }
    pos += c;
    if (pos >= hi) break;
  }
  const emit = shuffleBuffer(read, l.bufferSize, hostRng(l.seed, 'stream.buffer', epoch, l.rank));
  return { epoch, read, emit, steps: Math.floor(perRank / l.localBatch), segments };
}

function shuffleBuffer(read: Int32Array, size: number, rng: { int(n: number): number }): Int32Array {
  const out = new Int32Array(read.length);
  const buf: number[] = [];
  let n = 0;
  for (const id of read) {
    if (buf.length < size) {
      buf.push(id);
      continue;
    }
    const j = rng.int(size);
    out[n++] = buf[j]!;
    buf[j] = id;
  }
  while (buf.length) {
    const j = rng.int(buf.length);
    out[n++] = buf[j]!;
    buf[j] = buf[buf.length - 1]!;
    buf.pop();
  }
  return out;
}

/**
 * Where reading must start to emit from batch `batch` on: the first read position whose sample is
 * emitted at or after it (the samples before it were all emitted before the batch).
 */
export function resumeReadPosition(plan: EpochPlan, l: StreamLayout, batch: number): number {
  const from = batch * l.localBatch;
  if (from === 0) return 0;
  const emittedAt = new Map<number, number>();
  for (let i = from; i < plan.steps * l.localBatch; i++) emittedAt.set(plan.emit[i]!, i);
  for (let p = 0; p < plan.read.length; p++) if (emittedAt.has(plan.read[p]!)) return p;
  return plan.read.length;
}
