// The colour datasets: sprites resampled and composited with premultiplied alpha, stamps listed and split by
// object, colour-objects and colour-scenes drawn from a synthetic stamps folder whose answers are known (red
// discs and blue squares), deterministic, cached, and written by `selfguided data`.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import {
  categoryCounts,
  generateColourObjects,
  generateColourScenes,
  loadOrGenerateColourObjects,
  loadOrGenerateColourScenes,
} from '../../src/data/colour-data.js';
import { compositeOver, flipSprite, resampleSprite, spriteFromRgba } from '../../src/data/rgba.js';
import { listStamps, loadStampSprites, STAMPS_DIR, stampSplit } from '../../src/data/stamps.js';
import { shape, stampsFolder } from '../helpers/stamps.js';

const arr = <T extends ArrayLike<number>>(t: { toTypedArray(): unknown }) => t.toTypedArray() as T;

describe('sprites (premultiplied RGBA)', () => {
  const solid = (w: number, h: number, rgba: number[]) =>
    spriteFromRgba(
      Uint8Array.from({ length: w * h * 4 }, (_, i) => rgba[i % 4]!),
      w,
      h,
    );

  test('resampling keeps a uniform sprite uniform and the covered area in proportion', () => {
    const r = resampleSprite(solid(40, 30, [200, 100, 50, 255]), 13, 7);
    for (let i = 0; i < r.data.length; i += 4)
      assert.deepEqual(
        [...r.data.subarray(i, i + 4)].map((v) => +v.toFixed(5)),
        [+(200 / 255).toFixed(5), +(100 / 255).toFixed(5), +(50 / 255).toFixed(5), 1],
      );
    // A 20 px opaque square in a 40 px transparent frame keeps a quarter of the alpha when shrunk to 10 px.
    const framed = spriteFromRgba(
      shape(40, 40, [255, 255, 255], (x, y) => x >= 10 && x < 30 && y >= 10 && y < 30),
      40,
      40,
    );
    const small = resampleSprite(framed, 10, 10);
    const alpha = small.data.filter((_, i) => i % 4 === 3).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(alpha / 100 - 0.25) < 0.01, `alpha mass ${alpha / 100}`);
  });

  test('a transparent pixel adds nothing (no fringe of its hidden colour); an opaque one replaces', () => {
    // Half opaque red, half transparent with a hidden green: after a resample, no green anywhere.
    const half = spriteFromRgba(
      shape(8, 8, [255, 0, 0], (x) => x < 4),
      8,
      8,
    );
    const r = resampleSprite(half, 3, 3);
    for (let i = 0; i < r.data.length; i += 4) assert.equal(r.data[i + 1], 0, 'no green leaks');
    const canvas = new Float32Array(3 * 4 * 4).fill(0.5);
    compositeOver(canvas, 4, half, 1, 0); // cut at the right edge
    const at = (c: number, x: number, y: number) => canvas[c * 16 + y * 4 + x]!;
    assert.deepEqual([at(0, 0, 0), at(1, 0, 0)], [0.5, 0.5], 'left of the sprite untouched');
    assert.deepEqual([at(0, 1, 0), at(1, 1, 0), at(2, 1, 0)], [1, 0, 0], 'opaque red replaces');
  });

  test('a flip twice is the sprite again, once mirrors it', () => {
    const s = spriteFromRgba(
      Uint8Array.from({ length: 5 * 3 * 4 }, (_, i) => (i * 37) % 256),
      5,
      3,
    );
    assert.deepEqual(flipSprite(flipSprite(s)).data, s.data);
    assert.deepEqual(flipSprite(s).data.subarray(0, 4), s.data.subarray(16, 20));
  });
});

describe('stamps and the colour datasets (a synthetic stamps folder)', () => {
  let dir = '';
  let stamps: { dir: string; exclude: string[] };
  before(async () => {
    dir = await stampsFolder();
    stamps = { dir, exclude: [] };
  });

  test('categories are the folders with 30 or more stamps; a stem with PNG and SVG keeps the PNG', () => {
    const list = listStamps(stamps);
    assert.deepEqual(list.categories, ['disc', 'square']);
    assert.equal(list.entries.filter((e) => e.category === 0).length, 30);
    assert.equal(list.entries.filter((e) => e.category === 1).length, 30);
    assert.ok(list.entries.some((e) => e.path.endsWith('vector.svg')));
    assert.ok(
      list.entries.some((e) => e.path.endsWith('both.png')) && !list.entries.some((e) => e.path.endsWith('both.svg')),
    );
    assert.deepEqual(listStamps({ dir, exclude: ['disc'], minPerCategory: 3 }).categories, ['few', 'square']);
    assert.throws(() => listStamps({ dir: join(dir, 'nowhere') }), /apt-get install -y tuxpaint-stamps-default/);
    assert.throws(() => listStamps({ dir, minPerCategory: 100 }), /needs two categories/);
  });

  test('the split is by stamp: every fifth of a category is held out, none in both', () => {
    const list = listStamps(stamps);
    const train = stampSplit(list, 'train'),
      test_ = stampSplit(list, 'test');
    assert.equal(test_.length, 12);
    assert.equal(train.length + test_.length, list.entries.length);
    const names = new Set(train.map((e) => e.name));
    assert.ok(test_.every((e) => !names.has(e.name)));
    assert.deepEqual(categoryCounts(list, 'test'), { disc: 6, square: 6 });
  });

  test('sprites are cropped to the object and fitted to the side; a broken stamp is an error naming it', async () => {
    const list = listStamps(stamps);
    const [disc] = await loadStampSprites(list.entries.slice(0, 1), 20);
    assert.deepEqual([disc!.width, disc!.height], [20, 20], 'the transparent margin is cropped');
    const bad = join(dir, 'broken.png');
    writeFileSync(bad, 'not a png');
    await assert.rejects(loadStampSprites([{ path: bad, name: 'broken', category: 0 }], 20), /broken\.png/);
  });

  test('colour-objects: each stamp views times, labelled by its folder, its colour where it lies', async () => {
    const ds = await generateColourObjects({ split: 'test', size: 32, views: 3, stamps, seed: 1 });
    assert.deepEqual(ds.pixels.shape, [36, 3, 32, 32]);
    assert.deepEqual(ds.classNames, ['disc', 'square']);
    const entries = stampSplit(listStamps(stamps), 'test');
    assert.deepEqual(
      [...ds.labels!],
      Array.from({ length: 36 }, (_, i) => entries[i % 12]!.category),
    );
    const px = arr<Uint8Array>(ds.pixels);
    // Every image holds pure object pixels: red (disc) or blue (square), matching its label.
    for (let i = 0; i < 36; i++) {
      const plane = (c: number, k: number) => px[i * 3072 + c * 1024 + k]!;
      const pure = (c: number) =>
        Array.from({ length: 1024 }, (_, k) => k).filter(
          (k) => plane(c, k) === 255 && plane((c + 1) % 3, k) + plane((c + 2) % 3, k) === 0,
        ).length;
      const [red, blue] = [pure(0), pure(2)];
      assert.ok(
        ds.labels![i] === 0 ? red > 50 && blue === 0 : blue > 50 && red === 0,
        `image ${i}: red ${red} blue ${blue}`,
      );
    }
    const again = await generateColourObjects({ split: 'test', size: 32, views: 3, stamps, seed: 1 });
    assert.deepEqual(arr<Uint8Array>(again.pixels), px, 'the same seed, the same images');
    ds.dispose();
    again.dispose();
  });

  test('colour-scenes: 1-4 objects; each box holds its class in the mask; mask pixels show their object', async () => {
    const o = { split: 'train' as const, count: 40, size: 48, minSide: 12, maxSide: 24, stamps, seed: 2 };
    const ds = await generateColourScenes(o);
    const s = 48,
      m = 4;
    const px = arr<Uint8Array>(ds.pixels),
      boxes = arr<Int32Array>(ds.scene!.boxes),
      classes = arr<Int32Array>(ds.scene!.classes),
      masks = arr<Uint8Array>(ds.scene!.masks);
    let overlapping = 0;
    for (let i = 0; i < 40; i++) {
      const list = [0, 1, 2, 3].filter((k) => classes[i * m + k]! >= 0);
      assert.ok(list.length >= 1 && list.length <= 4, `canvas ${i}: ${list.length} objects`);
      for (let y = 0; y < s; y++)
        for (let x = 0; x < s; x++) {
          const v = masks[i * s * s + y * s + x]!;
          if (v === 0) continue;
          const inBox = list.filter((k) => {
            const b = boxes.subarray((i * m + k) * 4, (i * m + k) * 4 + 4);
            return x >= b[0]! && x < b[2]! && y >= b[1]! && y < b[3]!;
          });
          assert.ok(
            inBox.some((k) => classes[i * m + k]! + 1 === v),
            `canvas ${i} (${x}, ${y}): no box of its class`,
          );
          if (inBox.length > 1) overlapping++;
          // Alpha above one half: the object's colour outweighs any background's.
          const [r, g, b] = [0, 1, 2].map((c) => px[i * 3 * s * s + c * s * s + y * s + x]!);
          if (v === 1) assert.ok(r! > g! && r! > b!, `canvas ${i} (${x}, ${y}) is a disc pixel, rgb ${r} ${g} ${b}`);
          else assert.ok(b! > r! && b! > g!, `canvas ${i} (${x}, ${y}) is a square pixel, rgb ${r} ${g} ${b}`);
        }
    }
    assert.ok(overlapping > 0, 'objects overlap in part somewhere');
    const prefix = await generateColourScenes({ ...o, count: 10 });
    assert.deepEqual(
      arr<Uint8Array>(prefix.pixels),
      px.subarray(0, 10 * 3 * s * s),
      'canvas i does not depend on the count',
    );
    ds.dispose();
    prefix.dispose();
  });

  test('colour-scenes with no occlusion allowed: every square whole, its box exactly its mask', async () => {
    // Opaque squares only (the discs left out): a square nothing hides fills its box, so each class's mask
    // pixels number its boxes' areas; with occlusion allowed they would not.
    const squares = { dir, exclude: ['disc'], minPerCategory: 1 };
    const count = 60;
    const ds = await generateColourScenes({
      count,
      size: 40,
      minSide: 8,
      maxSide: 16,
      maxOcclusion: 0,
      stamps: squares,
      seed: 5,
    });
    const boxes = arr<Int32Array>(ds.scene!.boxes),
      classes = arr<Int32Array>(ds.scene!.classes),
      masks = arr<Uint8Array>(ds.scene!.masks);
    for (let i = 0; i < count; i++)
      for (const c of [0, 1]) {
        let area = 0;
        for (let k = 0; k < 4; k++)
          if (classes[i * 4 + k] === c) {
            const b = boxes.subarray((i * 4 + k) * 4, (i * 4 + k) * 4 + 4);
            area += (b[2]! - b[0]!) * (b[3]! - b[1]!);
          }
        const pixels = masks.subarray(i * 1600, (i + 1) * 1600).filter((v) => v === c + 1).length;
        assert.equal(pixels, area, `canvas ${i}, class ${c}: mask pixels equal the boxes' area`);
      }
    ds.dispose();
  });

  test('cached: a second load reads the file and gives the same images, labels and annotations', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'sg-colour-cache-'));
    const a = await loadOrGenerateColourObjects({ split: 'test', size: 16, views: 1, stamps }, cache);
    const b = await loadOrGenerateColourObjects({ split: 'test', size: 16, views: 1, stamps }, cache);
    assert.equal(readdirSync(cache).length, 1);
    assert.deepEqual(arr<Uint8Array>(b.pixels), arr<Uint8Array>(a.pixels));
    assert.deepEqual(b.labels, a.labels);
    assert.deepEqual(b.classNames, a.classNames);
    const c = await loadOrGenerateColourScenes(
      { split: 'test', count: 5, size: 32, minSide: 8, maxSide: 16, stamps },
      cache,
    );
    const d = await loadOrGenerateColourScenes(
      { split: 'test', count: 5, size: 32, minSide: 8, maxSide: 16, stamps },
      cache,
    );
    assert.equal(readdirSync(cache).length, 2);
    assert.deepEqual(arr<Uint8Array>(d.scene!.masks), arr<Uint8Array>(c.scene!.masks));
    assert.deepEqual(d.scene!.classNames, ['disc', 'square']);
    for (const x of [a, b, c, d]) x.dispose();
  });

  test('selfguided data colour-objects and colour-scenes write folders, annotations and previews', () => {
    const out = mkdtempSync(join(tmpdir(), 'sg-colour-cli-'));
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['bin/selfguided.mjs', 'data', ...args], { encoding: 'utf8' });
    const objects = run('colour-objects', '--stamps', dir, '--size', '16', '--views', '1', '--out', join(out, 'obj'));
    assert.equal(objects.status, 0, objects.stderr);
    assert.match(objects.stdout, /train: 48 images .*\(disc 24, square 24\)/);
    assert.match(objects.stdout, /test: 12 images .*\(disc 6, square 6\)/);
    assert.equal(readdirSync(join(out, 'obj', 'train', 'disc')).length, 24);
    const scenes = run(
      'colour-scenes',
      '--stamps',
      dir,
      '--size',
      '32',
      '--min-side',
      '8',
      '--max-side',
      '16',
      '--train-count',
      '6',
      '--test-count',
      '3',
      '--out',
      join(out, 'sc'),
    );
    assert.equal(scenes.status, 0, scenes.stderr);
    for (const f of ['train.safetensors', 'test.annotations.safetensors', 'test-preview.png'])
      assert.ok(existsSync(join(out, 'sc', f)), f);
    assert.equal(readdirSync(join(out, 'sc', 'test')).length, 3);
    const bad = run('colour-scenes', '--stamps', join(dir, 'nowhere'), '--out', join(out, 'x'));
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /tuxpaint-stamps-default/);
  });
});

describe(
  "Tux Paint's stamps (the installed package)",
  { skip: !existsSync(STAMPS_DIR) && `${STAMPS_DIR} is not installed` },
  () => {
    test('nine categories with their natural, unbalanced counts', () => {
      const list = listStamps();
      assert.deepEqual(list.categories, [
        'animals',
        'clothes',
        'food',
        'household',
        'people',
        'plants',
        'seasonal',
        'town',
        'vehicles',
      ]);
      const all = { ...categoryCounts(list, 'train') };
      for (const [c, n] of Object.entries(categoryCounts(list, 'test'))) all[c]! += n;
      assert.equal(all.animals, 154);
      assert.equal(all.people, 30);
      assert.equal(list.entries.length, 638);
    });
  },
);
