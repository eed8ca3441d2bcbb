// LOST on feature maps with known objects: the exact box, a second object with maxObjects, and the
// degenerate all-positive map that centring fixes. CorLoc and IoU on hand-computed cases.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { boxIoU, corLoc, lostBoxes } from '../../src/annotate/lost.js';
import * as torch from '../../src/torch/index.js';

/** A 12x12 map of D-dim features: background one direction, each object another, small noise. */
function featureMap(objects: [number, number, number, number][], o: { relu?: boolean; seed?: number } = {}) {
  const h = 12,
    w = 12,
    d = 8;
  const g = new torch.Generator(o.seed ?? 0);
  const noise = torch.randn([1, h, w, d], { generator: g }).mul(0.05);
  const base = new Float32Array(h * w * d);
  for (let p = 0; p < h * w; p++) base[p * d + 0] = 1;
  objects.forEach(([x0, y0, x1, y1], k) => {
    for (let y = y0; y < y1; y++)
      for (let x = x0; x < x1; x++) {
        const p = y * w + x;
        base[p * d + 0] = 0;
        base[p * d + 1 + k] = 1;
      }
  });
  let f = torch.tensor(base, { shape: [1, h, w, d] }).add(noise);
  if (o.relu) f = torch.relu(f).add(0.5);
  return f;
}

describe('LOST', () => {
  test('finds the exact box of a single object (patch units and pixels at stride 4)', () => {
    const f = featureMap([[3, 4, 7, 9]]);
    const [[box]] = lostBoxes(f, 48, { k: 100, normalize: 'center' }) as [[ReturnType<typeof lostBoxes>[0][0]]];
    assert.deepEqual(box.patchBox, [3, 4, 7, 9]);
    assert.deepEqual(box.box, [12, 16, 28, 36]);
    assert.equal(box.patches.length, 4 * 5);
  });

  test('with maxObjects it finds a second object, and stops at the background', () => {
    const f = featureMap([
      [1, 1, 4, 3],
      [7, 6, 11, 11],
    ]);
    const [boxes] = lostBoxes(f, 48, { maxObjects: 4, normalize: 'center' });
    const found = boxes!.map((b) => b.patchBox).sort((a, b) => a[0] - b[0]);
    assert.deepEqual(found, [
      [1, 1, 4, 3],
      [7, 6, 11, 11],
    ]);
  });

  test('a ReLU map (all dot products positive) degenerates without centring and works with it', () => {
    const f = featureMap([[3, 4, 7, 9]], { relu: true });
    const [[raw]] = lostBoxes(f, 48, { normalize: 'none' }) as [[ReturnType<typeof lostBoxes>[0][0]]];
    assert.deepEqual(raw.patchBox, [0, 0, 12, 12], 'every patch is connected to every other');
    const [[centred]] = lostBoxes(f, 48, { normalize: 'center' }) as [[ReturnType<typeof lostBoxes>[0][0]]];
    assert.deepEqual(centred.patchBox, [3, 4, 7, 9]);
    const [[ln]] = lostBoxes(f, 48, { normalize: 'layernorm' }) as [[ReturnType<typeof lostBoxes>[0][0]]];
    assert.ok(boxIoU(ln.patchBox, [3, 4, 7, 9]) >= 0.5, `layernorm: ${ln.patchBox}`);
  });

  test('IoU and CorLoc', () => {
    assert.equal(boxIoU([0, 0, 10, 10], [0, 0, 10, 10]), 1);
    assert.equal(boxIoU([0, 0, 10, 10], [10, 10, 20, 20]), 0);
    assert.ok(Math.abs(boxIoU([0, 0, 10, 10], [5, 0, 15, 10]) - 50 / 150) < 1e-12);
    const truth = [
      [[0, 0, 10, 10]],
      [
        [0, 0, 10, 10],
        [20, 20, 30, 30],
      ],
      [[0, 0, 4, 4]],
    ];
    assert.equal(
      corLoc(
        [
          [0, 0, 10, 9],
          [21, 20, 30, 30],
          [10, 10, 20, 20],
        ],
        truth,
      ),
      2 / 3,
    );
    assert.equal(corLoc([null, null, null], truth), 0);
  });
});
