// Layouts as condition arrays, on cases with known answers: the boxes' union and ids, fractions scaled to
// the canvas, masks one-hot and channel-major; and every layout that cannot apply refused with its reason.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { boxLayoutArrays, LayoutProblem, maskLayoutArrays, type LayoutKind } from '../../src/diffusion/layout-math.js';

const boxes: LayoutKind = { kind: 'boxes', k: 4, objects: 'all' };
const masks: LayoutKind = { kind: 'masks', k: 3, objects: 'all' };
const on = (maps: Float32Array) => [...maps.keys()].filter((i) => maps[i] === 1);

describe('layout arrays', () => {
  test('boxes: the union of the boxes on the canvas and the n-hot vector of their ids', () => {
    const { cond, maps } = boxLayoutArrays(boxes, 6, [
      { box: [1, 1, 3, 2], id: 2 },
      { box: [2, 1, 4, 3], id: 0 },
    ]);
    assert.deepEqual(Array.from(cond), [1, 0, 1, 0]);
    // row 1: x 1..3; row 2: x 2..3
    assert.deepEqual(on(maps), [7, 8, 9, 14, 15]);
    const frac = boxLayoutArrays(boxes, 8, [{ box: [0.25, 0.5, 0.5, 0.75], id: 3 }], 'fraction');
    assert.deepEqual(on(frac.maps), [34, 35, 42, 43]);
    assert.deepEqual(Array.from(frac.cond), [0, 0, 0, 1]);
  });

  test('masks: one channel per segment, channel-major, and the segments present', () => {
    const ids = Uint8Array.from([0, 0, 2, 2]);
    const { cond, maps } = maskLayoutArrays(masks, ids, 2, 2);
    assert.deepEqual(Array.from(cond), [1, 0, 1]);
    assert.deepEqual(Array.from(maps), [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
  });

  test('layouts that cannot apply are refused with the reason', () => {
    const refused = (f: () => unknown, why: RegExp) =>
      assert.throws(f, (e: unknown) => e instanceof LayoutProblem && why.test(e.message));
    refused(() => boxLayoutArrays(boxes, 6, [{ box: [0, 0, 7, 2], id: 1 }]), /box 0 .* outside the 6x6 canvas/);
    refused(() => boxLayoutArrays(boxes, 6, [{ box: [3, 3, 3, 5], id: 1 }]), /is empty/);
    refused(() => boxLayoutArrays(boxes, 6, [{ box: [0, 0, 2, 2], id: 4 }]), /id 4; the model knows 4 self-labels/);
    refused(
      () =>
        boxLayoutArrays({ ...boxes, objects: 'main' }, 6, [
          { box: [0, 0, 2, 2], id: 1 },
          { box: [2, 2, 4, 4], id: 1 },
        ]),
      /one box per image; the layout has 2/,
    );
    refused(() => boxLayoutArrays(boxes, 6, []), /no boxes/);
    refused(() => boxLayoutArrays(masks, 6, [{ box: [0, 0, 2, 2], id: 1 }]), /mask-guided/);
    refused(() => maskLayoutArrays(masks, Uint8Array.from([0, 3, 0, 0]), 2, 2), /grey level 3 is not a segment id/);
    refused(() => maskLayoutArrays(masks, new Uint8Array(9), 3, 2), /the mask is 3x3; the model makes 2x2/);
    refused(() => maskLayoutArrays(boxes, new Uint8Array(4), 2, 2), /box-guided/);
  });
});
