// Layout following on images with a known answer: a bright rectangle exactly in the requested box, a
// mask whose foreground is the requested one; shuffled layouts as chance; segment IoU by hand.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { derangement, foreground, foregroundScore, layoutsOf, segmentIoU } from '../../src/eval/layout-following.js';
import * as torch from '../../src/torch/index.js';

const S = 16;
const boxes: [number, number, number, number][] = [
  [2, 2, 8, 10],
  [9, 1, 15, 6],
  [4, 9, 12, 15],
];

/** Images [-1 background, +1 inside box i] and the box channels [N, 1, S, S]. */
function scene(): { images: torch.Tensor; maps: torch.Tensor } {
  const px = new Float32Array(boxes.length * S * S).fill(-1);
  const mp = new Float32Array(boxes.length * S * S);
  boxes.forEach(([x0, y0, x1, y1], i) => {
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        px[i * S * S + y * S + x] = 1;
        mp[i * S * S + y * S + x] = 1;
      }
  });
  return { images: torch.tensor(px, { shape: [3, 1, S, S] }), maps: torch.tensor(mp, { shape: [3, 1, S, S] }) };
}

describe('layout following', () => {
  test('an image that fills its box scores 1; against shuffled boxes less', () => {
    const { images, maps } = scene();
    const l = layoutsOf(maps, 'boxes');
    assert.deepEqual(l.boxes, boxes);
    const fg = foreground(images);
    const own = foregroundScore(fg, l, [0, 1, 2]);
    assert.equal(own.iou, 1);
    assert.equal(own.inside, 1);
    const shuffled = foregroundScore(fg, l, derangement(3, 0));
    assert.ok(shuffled.iou < 0.2 && shuffled.inside! < 0.3, JSON.stringify(shuffled));
  });

  test('masks: the foreground against the non-background segments; the background is the border segment', () => {
    const { images, maps } = scene();
    // Two segments: 0 outside the box, 1 inside, as one-hot channels.
    const oneHot = torch.cat([maps.mul(-1).add(1), maps], 1);
    const l = layoutsOf(oneHot, 'masks');
    assert.equal(l.background, 0);
    assert.equal(foregroundScore(foreground(images), l, [0, 1, 2]).iou, 1);
  });

  test('segment IoU without matching, by hand; derangements have no fixed point', () => {
    // want: 0 0 1 1 ; pred: 0 1 1 1 -> IoU(0) = 1/2, IoU(1) = 2/3
    assert.ok(
      Math.abs(segmentIoU(Uint8Array.from([0, 1, 1, 1]), Uint8Array.from([0, 0, 1, 1]), 2) - (1 / 2 + 2 / 3) / 2) <
        1e-12,
    );
    assert.equal(segmentIoU(Uint8Array.from([1, 1, 0, 0]), Uint8Array.from([0, 0, 1, 1]), 2), 0, 'ids are not matched');
    for (const n of [2, 5, 50]) assert.ok(derangement(n, 3).every((v, i) => v !== i));
  });
});

describe('the shifted-box control and diversity', () => {
  test('shiftMaps moves a box with zero fill; leaving the canvas is refused', async () => {
    const { shiftMaps } = await import('../../src/eval/layout-following.js');
    const { maps } = scene();
    const moved = layoutsOf(shiftMaps(maps, 3, -1), 'boxes');
    assert.deepEqual(moved.boxes[0], [5, 1, 11, 9]);
    assert.deepEqual(moved.boxes[1], [12, 0, 16, 5], 'cut at the canvas edge');
    assert.throws(() => shiftMaps(maps, 16, 0), /leaves the 16x16 canvas/);
  });

  test('group diversity: identical samples 0; two points at distance 2 in each group give 2', async () => {
    const { groupDiversity } = await import('../../src/eval/layout-following.js');
    assert.equal(groupDiversity(torch.ones([6, 3]), 3), 0);
    const f = torch.tensor([0, 0, 2, 0, 5, 5, 5, 7], { shape: [4, 2] });
    assert.equal(groupDiversity(f, 2), 2);
    assert.throws(() => groupDiversity(f, 3), /do not split into groups of 3/);
  });
});

describe('object-level FD pieces', () => {
  test('foreground objects are the connected components; crops are square, padded with background', async () => {
    const { foregroundObjects, objectCrops } = await import('../../src/eval/object-fd.js');
    const { images } = scene();
    const objects = foregroundObjects(foreground(images), 3, S, 4);
    assert.deepEqual(
      objects,
      boxes.map((b) => [b]),
    );
    const crops = objectCrops(images, objects, 8)!;
    assert.deepEqual(crops.shape, [3, 1, 8, 8]);
    // Box 0 is 6 wide and 8 tall: the square crop has background columns on both sides, the object between.
    const c0 = crops.select(0, 0).select(0, 0).toTypedArray() as Float32Array;
    assert.ok(c0[4 * 8 + 0]! < 0 && c0[4 * 8 + 7]! < 0 && c0[4 * 8 + 4]! > 0.9);
    assert.equal(objectCrops(images, [[], [], []], 8), null);
  });
});
