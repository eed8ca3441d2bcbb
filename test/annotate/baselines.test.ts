// The free baselines: Otsu's threshold between two modes, the foreground on either side of it (the border
// decides), the centre box, the largest component's box, colour clusters, and on scenes: a threshold finds
// the items on black canvases and fails on clutter.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  centreBox,
  colourSegments,
  largestComponentBoxes,
  otsuForeground,
  otsuThreshold,
} from '../../src/annotate/baselines.js';
import { loadDataset } from '../../src/data/spec.js';
import { annotationBaselines } from '../../src/pipelines/annotation-baselines.js';
import * as torch from '../../src/torch/index.js';

/** An s x s grey image of `bg` with a square of `fg` at [x0, x1) x [y0, y1). */
function square(s: number, bg: number, fg: number, [x0, y0, x1, y1]: number[]): number[] {
  return Array.from({ length: s * s }, (_, p) => {
    const x = p % s,
      y = Math.floor(p / s);
    return x >= x0! && x < x1! && y >= y0! && y < y1! ? fg : bg;
  });
}

describe('free baselines', () => {
  test("Otsu's threshold falls between two modes", () => {
    const hist = new Array(256).fill(0);
    hist[30] = 500;
    hist[200] = 100;
    const t = otsuThreshold(hist);
    assert.ok(t >= 30 && t < 200, `threshold ${t}`);
    hist[31] = 10;
    hist[199] = 10;
    const u = otsuThreshold(hist);
    assert.ok(u >= 31 && u < 199, `threshold ${u}`);
  });

  test('the foreground is the side of the threshold the border lies on less: bright on dark and dark on bright', () => {
    const s = 12;
    const box = [3, 4, 8, 9];
    const expected = square(s, 0, 1, box);
    const bright = torch.tensor(Uint8Array.from(square(s, 20, 220, box)), { shape: [1, 1, s, s] });
    const dark = torch.tensor(Uint8Array.from(square(s, 230, 10, box)), { shape: [1, 1, s, s] });
    assert.deepEqual(Array.from(otsuForeground(bright)), expected);
    assert.deepEqual(Array.from(otsuForeground(dark)), expected);
    // Colour images are thresholded on their grey levels.
    const colour = torch.tidy(() => bright.expand([1, 3, s, s]).contiguous());
    assert.deepEqual(Array.from(otsuForeground(colour)), expected);
  });

  test('the centre box is centred and half the area; the largest component gives its box', () => {
    assert.deepEqual(centreBox(48), [7, 7, 41, 41]);
    const s = 10;
    const two = square(s, 0, 1, [0, 0, 2, 2]).map((v, p) => v || square(s, 0, 1, [4, 3, 9, 8])[p]!);
    const empty = new Array(s * s).fill(0);
    assert.deepEqual(largestComponentBoxes(Uint8Array.from([...two, ...empty]), 2, s), [[4, 3, 9, 8], null]);
  });

  test('colour clusters split the foreground by colour and leave the background 0', () => {
    const s = 6;
    // Red pixels on the left half of the foreground, blue on the right; black background.
    const px = new Uint8Array(3 * s * s);
    const fg = new Uint8Array(s * s);
    for (let y = 1; y < 5; y++)
      for (let x = 1; x < 5; x++) {
        fg[y * s + x] = 1;
        px[(x < 3 ? 0 : 2) * s * s + y * s + x] = 200;
      }
    const seg = colourSegments(torch.tensor(px, { shape: [1, 3, s, s] }), fg, 3);
    const left = new Set<number>(),
      right = new Set<number>();
    for (let y = 1; y < 5; y++) for (let x = 1; x < 5; x++) (x < 3 ? left : right).add(seg[y * s + x]!);
    assert.equal(left.size, 1);
    assert.equal(right.size, 1);
    assert.notDeepEqual([...left], [...right]);
    assert.ok(![...left, ...right].includes(0));
    assert.equal(seg[0], 0, 'background');
  });

  test('on black canvases a threshold finds the items; on clutter it does not', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'sg-baselines-'));
    const scenes = (background: 'none' | 'clutter') =>
      loadDataset({ kind: 'fashion-scenes', split: 'test', count: 150, background, cache });
    const black = await scenes('none');
    const easy = annotationBaselines(black);
    assert.ok(easy.boxes.otsuLargestComponent > 0.9, `CorLoc ${easy.boxes.otsuLargestComponent}`);
    assert.ok(easy.masks.otsuForeground.foregroundIoU > 0.75);
    assert.ok(easy.boxes.centre < 0.1, 'items are smaller than the centre box');
    const clutter = await scenes('clutter');
    const hard = annotationBaselines(clutter);
    assert.ok(hard.boxes.otsuLargestComponent < 0.2, `CorLoc on clutter ${hard.boxes.otsuLargestComponent}`);
    assert.ok(hard.masks.otsuForeground.foregroundIoU < 0.4);
    black.dispose();
    clutter.dispose();
  });
});
