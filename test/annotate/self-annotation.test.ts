// Box- and pixel-level self-annotation on feature maps with known answers, their condition files, and
// the quality measures against hidden masks on hand-computed cases.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { selfBoxes } from '../../src/annotate/self-boxes.js';
import { patchKMeansMasks } from '../../src/annotate/self-masks.js';
import { applyFlips } from '../../src/data/loader.js';
import { gatherConditions, loadConditionFile } from '../../src/diffusion/conditions.js';
import { maskQuality } from '../../src/eval/segmentation.js';
import type { Features } from '../../src/features/features-file.js';
import * as torch from '../../src/torch/index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sg-selfann-'));
const provenance = { extractor: 'test', config: '{}', dataset: 'synthetic', datasetSize: 4, preprocessing: '{}' };

/** N 12x12 maps: background one direction, the object rect of image i another (by class), with noise. */
function features(rects: [number, number, number, number][], classes: number[]): Features {
  const n = rects.length,
    h = 12,
    d = 6;
  const base = new Float32Array(n * h * h * d);
  rects.forEach(([x0, y0, x1, y1], i) => {
    for (let p = 0; p < h * h; p++) {
      const y = Math.floor(p / h),
        x = p % h;
      const inside = x >= x0 && x < x1 && y >= y0 && y < y1;
      base[(i * h * h + p) * d + (inside ? 1 + classes[i]! : 0)] = 1;
    }
  });
  const noise = torch.randn([n, h, h, d], { generator: new torch.Generator(5) }).mul(0.05);
  const patches = torch.keep(torch.tensor(base, { shape: [n, h, h, d] }).add(noise));
  return { features: torch.keep(patches.mean([1, 2])), patches, provenance };
}

describe('self-boxes', () => {
  const rects: [number, number, number, number][] = [
    [1, 1, 5, 4],
    [6, 6, 11, 10],
    [2, 7, 6, 11],
    [7, 1, 10, 5],
  ];
  test('box channels are the LOST boxes, the self-labels separate the two kinds of object, files round-trip', () => {
    const feats = features(rects, [0, 1, 0, 1]);
    const r = selfBoxes('synthetic.safetensors', feats, {
      imageSize: 48,
      k: 2,
      seed: 0,
      lost: { normalize: 'center' },
    });
    assert.deepEqual(
      r.boxes.map((l) => l[0]!.box),
      rects.map((b) => b.map((v) => v * 4)),
    );
    const ids = r.annotations.assignments!;
    assert.equal(ids[0], ids[2]);
    assert.equal(ids[1], ids[3]);
    assert.notEqual(ids[0], ids[1]);
    const maps = r.annotations.maps!;
    assert.deepEqual(maps.shape, [4, 1, 48, 48]);
    const m0 = maps.select(0, 0).select(0, 0);
    assert.equal(m0.sum().item(), 16 * 12);
    assert.equal(m0.select(0, 4).select(0, 4).item(), 1);
    assert.equal(m0.select(0, 30).select(0, 30).item(), 0);
    const path = join(tmp(), 'boxes.safetensors');
    saveAnnotations(path, r.annotations);
    const c = loadConditionFile(path, 4);
    assert.equal(c.numIds, 2);
    assert.deepEqual(c.maps!.shape, [4, 1, 48, 48]);
    const g = gatherConditions(c, Int32Array.from([1, 0]));
    assert.deepEqual(g.cond!.shape, [2, 2]);
    assert.deepEqual(g.maps!.shape, [2, 1, 48, 48]);
    const flipped = applyFlips(g.maps!, [true, false]);
    assert.equal(
      flipped
        .select(0, 0)
        .select(0, 0)
        .select(0, 30)
        .select(0, 47 - 30)
        .item(),
      g.maps!.select(0, 0).select(0, 0).select(0, 30).select(0, 30).item(),
    );
  });

  test('labels only: --objects all without the channel gives the n-hot multi-object self-labels', () => {
    const feats = features(rects, [0, 1, 0, 1]);
    const r = selfBoxes('synthetic.safetensors', feats, {
      imageSize: 48,
      k: 2,
      objects: 'all',
      channel: false,
      lost: { normalize: 'center' },
    });
    assert.equal(r.annotations.maps, null);
    assert.deepEqual(r.annotations.vectors!.shape, [4, 2]);
    const v = r.annotations.vectors!.toTypedArray() as Float32Array;
    r.boxLabels.forEach((labels, i) => labels.forEach((c) => assert.equal(v[i * 2 + c], 1)));
  });

  test('the features file must carry patches', () => {
    const feats = features(rects, [0, 1, 0, 1]);
    assert.throws(
      () => selfBoxes('x.safetensors', { ...feats, patches: null }, { imageSize: 48, k: 2 }),
      /has no patch features; extract them with selfguided features --patches/,
    );
  });
});

describe('self-masks by patch k-means', () => {
  test('two regions give two segments that follow the object exactly (nearest upsampling)', () => {
    const rects: [number, number, number, number][] = [
      [2, 3, 7, 9],
      [5, 0, 12, 4],
    ];
    const feats = features(rects, [0, 0]);
    const { annotations } = patchKMeansMasks('x.safetensors', feats, {
      K: 2,
      imageSize: 24,
      upsample: 'nearest',
      seed: 1,
    });
    const seg = annotations.segments!.toTypedArray() as Uint8Array;
    const truth = new Uint8Array(2 * 24 * 24);
    rects.forEach(([x0, y0, x1, y1], i) => {
      for (let y = y0 * 2; y < y1 * 2; y++) for (let x = x0 * 2; x < x1 * 2; x++) truth[i * 576 + y * 24 + x] = 1;
    });
    const q = maskQuality(seg, truth, 2, 2);
    assert.equal(q.mIoU, 1);
    assert.equal(q.foregroundIoU, 1);
    assert.deepEqual(
      [...(annotations.vectors!.toTypedArray() as Float32Array)],
      [1, 1, 1, 1],
      'both segments present in both',
    );
    const path = join(tmp(), 'masks.safetensors');
    saveAnnotations(path, annotations);
    const c = loadConditionFile(path, 2);
    const g = gatherConditions(c, Int32Array.from([0, 1]));
    assert.deepEqual(g.maps!.shape, [2, 2, 24, 24]);
    assert.equal(g.maps!.sum(1).min().item(), 1, 'one-hot per pixel');
    assert.equal(g.maps!.sum(1).max().item(), 1);
  });

  test('a condition file with a segment id beyond segmentCount is refused', () => {
    const path = join(tmp(), 'bad.safetensors');
    torch.safetensors.saveFile(path, { segments: torch.full([2, 4, 4], 3, { dtype: 'uint8' }) }, { segmentCount: '3' });
    assert.throws(() => loadConditionFile(path, 2), /a segment id 3 is not below segmentCount 3/);
    torch.safetensors.saveFile(path, { segments: torch.zeros([2, 4, 4]) }, { segmentCount: '3' });
    assert.throws(() => loadConditionFile(path, 2), /'segments' must be integer \[N, H, W\]/);
  });
});

describe('mask quality', () => {
  test('Hungarian matching makes segment ids arbitrary; IoU by hand', () => {
    assert.equal(maskQuality([1, 1, 0, 0], [0, 0, 1, 1], 2, 2).mIoU, 1);
    // Truth: 2 background, 2 class-1 pixels. Prediction puts one class-1 pixel in the background segment.
    const q = maskQuality([0, 0, 0, 1], [0, 0, 1, 1], 2, 2);
    assert.deepEqual(q.matching, [0, 1]);
    assert.ok(Math.abs(q.perClassIoU[0]! - 2 / 3) < 1e-12);
    assert.ok(Math.abs(q.perClassIoU[1]! - 1 / 2) < 1e-12);
    assert.ok(Math.abs(q.mIoU - (2 / 3 + 1 / 2) / 2) < 1e-12);
    assert.ok(Math.abs(q.foregroundIoU - 1 / 2) < 1e-12);
    assert.equal(q.pixelAccuracy, 3 / 4);
    assert.ok(Number.isNaN(maskQuality([0, 0], [0, 0], 2, 3).perClassIoU[2]!), 'absent classes are NaN');
  });
});
