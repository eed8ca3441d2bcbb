// The streaming reader's thread: reads this rank's shards in the epoch's order, holds the samples it has
// read until their turn (as encoded PNGs, at most a shuffle buffer of them), decodes each batch with sharp
// and posts it, raw, to the training thread, up to `prefetch` batches ahead. It runs on its own event loop
// because the training thread's is blocked for the whole of every step (libtorch runs synchronously on
// it): reading and decoding there would only happen between steps. Nothing here touches libtorch.
import { join } from 'node:path';
import { parentPort } from 'node:worker_threads';
import { decodeImages, readShard, type ShardIndex, type ShardSample } from './shards.js';
import { epochPlan, resumeReadPosition, type EpochPlan, type StreamLayout } from './stream-order.js';

export interface StartMessage {
  type: 'start';
  /** a new start (a seek) supersedes the batches of earlier ones */
  gen: number;
  dir: string;
  index: ShardIndex;
  layout: StreamLayout;
  epoch: number;
  batch: number;
  prefetch: number;
}
export type ToWorker = StartMessage | { type: 'ack'; gen: number } | { type: 'stop' };
export type FromWorker =
  | {
      type: 'batch';
      gen: number;
      epoch: number;
      batch: number;
      ids: Int32Array;
      /** [batch, size, size, channels] */
      pixels: Uint8Array;
    }
  | { type: 'error'; gen: number; message: string };

const port = parentPort!;
let current = -1;
let credits = 0;
let wake: (() => void) | null = null;

port.on('message', (m: ToWorker) => {
  if (m.type === 'stop') {
    current = -1;
    wake?.();
    port.close();
    return;
  }
  if (m.type === 'ack') {
    if (m.gen !== current) return;
    credits++;
    wake?.();
    return;
  }
  current = m.gen;
  credits = m.prefetch;
  wake?.();
  run(m).catch((e: unknown) => {
    if (m.gen === current)
      port.postMessage({ type: 'error', gen: m.gen, message: (e as Error).message } satisfies FromWorker);
  });
});

/** Waits for room to post a batch; false when this start has been superseded. */
async function credit(gen: number): Promise<boolean> {
  while (gen === current && credits <= 0) await new Promise<void>((r) => (wake = r));
  if (gen !== current) return false;
  credits--;
  return true;
}

/** The samples of the plan's reading order from read position `from` on, with their ids. */
async function* readFrom(
  dir: string,
  index: ShardIndex,
  layout: StreamLayout,
  plan: EpochPlan,
  from: number,
): AsyncGenerator<{ id: number; sample: ShardSample }> {
  const starts: number[] = [];
  layout.counts.reduce((a, c) => (starts.push(a), a + c), 0);
  let pos = 0;
  for (const seg of plan.segments) {
    const len = seg.to - seg.from;
    if (pos + len <= from) {
      pos += len;
      continue;
    }
    const skipTo = seg.from + Math.max(0, from - pos);
    const shard = index.shards[seg.shard]!;
    let k = 0;
    // The whole shard is checked against the index when it is read to its end.
    const whole = seg.to === shard.samples;
    for await (const sample of readShard(join(dir, shard.name), whole ? shard : undefined)) {
      if (k >= seg.to) break;
      if (k >= skipTo) {
        const id = starts[seg.shard]! + k;
        if (Number(sample.key) !== id)
          throw new Error(`shard ${join(dir, shard.name)}: sample ${k} has key ${sample.key}, the index says ${id}`);
        yield { id, sample };
      }
      k++;
    }
    pos += len;
  }
}

async function run(m: StartMessage): Promise<void> {
  const { gen, layout, index } = m;
  const B = layout.localBatch;
  let { epoch, batch } = m;
  for (;;) {
    const plan = epochPlan(layout, epoch);
    const needed = new Set(plan.emit.subarray(batch * B, plan.steps * B));
    const reader = readFrom(m.dir, index, layout, plan, resumeReadPosition(plan, layout, batch));
    const waiting = new Map<number, ShardSample>();
    try {
      for (; batch < plan.steps; batch++) {
        const ids = plan.emit.slice(batch * B, (batch + 1) * B);
        for (const id of ids) {
          while (!waiting.has(id)) {
            const r = await reader.next();
            if (r.done) throw new Error(`${m.dir}: the shards ended before sample ${id} of epoch ${epoch}`);
            if (needed.has(r.value.id)) waiting.set(r.value.id, r.value.sample);
          }
        }
        const samples = Array.from(ids, (id) => waiting.get(id)!);
        for (const id of ids) waiting.delete(id);
        const pixels = await decodeImages(samples, index);
        if (!(await credit(gen))) return;
        const msg: FromWorker = { type: 'batch', gen, epoch, batch, ids, pixels };
        port.postMessage(msg, [ids.buffer, pixels.buffer] as ArrayBuffer[]);
      }
    } finally {
      await reader.return(undefined);
    }
    epoch++;
    batch = 0;
  }
}
