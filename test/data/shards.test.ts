// Shards: a pack reads back as the dataset it was made from (pixels, labels, boxes, masks), a folder's bad
// files are named and skipped, an interrupted pack resumes to the same bytes, a truncated shard is a clear
// error naming it, and a directory of another dataset is refused.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { packDataset } from '../../src/data/pack.js';
import { loadShards } from '../../src/data/load-shards.js';
import { readShard, readShardIndex, ShardWriter } from '../../src/data/shards.js';
import { loadDataset } from '../../src/data/spec.js';
import { flat } from '../helpers/check.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sg-shards-'));
const quiet = { log: () => {}, progress: false };

describe('shards', () => {
  test('Fashion-MNIST packs into shards of the given size and reads back bit for bit, labels included', async () => {
    const out = join(tmp(), 'fm');
    const index = await packDataset({ kind: 'fashion-mnist', limit: 300 }, { out, shardSize: 128, ...quiet });
    assert.deepEqual(
      index.shards.map((s) => s.samples),
      [128, 128, 44],
    );
    assert.equal(index.complete, true);
    assert.equal(index.classNames!.length, 10);
    const back = await loadShards(out);
    const ds = await loadDataset({ kind: 'fashion-mnist', limit: 300 });
    assert.deepEqual(back.pixels.shape, ds.pixels.shape);
    assert.equal(back.pixels.sub(ds.pixels.to('int32')).abs().max().item(), 0);
    assert.deepEqual(Array.from(back.labels!), Array.from(ds.labels!));
    assert.deepEqual(back.classNames, ds.classNames);
    const first = await loadShards(out, { limit: 130 });
    assert.equal(first.length, 130);
    for (const d of [back, ds, first]) d.dispose();
  });

  test('scenes keep their boxes, classes and masks', async () => {
    const dir = tmp();
    const scenes = { kind: 'fashion-scenes' as const, count: 30, cache: join(dir, 'cache') };
    await packDataset(scenes, { out: join(dir, 'sh'), shardSize: 16, ...quiet });
    const back = await loadShards(join(dir, 'sh'));
    const ds = await loadDataset(scenes);
    assert.equal(back.pixels.sub(ds.pixels.to('int32')).abs().max().item(), 0);
    assert.deepEqual(back.scene!.classNames, ds.scene!.classNames);
    assert.equal(back.scene!.masks.sub(ds.scene!.masks.to('int32')).abs().max().item(), 0);
    const m = ds.scene!.boxes.shape[1]!;
    assert.deepEqual(flat(back.scene!.boxes.narrow(1, 0, m).contiguous()), flat(ds.scene!.boxes));
    assert.deepEqual(flat(back.scene!.classes.narrow(1, 0, m).contiguous()), flat(ds.scene!.classes));
    back.dispose();
    ds.dispose();
  });

  test('an image folder streams file by file: a bad file is named and skipped; labels from folders', async () => {
    const root = join(tmp(), 'imgs');
    mkdirSync(join(root, 'a'), { recursive: true });
    mkdirSync(join(root, 'b'));
    const solid = (r: number, g: number, b: number) =>
      sharp({ create: { width: 20, height: 12, channels: 3, background: { r, g, b } } }).png();
    await solid(255, 0, 0).toFile(join(root, 'a', '1.png'));
    await solid(0, 255, 0).toFile(join(root, 'a', '2.png'));
    writeFileSync(join(root, 'b', 'broken.png'), 'not a png');
    await solid(0, 0, 255).toFile(join(root, 'b', '3.png'));
    const said: string[] = [];
    const out = join(root, '..', 'sh');
    const spec = { kind: 'folder' as const, path: root, size: 8, channels: 3 as const, labelsFromFolders: true };
    const index = await packDataset(spec, { out, shardSize: 2, progress: false, log: (m) => said.push(m) });
    assert.equal(index.samples, 3);
    assert.deepEqual(
      index.skipped.map((s) => s.path),
      [join(root, 'b', 'broken.png')],
    );
    assert.match(said.join('\n'), /skipped .*broken\.png/);
    const back = await loadShards(out);
    const ds = await loadDataset(spec);
    assert.equal(back.pixels.sub(ds.pixels.to('int32')).abs().max().item(), 0, 'the same pixels as the folder loader');
    assert.deepEqual(Array.from(back.labels!), [0, 0, 1]);
    const sources: string[] = [];
    for await (const s of readShard(join(out, index.shards[0]!.name))) sources.push(s.meta!.source!);
    assert.deepEqual(sources, [join('a', '1.png'), join('a', '2.png')]);
    back.dispose();
    ds.dispose();
  });

  test('an interrupted pack resumes after its last whole shard and ends with the same bytes', async () => {
    const dir = tmp();
    const spec = { kind: 'fashion-mnist' as const, limit: 250 };
    const whole = await packDataset(spec, { out: join(dir, 'whole'), shardSize: 100, ...quiet });
    // The same pack stopped half-way through its third shard (a .tar.tmp left behind, the index at 200).
    const w = ShardWriter.open(join(dir, 'cut'), { ...whole, shardSize: 100 });
    let position = 0;
    for (const shard of whole.shards)
      for await (const s of readShard(join(dir, 'whole', shard.name))) if (position < 230) await w.add(s, position++);
    assert.equal(readShardIndex(join(dir, 'cut')).samples, 200);
    const resumed = await packDataset(spec, { out: join(dir, 'cut'), shardSize: 100, ...quiet });
    assert.equal(resumed.samples, 250);
    for (const s of whole.shards)
      assert.deepEqual(readFileSync(join(dir, 'cut', s.name)), readFileSync(join(dir, 'whole', s.name)), s.name);
    await assert.rejects(packDataset(spec, { out: join(dir, 'cut'), ...quiet }), /is a finished pack of 250 samples/);
    await assert.rejects(
      packDataset({ kind: 'fashion-mnist', limit: 20, split: 'test' }, { out: join(dir, 'whole'), ...quiet }),
      /already holds shards of another dataset/,
    );
  });

  test('a truncated shard is an error that names it and the last whole sample', async () => {
    const out = join(tmp(), 'sh');
    const index = await packDataset({ kind: 'fashion-mnist', limit: 200 }, { out, shardSize: 100, ...quiet });
    const second = join(out, index.shards[1]!.name);
    truncateSync(second, Math.floor(statSync(second).size / 2));
    await assert.rejects(
      loadShards(out),
      new RegExp(
        `shard ${second.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is truncated or damaged after sample 0000001\\d\\d`,
      ),
    );
    await assert.rejects(loadShards(join(out, 'nowhere')), /is not a shard directory/);
  });
});
