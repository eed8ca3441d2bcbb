// Cut-out objects as premultiplied RGBA sprites, and the two operations the colour canvases need: an
// antialiased resample (a triangle filter whose support grows with the downscale factor, so that a
// 96 px stamp shrunk to 20 px averages what it covers instead of skipping pixels) and an "over"
// composite. Premultiplied, because resampling straight colours lets a transparent pixel's hidden colour
// bleed into the object's edge as a fringe.
import { maskBox } from './scenes.js';

/** An RGBA image, premultiplied: colour channels are already multiplied by alpha (all in 0..1). */
export interface Sprite {
  width: number;
  height: number;
  /** [height * width * 4] premultiplied r, g, b and alpha in 0..1 */
  data: Float32Array;
}

/** A sprite from straight (not premultiplied) 8-bit RGBA pixels. */
export function spriteFromRgba(rgba: Uint8Array | Buffer, width: number, height: number): Sprite {
  if (rgba.length !== width * height * 4)
    throw new RangeError(`${rgba.length} bytes is not ${width} x ${height} RGBA pixels`);
  const data = new Float32Array(rgba.length);
  for (let i = 0; i < rgba.length; i += 4) {
    const a = rgba[i + 3]! / 255;
    data[i] = (rgba[i]! / 255) * a;
    data[i + 1] = (rgba[i + 1]! / 255) * a;
    data[i + 2] = (rgba[i + 2]! / 255) * a;
    data[i + 3] = a;
  }
  return { width, height, data };
}

/** Per output cell, the source cells it reads and their weights (normalised to sum 1). */
function filterTaps(src: number, dst: number): { first: number; weights: number[] }[] {
  const scale = src / dst;
  const support = Math.max(1, scale);
  return Array.from({ length: dst }, (_, o) => {
    const centre = (o + 0.5) * scale - 0.5;
    const first = Math.max(0, Math.ceil(centre - support));
    const last = Math.min(src - 1, Math.floor(centre + support));
    const weights: number[] = [];
    for (let i = first; i <= last; i++) weights.push(Math.max(0, 1 - Math.abs(i - centre) / support));
    const sum = weights.reduce((a, b) => a + b, 0);
    // A tap set can only be empty-weighted at an exact edge; fall back to the nearest cell.
    if (sum === 0) return { first: Math.min(src - 1, Math.max(0, Math.round(centre))), weights: [1] };
    return { first, weights: weights.map((w) => w / sum) };
  });
}

/** The sprite resampled to width x height (either way; separable triangle filter, antialiased when shrinking). */
export function resampleSprite(s: Sprite, width: number, height: number): Sprite {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1)
    throw new RangeError(`a sprite needs a positive whole size, got ${width} x ${height}`);
  const tx = filterTaps(s.width, width);
  const ty = filterTaps(s.height, height);
  const rows = new Float32Array(s.height * width * 4);
  for (let y = 0; y < s.height; y++)
    for (let x = 0; x < width; x++) {
      const { first, weights } = tx[x]!;
      for (let c = 0; c < 4; c++) {
        let v = 0;
        for (let k = 0; k < weights.length; k++) v += weights[k]! * s.data[(y * s.width + first + k) * 4 + c]!;
        rows[(y * width + x) * 4 + c] = v;
      }
    }
  const data = new Float32Array(height * width * 4);
  for (let y = 0; y < height; y++) {
    const { first, weights } = ty[y]!;
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 4; c++) {
        let v = 0;
        for (let k = 0; k < weights.length; k++) v += weights[k]! * rows[((first + k) * width + x) * 4 + c]!;
        data[(y * width + x) * 4 + c] = v;
      }
  }
  return { width, height, data };
}

/** The sprite mirrored left to right. */
export function flipSprite(s: Sprite): Sprite {
  const data = new Float32Array(s.data.length);
  for (let y = 0; y < s.height; y++)
    for (let x = 0; x < s.width; x++)
      for (let c = 0; c < 4; c++) data[(y * s.width + x) * 4 + c] = s.data[(y * s.width + (s.width - 1 - x)) * 4 + c]!;
  return { width: s.width, height: s.height, data };
}

/**
 * Composites the sprite over an RGB canvas (planar [3, size, size], 0..1) with its top-left corner at
 * (x, y); the parts outside the canvas are cut. out = sprite + (1 - alpha) * canvas.
 */
export function compositeOver(canvas: Float32Array, size: number, s: Sprite, x: number, y: number): void {
  const plane = size * size;
  for (let yy = 0; yy < s.height; yy++) {
    const cy = y + yy;
    if (cy < 0 || cy >= size) continue;
    for (let xx = 0; xx < s.width; xx++) {
      const cx = x + xx;
      if (cx < 0 || cx >= size) continue;
      const i = (yy * s.width + xx) * 4;
      const a = s.data[i + 3]!;
      const at = cy * size + cx;
      for (let c = 0; c < 3; c++) canvas[c * plane + at] = s.data[i + c]! + (1 - a) * canvas[c * plane + at]!;
    }
  }
}

/** The tight box (x0, y0, x1, y1; end exclusive) of the pixels whose alpha exceeds `min`; null if none. */
export function alphaBox(s: Sprite, min: number): [number, number, number, number] | null {
  const alpha = new Float32Array(s.width * s.height);
  for (let i = 0; i < alpha.length; i++) alpha[i] = s.data[i * 4 + 3]!;
  return maskBox(alpha, s.width, s.height, (v) => v > min);
}
