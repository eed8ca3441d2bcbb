// A shard directory read whole into memory: the path for shards that fit, where it is faster than
// streaming them (data/stream.ts).
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import { ImageDataset } from './dataset.js';
import type { SceneAnnotations } from './scene-annotations.js';
import { decodeSample, readShard, readShardIndex, type ShardSample } from './shards.js';

/**
 * A shard directory read whole into memory as an ImageDataset (labels and scene annotations included):
 * the path for data that fits, where it is faster than streaming. `limit` keeps the first n samples.
 */
export async function loadShards(dir: string, o: { limit?: number } = {}): Promise<ImageDataset> {
  const index = readShardIndex(dir);
  const n = Math.min(index.samples, o.limit ?? Infinity);
  const S = index.imageSize,
    C = index.channels;
  const hwc = new Uint8Array(n * S * S * C);
  const labels = index.classNames ? new Int32Array(n) : null;
  const withScene = index.objectClasses !== null;
  const masks = withScene ? new Uint8Array(n * S * S) : null;
  const boxes: number[][][] = [];
  const classes: number[][] = [];
  let i = 0;
  // Decoded a window at a time: sharp's calls overlap on its own threads.
  const window: ShardSample[] = [];
  const flush = async () => {
    const decoded = await Promise.all(window.map((s) => decodeSample(s, index)));
    decoded.forEach((d, j) => {
      const s = window[j]!;
      hwc.set(d.pixels, i * S * S * C);
      if (labels) labels[i] = s.label ?? -1;
      if (masks) {
        if (!d.mask) throw new Error(`${dir}: sample ${s.key} has no mask, but the index has object classes`);
        masks.set(d.mask, i * S * S);
        boxes.push(s.meta?.boxes ?? []);
        classes.push(s.meta?.classes ?? []);
      }
      i++;
    });
    window.length = 0;
  };
  let read = 0;
  for (const shard of index.shards) {
    if (read >= n) break;
    for await (const s of readShard(join(dir, shard.name), shard)) {
      if (read >= n) break;
      window.push(s);
      read++;
      if (window.length === 64) await flush();
    }
  }
  await flush();
  if (i < n) throw new Error(`${dir}: the index promises ${n} samples, the shards hold ${i}`);
  const pixels = torch.tidy(() =>
    torch
      .tensor(hwc, { shape: [n, S, S, C] })
      .permute(0, 3, 1, 2)
      .contiguous(),
  );
  let scene: SceneAnnotations | null = null;
  if (masks) {
    const m = Math.max(1, ...boxes.map((b) => b.length));
    const b = new Int32Array(n * m * 4).fill(-1),
      c = new Int32Array(n * m).fill(-1);
    boxes.forEach((list, r) => list.forEach((box, k) => b.set(box, (r * m + k) * 4)));
    classes.forEach((list, r) => list.forEach((cl, k) => (c[r * m + k] = cl)));
    scene = {
      boxes: torch.keep(torch.tensor(b, { shape: [n, m, 4] })),
      classes: torch.keep(torch.tensor(c, { shape: [n, m] })),
      masks: torch.keep(torch.tensor(masks, { shape: [n, S, S] })),
      classNames: index.objectClasses!,
    };
  }
  return new ImageDataset(
    pixels,
    labels,
    index.classNames,
    {
      name: `shards:${dir}`,
      preprocessing: { shards: dir, size: S, channels: C, samples: n, source: index.provenance.source ?? '' },
    },
    scene,
  );
}
