// Pictures of annotations: segments tinted over the grey image and box outlines, for people to check
// what a self-annotation function found (docs, cluster/box/mask reports, layouts beside samples).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { toPixels } from './dataset.js';

/** A qualitative palette (RGB); segment/box id i uses colour i mod its length. */
export const PALETTE: [number, number, number][] = [
  [230, 25, 75],
  [60, 180, 75],
  [255, 225, 25],
  [0, 130, 200],
  [245, 130, 48],
  [145, 30, 180],
  [70, 240, 240],
  [240, 50, 230],
  [210, 245, 60],
  [250, 190, 212],
  [0, 128, 128],
  [220, 190, 255],
  [170, 110, 40],
  [128, 0, 0],
  [170, 255, 195],
  [128, 128, 0],
  [0, 0, 128],
  [128, 128, 128],
];

export interface OverlayOptions {
  /** [N, H, W] integer segment ids; 0 is left untinted when `zeroIsBackground` */
  masks?: Tensor | null;
  zeroIsBackground?: boolean;
  /** per image, boxes (x0, y0, x1, y1; end exclusive) and a colour id each */
  boxes?: { box: [number, number, number, number]; id: number }[][] | null;
  /** tint strength of the segments, 0..1 */
  alpha?: number;
}

/** Images [N, C, H, W] in [-1, 1] with their annotations drawn, as [N, 3, H, W] in [-1, 1]. */
export function overlay(images: Tensor, o: OverlayOptions): Tensor {
  const [n, c, h, w] = images.shape as [number, number, number, number];
  const px = toPixels(images);
  const src = px.toTypedArray() as Uint8Array;
  px.dispose();
  const out = new Uint8Array(n * 3 * h * w);
  const seg = o.masks ? Int32Array.from(o.masks.to('int32').toTypedArray() as Int32Array) : null;
  const alpha = o.alpha ?? 0.45;
  const bg = o.zeroIsBackground ?? true;
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const at = y * w + x;
        const id = seg ? seg[i * h * w + at]! : 0;
        const tinted = seg !== null && !(bg && id === 0);
        const col = tinted ? PALETTE[(bg ? id - 1 : id) % PALETTE.length]! : null;
        for (let ch = 0; ch < 3; ch++) {
          const v = src[(i * c + (c === 3 ? ch : 0)) * h * w + at]!;
          out[(i * 3 + ch) * h * w + at] = col ? Math.round(v * (1 - alpha) + alpha * col[ch]!) : v;
        }
      }
  for (const [i, list] of (o.boxes ?? []).entries()) {
    for (const { box, id } of list) {
      const [x0, y0, x1, y1] = box;
      const col = PALETTE[id % PALETTE.length]!;
      const put = (x: number, y: number) => {
        if (x < 0 || y < 0 || x >= w || y >= h) return;
        for (let ch = 0; ch < 3; ch++) out[(i * 3 + ch) * h * w + y * w + x] = col[ch]!;
      };
      for (let x = x0; x < x1; x++) {
        put(x, y0);
        put(x, y1 - 1);
      }
      for (let y = y0; y < y1; y++) {
        put(x0, y);
        put(x1 - 1, y);
      }
    }
  }
  return torch.tidy(() =>
    torch
      .tensor(out, { shape: [n, 3, h, w] })
      .float()
      .mul(2 / 255)
      .sub(1),
  );
}

/** The boxes of scene annotations [N, M, 4] / classes [N, M] as overlay boxes (padding rows dropped). */
export function boxesOf(boxes: Tensor, ids: Tensor): OverlayOptions['boxes'] {
  const [n, m] = boxes.shape as [number, number];
  const b = boxes.to('int32').toTypedArray() as Int32Array;
  const c = ids.to('int32').toTypedArray() as Int32Array;
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: m }, (_, k) => k)
      .filter((k) => c[i * m + k]! >= 0)
      .map((k) => ({
        box: [...b.subarray((i * m + k) * 4, (i * m + k) * 4 + 4)] as [number, number, number, number],
        id: c[i * m + k]!,
      })),
  );
}
