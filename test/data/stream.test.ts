// Streaming shards: the epoch order is a pure function of (seed, epoch, rank), every sample comes once per
// epoch, ranks read disjoint samples that together make the epoch, the reader's pixels are the packed ones,
// a stream restored from its state continues exactly, a trainer interrupted mid-epoch and resumed ends
// bit-exact with an uninterrupted one, and a truncated shard stops training with a clear error while the
// last checkpoint stays good.
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { loadShards } from '../../src/data/load-shards.js';
import { packDataset } from '../../src/data/pack.js';
import { readShardIndex } from '../../src/data/shards.js';
import { epochPlan, resumeReadPosition, type StreamLayout } from '../../src/data/stream-order.js';
import { StreamedDataset, type ShardStream } from '../../src/data/stream.js';
import { DiffusionTrainer } from '../../src/diffusion/index.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { sameState } from '../helpers/check.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sg-stream-'));
const quiet = () => {};
const layout = (o: Partial<StreamLayout> = {}): StreamLayout => ({
  counts: [40, 40, 40, 17],
  seed: 5,
  rank: 0,
  worldSize: 1,
  bufferSize: 16,
  localBatch: 8,
  ...o,
});
const sorted = (a: ArrayLike<number>) => Array.from(a).sort((x, y) => x - y);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

async function epochIds(s: ShardStream, batches: number): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < batches; i++) {
    const b = await s.next();
    ids.push(...b.indices);
    b.images.dispose();
  }
  return ids;
}

describe('stream order', () => {
  test('an epoch emits each sample once, shuffled by the shard order and the buffer; seeded', () => {
    const p = epochPlan(layout(), 0);
    assert.deepEqual(sorted(p.emit), range(137));
    assert.deepEqual(sorted(p.read), range(137));
    assert.equal(p.steps, Math.floor(137 / 8));
    assert.deepEqual(epochPlan(layout(), 0).emit, p.emit, 'the same seed and epoch give the same order');
    assert.notDeepEqual(epochPlan(layout(), 1).emit, p.emit, 'another epoch, another order');
    assert.notDeepEqual(epochPlan(layout({ seed: 6 }), 0).emit, p.emit, 'another seed, another order');
    const noBuffer = epochPlan(layout({ bufferSize: 1 }), 0);
    assert.deepEqual(noBuffer.emit, noBuffer.read, 'a buffer of 1 keeps the reading order');
    // Whole shards are read one after the other.
    assert.deepEqual(
      p.segments.map((s) => s.to - s.from),
      p.segments.map((s) => layout().counts[s.shard]),
    );
  });

  test('the buffer bounds what waits: no sample is held longer than the buffer allows', () => {
    const l = layout({ bufferSize: 10 });
    const p = epochPlan(l, 3);
    const emitAt = new Map(Array.from(p.emit, (id, i) => [id, i]));
    // To emit sample e the reader reads up to position e + 9 at most: 10 samples wait, never more.
    p.read.forEach((id, r) =>
      assert.ok(emitAt.get(id)! >= r - 9, `sample ${id} read at ${r}, emitted at ${emitAt.get(id)}`),
    );
  });

  test('data-parallel ranks read disjoint runs of the shards that together make the epoch', () => {
    for (const world of [2, 3, 4]) {
      const plans = range(world).map((rank) => epochPlan(layout({ rank, worldSize: world }), 2));
      const all = plans.flatMap((p) => Array.from(p.emit));
      const per = Math.floor(137 / world);
      assert.equal(new Set(all).size, all.length, `world ${world}: no sample twice`);
      assert.equal(all.length, per * world, `world ${world}: ${137 - per * world} left out (the remainder)`);
      assert.ok(plans.every((p) => p.steps === Math.floor(per / 8)));
      // Each rank's shards: at most the one at each boundary is shared, each reading its own part.
      const shards = plans.map((p) => p.segments.map((s) => s.shard));
      for (let r = 1; r < world; r++) {
        const shared = shards[r]!.filter((s) => shards[r - 1]!.includes(s));
        assert.ok(shared.length <= 1, `ranks ${r - 1} and ${r} share ${shared.length} shards`);
      }
    }
    // Divisible: none missed.
    const even = range(2).flatMap((rank) =>
      Array.from(epochPlan(layout({ counts: [40, 40], rank, worldSize: 2 }), 0).emit),
    );
    assert.deepEqual(sorted(even), range(80));
  });

  test('a resumed reader starts at the first sample still to be emitted', () => {
    const l = layout();
    const p = epochPlan(l, 1);
    for (const batch of [0, 3, 9]) {
      const from = resumeReadPosition(p, l, batch);
      const later = new Set(p.emit.subarray(batch * 8, p.steps * 8));
      assert.ok(later.has(p.read[from]!) || batch === 0);
      for (let r = 0; r < from; r++) assert.ok(!later.has(p.read[r]!), `read position ${r} is still needed`);
    }
  });
});

describe('shard stream', () => {
  let dir = '';
  before(async () => {
    dir = join(tmp(), 'fm');
    await packDataset({ kind: 'fashion-mnist', limit: 137 }, { out: dir, shardSize: 40, log: quiet, progress: false });
  });

  test('batches carry the packed pixels; an epoch covers every sample once; seeded', async () => {
    const ds = await StreamedDataset.open(dir, { labels: true });
    const mem = await loadShards(dir);
    assert.deepEqual(Array.from(ds.labels!), Array.from(mem.labels!));
    const s = ds.batches({ batchSize: 8, seed: 1, bufferSize: 20 });
    assert.equal(s.steps, 17);
    const ids: number[] = [];
    for (let i = 0; i < s.steps; i++) {
      const b = await s.next();
      assert.equal(b.images.sub(mem.images(b.indices)).abs().max().item(), 0, 'the packed pixels');
      ids.push(...b.indices);
      b.images.dispose();
    }
    assert.equal(new Set(ids).size, 136);
    assert.deepEqual(s.stateDict(), { epoch: 1, batch: 0 });
    const again = ds.batches({ batchSize: 8, seed: 1, bufferSize: 20 });
    assert.deepEqual(await epochIds(again, 17), ids, 'the same seed gives the same batches');
    s.close();
    again.close();
    mem.dispose();
  });

  test('a stream restored from its state continues as the uninterrupted one, across epochs', async () => {
    const ds = await StreamedDataset.open(dir);
    const o = { batchSize: 8, seed: 2, bufferSize: 30, hflip: true };
    const straight = ds.batches(o);
    const first = await epochIds(straight, 5);
    const state = straight.stateDict();
    const rest = await epochIds(straight, 20);
    const resumed = ds.batches(o);
    resumed.loadStateDict(state);
    assert.deepEqual(await epochIds(resumed, 20), rest);
    assert.equal(first.length, 40);
    assert.throws(() => resumed.loadStateDict({ epoch: 0, batch: 17 }), /invalid stream state/);
    straight.close();
    resumed.close();
  });

  test('two ranks stream disjoint samples that together make the epoch', async () => {
    const ds = await StreamedDataset.open(dir, { limit: 128 });
    const ranks = [0, 1].map((rank) => ds.batches({ batchSize: 16, seed: 3, rank, worldSize: 2, bufferSize: 10 }));
    const ids = await Promise.all(ranks.map((r) => epochIds(r, r.steps)));
    assert.equal(ranks[0]!.steps, 8);
    assert.deepEqual(sorted([...ids[0]!, ...ids[1]!]), range(128), 'no sample twice, none missed');
    for (const r of ranks) r.close();
  });

  test('a trainer interrupted mid-epoch and resumed ends bit-exact with an uninterrupted one', async () => {
    const config = {
      data: { kind: 'shards' as const, path: dir, stream: true, shuffleBuffer: 24 },
      condition: { kind: 'label' as const },
      model: { preset: 'tiny' as const },
      train: { steps: 22, batchSize: 8, lr: 1e-3, warmup: 2, checkpointEvery: 4, hflip: true, seed: 7 },
    };
    const straight = await DiffusionTrainer.open(join(tmp(), 'a'), { config, log: quiet });
    await straight.train({ progress: false });
    const b = join(tmp(), 'b');
    const first = await DiffusionTrainer.open(b, { config, log: quiet });
    await first.train({ untilStep: 11, progress: false });
    first.dispose();
    const second = await DiffusionTrainer.open(b, { resume: true, log: quiet });
    assert.equal(second.step, 11);
    await second.train({ progress: false });
    sameState(second.model.stateDict(), straight.model.stateDict());
    sameState(second.ema.stateDict().tensors, straight.ema.stateDict().tensors, 'ema ');
    straight.dispose();
    second.dispose();
  });

  test('a truncated shard stops a streamed run with an error naming it; the last checkpoint stays good', async () => {
    const own = join(tmp(), 'cut');
    await packDataset({ kind: 'fashion-mnist', limit: 96 }, { out: own, shardSize: 32, log: quiet, progress: false });
    const config = {
      data: { kind: 'shards' as const, path: own, stream: true },
      model: { preset: 'tiny' as const },
      train: { steps: 30, batchSize: 16, checkpointEvery: 2, seed: 1 },
    };
    const run = join(tmp(), 'run');
    const t = await DiffusionTrainer.open(run, { config, log: quiet });
    await t.train({ untilStep: 2, progress: false });
    t.dispose();
    const victim = join(own, readShardIndex(own).shards[1]!.name);
    truncateSync(victim, Math.floor(statSync(victim).size / 2));
    const resumed = await DiffusionTrainer.open(run, { resume: true, log: quiet });
    await assert.rejects(resumed.train({ progress: false }), (e: Error) => {
      assert.match(e.message, /shard .*shard-000001\.tar is truncated or damaged after sample/);
      return true;
    });
    resumed.dispose();
    assert.ok(listCheckpoints(run).length >= 1);
    const again = await DiffusionTrainer.open(run, { resume: true, log: quiet });
    assert.ok(again.step >= 2, 'the checkpoint before the failure loads');
    again.dispose();
  });
});
