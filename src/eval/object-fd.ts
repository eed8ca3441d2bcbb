// Object-level fidelity: the objects of the samples (connected components of their foreground) and the
// objects of the real canvases (their hidden boxes), each cropped square and resized, through the same
// feature network; the Frechet distance between the two sets of object features.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

type Box = [number, number, number, number];

/** Bounding boxes of the 4-connected foreground components of each image with at least minPixels pixels. */
export function foregroundObjects(fg: Uint8Array, n: number, s: number, minPixels = 12): Box[][] {
  const out: Box[][] = [];
  const seen = new Uint8Array(s * s);
  for (let i = 0; i < n; i++) {
    const f = fg.subarray(i * s * s, (i + 1) * s * s);
    seen.fill(0);
    const boxes: Box[] = [];
    for (let start = 0; start < s * s; start++) {
      if (!f[start] || seen[start]) continue;
      let x0 = s,
        y0 = s,
        x1 = 0,
        y1 = 0,
        count = 0;
      const stack = [start];
      seen[start] = 1;
      while (stack.length) {
        const p = stack.pop()!;
        const y = Math.floor(p / s),
          x = p % s;
        count++;
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x + 1);
        y1 = Math.max(y1, y + 1);
        for (const q of [x > 0 ? p - 1 : -1, x < s - 1 ? p + 1 : -1, y > 0 ? p - s : -1, y < s - 1 ? p + s : -1])
          if (q >= 0 && f[q] && !seen[q]) {
            seen[q] = 1;
            stack.push(q);
          }
      }
      if (count >= minPixels) boxes.push([x0, y0, x1, y1]);
    }
    out.push(boxes);
  }
  return out;
}

/**
 * Every box of every image cropped to a square around it (the background, -1, outside the canvas) and
 * resized to size x size: [M, C, size, size] in [-1, 1]; null when there are no boxes.
 */
export function objectCrops(images: Tensor, boxes: readonly (readonly number[])[][], size = 32): Tensor | null {
  return torch.tidy(() => {
    const crops: Tensor[] = [];
    boxes.forEach((list, i) => {
      for (const [x0, y0, x1, y1] of list as [number, number, number, number][]) {
        const side = Math.max(x1 - x0, y1 - y0);
        const cx = Math.floor((x0 + x1 - side) / 2),
          cy = Math.floor((y0 + y1 - side) / 2);
        // Pad the canvas so the square fits, then cut it out.
        const pad = side;
        const padded = torch.pad(images.narrow(0, i, 1), [pad, pad, pad, pad], 'constant', -1);
        const crop = padded.narrow(2, cy + pad, side).narrow(3, cx + pad, side);
        crops.push(torch.interpolate(crop, { size: [size, size], mode: 'bilinear' }));
      }
    });
    return crops.length ? torch.cat(crops, 0) : null;
  });
}
