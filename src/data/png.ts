// Writing images: a grid of a batch as one PNG, or each image alone, through sharp.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { toPixels } from './dataset.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** Lays out [N, C, H, W] images (in [-1, 1]) in rows of `nrow`, with padding, as [C, H', W'] uint8. */
export function makeGrid(images: Tensor, nrow: number, padding = 2, padValue = 255): Tensor {
  return torch.tidy(() => {
    const [n, c, h, w] = images.shape as [number, number, number, number];
    const cols = Math.min(nrow, n);
    const rows = Math.ceil(n / cols);
    const px = toPixels(images);
    const grid = torch.full([c, rows * (h + padding) + padding, cols * (w + padding) + padding], padValue, {
      dtype: 'uint8',
    });
    for (let i = 0; i < n; i++) {
      const r = Math.floor(i / cols),
        q = i % cols;
      grid
        .narrow(1, padding + r * (h + padding), h)
        .narrow(2, padding + q * (w + padding), w)
        .copy_(px.select(0, i));
    }
    return grid;
  });
}

/** A [C, H, W] uint8 tensor (C = 1 or 3) encoded as PNG, scaled up by an integer factor. */
export async function encodePng(
  chw: Tensor,
  scale = 1,
): Promise<{ png: Buffer; height: number; width: number; channels: 1 | 3 }> {
  const [c, h, w] = chw.shape as [number, number, number];
  if (c !== 1 && c !== 3) throw new RangeError(`PNG: 1 or 3 channels, got ${c}`);
  const hwc = torch.tidy(() => chw.permute(1, 2, 0).contiguous());
  const data = Buffer.from((hwc.toTypedArray() as Uint8Array).buffer);
  hwc.dispose();
  return { png: await encodeRawPng(data, w, h, c, scale), height: h * scale, width: w * scale, channels: c };
}

/** Raw interleaved pixels (height x width x channels, uint8) as PNG, scaled up by an integer factor. */
export async function encodeRawPng(
  raw: Buffer,
  width: number,
  height: number,
  channels: 1 | 3,
  scale = 1,
): Promise<Buffer> {
  // Loaded on first use: training and sampling into tensors need neither sharp nor libvips.
  const { default: sharp } = await import('sharp');
  let img = sharp(raw, { raw: { width, height, channels } });
  if (scale !== 1) img = img.resize(width * scale, height * scale, { kernel: 'nearest' });
  return img.png().toBuffer();
}

/** Writes a [C, H, W] uint8 tensor (C = 1 or 3) as PNG, scaled up by an integer factor. */
export async function savePng(chw: Tensor, path: string, scale = 1): Promise<void> {
  const { png } = await encodePng(chw, scale);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, png);
}

export async function saveGrid(
  images: Tensor,
  path: string,
  o: { nrow?: number; scale?: number; padding?: number } = {},
): Promise<void> {
  const grid = makeGrid(images, o.nrow ?? Math.ceil(Math.sqrt(images.shape[0]!)), o.padding ?? 2);
  try {
    await savePng(grid, path, o.scale ?? 1);
  } finally {
    grid.dispose();
  }
}

export async function saveEach(
  images: Tensor,
  dir: string,
  prefix = 'img',
  onSaved?: (done: number) => void,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const paths: string[] = [];
  const px = toPixels(images);
  try {
    for (let i = 0; i < images.shape[0]!; i++) {
      const p = join(dir, `${prefix}-${String(i).padStart(5, '0')}.png`);
      const one = px.select(0, i);
      await savePng(one, p);
      one.dispose();
      paths.push(p);
      onSaved?.(paths.length);
    }
  } finally {
    px.dispose();
  }
  return paths;
}
