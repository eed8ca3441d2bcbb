// Object-level fidelity: the objects of the samples (connected components of their foreground) and the
// objects of the real canvases (their hidden boxes), each cropped square and resized, through the same
// feature network; the Frechet distance between the two sets of object features.
import { connectedComponents, type Box } from '../annotate/components.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** Bounding boxes of the 4-connected foreground components of each image with at least minPixels pixels. */
export function foregroundObjects(fg: Uint8Array, n: number, s: number, minPixels = 12): Box[][] {
  return Array.from({ length: n }, (_, i) =>
    connectedComponents(fg.subarray(i * s * s, (i + 1) * s * s), s)
      .filter((c) => c.pixels >= minPixels)
      .map((c) => c.box),
  );
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
