// Data: Fashion-MNIST decoding, image folders (corrupt files, labels, empty folders), long-tail subsets,
// and the batch sampler's determinism and resume.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import {
  applyFlips,
  BatchSampler,
  loadFashionMnist,
  loadImageFolder,
  longTailCounts,
  longTailIndices,
} from '../../src/data/index.js';
import * as torch from '../../src/torch/index.js';
import { flat } from '../helpers/check.js';

describe('Fashion-MNIST', () => {
  test('pads 28x28 to 32x32, scales to [-1, 1], keeps labels aside', () => {
    const ds = loadFashionMnist({ limit: 50 });
    assert.equal(ds.length, 50);
    assert.deepEqual(ds.pixels.shape, [50, 1, 32, 32]);
    assert.equal(ds.numClasses, 10);
    assert.equal(ds.labels![0], 9); // the first training image is an ankle boot
    const x = ds.images([0, 1]);
    const v = flat(x);
    assert.ok(v.every((q) => q >= -1 && q <= 1));
    assert.deepEqual(
      flat(x.narrow(2, 0, 2)).every((q) => q === -1),
      true,
      'padding is black',
    );
    const test_ = loadFashionMnist({ split: 'test', limit: 5, fit: 'resize' });
    assert.deepEqual(test_.pixels.shape, [5, 1, 32, 32]);
    assert.throws(
      () => loadFashionMnist({ dir: '/nonexistent' }),
      /not found.*apt-get install -y dataset-fashion-mnist/,
    );
  });
});

describe('image folders', () => {
  test('decodes PNG/JPEG recursively, labels from folders, skips corrupt files with their path', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sg-img-'));
    mkdirSync(join(root, 'cats', 'deep'), { recursive: true });
    mkdirSync(join(root, 'dogs'));
    const solid = (r: number, g: number, b: number, w = 40, h = 20) =>
      sharp({ create: { width: w, height: h, channels: 3, background: { r, g, b } } });
    await solid(255, 0, 0)
      .png()
      .toFile(join(root, 'cats', 'a.png'));
    await solid(0, 255, 0)
      .jpeg()
      .toFile(join(root, 'cats', 'deep', 'b.jpg'));
    await solid(0, 0, 255, 10, 30)
      .png()
      .toFile(join(root, 'dogs', 'c.PNG'));
    writeFileSync(join(root, 'dogs', 'broken.png'), Buffer.from('not really a png'));
    writeFileSync(join(root, 'dogs', 'notes.txt'), 'ignored');
    const { dataset, report } = await loadImageFolder(root, { size: 16, channels: 3, labelsFromFolders: true });
    assert.equal(report.loaded, 3);
    assert.equal(report.skipped.length, 1);
    assert.match(report.skipped[0]!.path, /broken\.png$/);
    assert.deepEqual(dataset.pixels.shape, [3, 3, 16, 16]);
    assert.deepEqual(dataset.classNames, ['cats', 'dogs']);
    assert.deepEqual(Array.from(dataset.labels!), [0, 0, 1]);
    const red = flat(dataset.pixels.select(0, 0).float().mean([1, 2]));
    assert.deepEqual(red.map(Math.round), [255, 0, 0]);
    const gray = await loadImageFolder(root, { size: 8, channels: 1 });
    assert.deepEqual(gray.dataset.pixels.shape, [3, 1, 8, 8]);
    assert.equal(gray.dataset.labels, null);
  });

  test('RGBA images are composited on the chosen background: the colour a transparent pixel hides never shows', async () => {
    const root = mkdtempSync(join(tmpdir(), 'sg-rgba-'));
    // 16x16: a 4x4 opaque blue square in the middle; every other pixel transparent with a hidden red colour
    const px = Buffer.alloc(16 * 16 * 4);
    for (let y = 0; y < 16; y++)
      for (let x = 0; x < 16; x++) {
        const inside = x >= 6 && x < 10 && y >= 6 && y < 10;
        px.set(inside ? [0, 0, 255, 255] : [255, 0, 0, 0], (y * 16 + x) * 4);
      }
    await sharp(px, { raw: { width: 16, height: 16, channels: 4 } })
      .png()
      .toFile(join(root, 'object.png'));
    for (const [background, corner] of [
      ['white', [255, 255, 255]],
      ['black', [0, 0, 0]],
    ] as const) {
      const { dataset } = await loadImageFolder(root, { size: 16, channels: 3, alphaBackground: background });
      assert.deepEqual(flat(dataset.pixels.select(0, 0).narrow(1, 0, 1).narrow(2, 0, 1).contiguous()), [...corner]);
      assert.deepEqual(flat(dataset.pixels.select(0, 0).narrow(1, 8, 1).narrow(2, 8, 1).contiguous()), [0, 0, 255]);
      const grey = await loadImageFolder(root, { size: 16, channels: 1, alphaBackground: background });
      assert.equal(flat(grey.dataset.pixels.select(0, 0).narrow(1, 0, 1).narrow(2, 0, 1).contiguous())[0], corner[0]);
    }
    // the default is white
    const { dataset } = await loadImageFolder(root, { size: 16, channels: 3 });
    assert.deepEqual(flat(dataset.pixels.select(0, 0).narrow(1, 0, 1).narrow(2, 0, 1).contiguous()), [255, 255, 255]);
  });

  test('an empty or unreadable folder is a clear error', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'sg-empty-'));
    await assert.rejects(loadImageFolder(empty), /has no PNG or JPEG files/);
    writeFileSync(join(empty, 'x.png'), 'garbage');
    await assert.rejects(loadImageFolder(empty), /none of its 1 image files could be decoded/);
    await assert.rejects(loadImageFolder(join(empty, 'missing')), /cannot read image folder.*ENOENT/);
  });
});

describe('long-tailed subsets', () => {
  test('n_c = n_max rho^(-i/(C-1)), seeded', () => {
    assert.deepEqual(longTailCounts(10, 6000, 100), [6000, 3596, 2156, 1292, 774, 464, 278, 166, 100, 60]);
    const labels = Int32Array.from({ length: 1000 }, (_, i) => i % 4);
    const idx = longTailIndices(labels, 4, { rho: 10, seed: 1 });
    const counts = [0, 0, 0, 0];
    for (const i of idx) counts[labels[i]!]!++;
    assert.deepEqual(counts, longTailCounts(4, 250, 10));
    assert.deepEqual(Array.from(longTailIndices(labels, 4, { rho: 10, seed: 1 })), Array.from(idx));
    assert.notDeepEqual(Array.from(longTailIndices(labels, 4, { rho: 10, seed: 2 })), Array.from(idx));
    assert.throws(() => longTailCounts(3, 10, 0.5), /rho must be >= 1/);
  });
});

describe('batch sampler', () => {
  test('covers each epoch once, is seeded, and resumes mid-epoch exactly', () => {
    const a = new BatchSampler(10, { batchSize: 3, seed: 4, hflip: true });
    const epoch = [...a.next().indices, ...a.next().indices, ...a.next().indices];
    assert.equal(new Set(epoch).size, 9, 'no repeats within an epoch (last partial batch dropped)');
    const b = new BatchSampler(10, { batchSize: 3, seed: 4, hflip: true });
    const seqB = Array.from({ length: 7 }, () => b.next());
    const c = new BatchSampler(10, { batchSize: 3, seed: 4, hflip: true });
    for (let i = 0; i < 3; i++) c.next();
    const state = c.stateDict();
    const d = new BatchSampler(10, { batchSize: 3, seed: 4, hflip: true });
    d.loadStateDict(state);
    for (let i = 3; i < 7; i++) {
      const x = d.next();
      assert.deepEqual(Array.from(x.indices), Array.from(seqB[i]!.indices));
      assert.deepEqual(x.flips, seqB[i]!.flips);
    }
    assert.ok(seqB.flatMap((x) => x.flips).some(Boolean) && !seqB.flatMap((x) => x.flips).every(Boolean));
    assert.throws(() => new BatchSampler(2, { batchSize: 3 }), /exceeds the dataset size/);
    assert.throws(() => d.loadStateDict({ epoch: -1, cursor: 0 }), /invalid loader state/);
  });

  test('flips apply per sample', () => {
    const x = torch.tensor([[[[1, 2]]], [[[3, 4]]]]);
    assert.deepEqual(applyFlips(x, [true, false]).toArray(), [[[[2, 1]]], [[[3, 4]]]]);
  });
});
