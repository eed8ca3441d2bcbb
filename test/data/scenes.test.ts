// fashion-scenes: deterministic canvases whose hidden annotations agree with their pixels, written as
// files and image folders that load back with their annotations.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generateScenes, loadScenes, saveScenes, writeScenes } from '../../src/data/scenes.js';
import { loadDataset } from '../../src/data/spec.js';
import { saveObjectAnnotations } from '../../src/data/object-annotations.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sg-scenes-'));
const arr = <T extends ArrayLike<number>>(t: { toTypedArray(): unknown }) => t.toTypedArray() as T;

describe('fashion-scenes', () => {
  const o = { count: 60, size: 48, seed: 3 };
  const ds = generateScenes(o);
  const s = 48,
    m = 3;
  const px = arr<Uint8Array>(ds.pixels);
  const boxes = arr<Int32Array>(ds.scene!.boxes);
  const classes = arr<Int32Array>(ds.scene!.classes);
  const masks = arr<Uint8Array>(ds.scene!.masks);

  test('the same seed gives the same canvases; canvas i does not depend on the count', () => {
    const again = generateScenes({ ...o, count: 20 });
    assert.deepEqual(arr<Uint8Array>(again.pixels), px.subarray(0, 20 * s * s));
    assert.deepEqual(arr<Int32Array>(again.scene!.boxes), boxes.subarray(0, 20 * m * 4));
    const other = generateScenes({ ...o, count: 20, seed: 4 });
    assert.notDeepEqual(arr<Uint8Array>(other.pixels), px.subarray(0, 20 * s * s));
    again.dispose();
    other.dispose();
  });

  test('1 to 3 items, sized 14-26 px, apart by the gap, each box holding exactly its own mask pixels', () => {
    for (let i = 0; i < 60; i++) {
      const list = [0, 1, 2]
        .filter((k) => classes[i * m + k]! >= 0)
        .map((k) => ({ b: [...boxes.subarray((i * m + k) * 4, (i * m + k) * 4 + 4)], c: classes[i * m + k]! }));
      assert.ok(list.length >= 1 && list.length <= 3, `canvas ${i}: ${list.length} items`);
      for (const [a, { b }] of list.entries()) {
        const side = Math.max(b[2]! - b[0]!, b[3]! - b[1]!);
        assert.ok(side >= 14 && side <= 26, `canvas ${i} item ${a}: side ${side}`);
        for (const { b: q } of list.slice(a + 1)) {
          const apart = b[2]! + 2 <= q[0]! || q[2]! + 2 <= b[0]! || b[3]! + 2 <= q[1]! || q[3]! + 2 <= b[1]!;
          assert.ok(apart, `canvas ${i}: boxes ${b} and ${q} closer than the gap`);
        }
      }
      for (let y = 0; y < s; y++)
        for (let x = 0; x < s; x++) {
          const v = masks[i * s * s + y * s + x]!;
          const inside = list.filter(({ b }) => x >= b[0]! && x < b[2]! && y >= b[1]! && y < b[3]!);
          if (v > 0) {
            assert.equal(inside.length, 1, `canvas ${i} (${x}, ${y}): mask pixel outside every box`);
            assert.equal(v, inside[0]!.c + 1, 'mask value is class + 1');
            assert.ok(px[i * s * s + y * s + x]! > 32, 'mask pixels are bright');
          } else if (inside.length === 0)
            assert.equal(px[i * s * s + y * s + x], 0, 'no background texture by default');
        }
    }
  });

  test('one-object variant, textured background, test split', () => {
    const one = generateScenes({ count: 10, maxItems: 1, background: 'texture', split: 'test', seed: 1 });
    const c = arr<Int32Array>(one.scene!.classes);
    assert.equal(one.scene!.classes.shape[1], 1);
    assert.ok([...c].every((v) => v >= 0));
    const p = arr<Uint8Array>(one.pixels);
    const msk = arr<Uint8Array>(one.scene!.masks);
    const bg = [...p].filter((_, j) => msk[j] === 0);
    assert.ok(
      bg.some((v) => v > 0),
      'the texture puts grey levels under the items',
    );
    one.dispose();
    assert.throws(() => generateScenes({ count: 1, maxSide: 60 }), /does not fit a 48px canvas/);
  });

  test('scenes and object-annotation files round-trip; an image folder loads with its annotations', async () => {
    const dir = tmp();
    saveScenes(join(dir, 'a.safetensors'), ds);
    const back = loadScenes(join(dir, 'a.safetensors'));
    assert.deepEqual(arr<Uint8Array>(back.scene!.masks), masks);
    back.dispose();
    const [train] = await writeScenes(join(dir, 'w'), { trainCount: 12, testCount: 3, seed: 3 });
    const files = readdirSync(train!.folder!).filter((f) => f.endsWith('.png'));
    assert.equal(files.length, 12);
    const folder = await loadDataset({
      kind: 'folder',
      path: train!.folder!,
      size: 48,
      channels: 1,
      annotations: train!.annotations!,
    });
    assert.deepEqual(arr<Uint8Array>(folder.pixels), px.subarray(0, 12 * s * s), 'PNG round trip is lossless');
    assert.deepEqual(arr<Int32Array>(folder.scene!.boxes), boxes.subarray(0, 12 * m * 4));
    folder.dispose();
    await assert.rejects(
      loadDataset({ kind: 'folder', path: train!.folder!, size: 32, channels: 1, annotations: train!.annotations! }),
      /masks are 48x48 but the images load at 32x32/,
    );
    const partial = join(dir, 'partial.safetensors');
    const sub = ds.subset([0, 1]);
    saveObjectAnnotations(partial, sub.scene!, ['scene-000000.png', 'scene-000001.png']);
    sub.dispose();
    await assert.rejects(
      loadDataset({ kind: 'folder', path: train!.folder!, size: 48, channels: 1, annotations: partial }),
      /has no row for 10 image\(s\), e.g. scene-000002.png/,
    );
  });

  test('--data fashion-scenes generates once and then reuses the cached file', async () => {
    const cache = tmp();
    const spec = { kind: 'fashion-scenes' as const, count: 30, seed: 3, cache, limit: 20 };
    const a = await loadDataset(spec);
    assert.equal(a.length, 20);
    assert.deepEqual(arr<Uint8Array>(a.pixels), px.subarray(0, 20 * s * s));
    assert.equal(readdirSync(cache).length, 1);
    const b = await loadDataset(spec);
    assert.deepEqual(arr<Uint8Array>(b.scene!.masks), arr<Uint8Array>(a.scene!.masks));
    a.dispose();
    b.dispose();
  });
});

describe('ground-truth (oracle) conditions of scenes', () => {
  test('the largest box with its class, the semantic mask as segments, multi-hot labels', async () => {
    const { groundTruthAnnotations } = await import('../../src/pipelines/ground-truth.js');
    const ds = generateScenes({ count: 5, seed: 2 });
    const boxes = groundTruthAnnotations(ds, 'boxes');
    const masks = groundTruthAnnotations(ds, 'masks');
    const labels = groundTruthAnnotations(ds, 'labels');
    const b = ds.scene!.boxes.toTypedArray() as Int32Array;
    const c = ds.scene!.classes.toTypedArray() as Int32Array;
    for (let i = 0; i < 5; i++) {
      const areas = [0, 1, 2].map((k) =>
        c[i * 3 + k]! < 0
          ? -1
          : (b[(i * 3 + k) * 4 + 2]! - b[(i * 3 + k) * 4]!) * (b[(i * 3 + k) * 4 + 3]! - b[(i * 3 + k) * 4 + 1]!),
      );
      const k = areas.indexOf(Math.max(...areas));
      assert.equal(boxes.assignments![i], c[i * 3 + k]);
      assert.equal(boxes.maps!.select(0, i).sum().item(), areas[k]);
      const classes = new Set([0, 1, 2].map((q) => c[i * 3 + q]!).filter((v) => v >= 0));
      assert.deepEqual(
        [...(labels.vectors!.select(0, i).toTypedArray() as Float32Array)].flatMap((v, j) => (v ? [j] : [])),
        [...classes].sort((x, y) => x - y),
      );
      assert.equal(masks.vectors!.select(0, i).select(0, 0).item(), 1, 'background present');
    }
    assert.equal(masks.meta.segmentCount, '11');
  });
});
