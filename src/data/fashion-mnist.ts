// Fashion-MNIST from its IDX files (Debian's dataset-fashion-mnist puts them in
// /usr/share/datasets/fashion-mnist/), padded (default) or resized to 32x32.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import * as torch from '../torch/index.js';
import { ImageDataset } from './dataset.js';

export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';
export const FASHION_MNIST_CLASSES = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

function readIdx(path: string): { dims: number[]; data: Uint8Array } {
  const candidates = [path, `${path}.gz`];
  const file = candidates.find((p) => existsSync(p));
  if (!file) {
    throw new Error(
      `Fashion-MNIST file not found: ${path}(.gz). Install it with \`apt-get install -y dataset-fashion-mnist\` or pass --data-dir.`,
    );
  }
  let buf: Buffer = readFileSync(file);
  if (file.endsWith('.gz')) {
    try {
      buf = gunzipSync(buf);
    } catch (e) {
      throw new Error(`${file}: not a valid gzip file (${(e as Error).message})`);
    }
  }
  if (buf.length < 8 || buf[0] !== 0 || buf[1] !== 0 || buf[2] !== 0x08)
    throw new Error(`${file}: not an unsigned-byte IDX file`);
  const nd = buf[3]!;
  const dims = Array.from({ length: nd }, (_, i) => buf.readUInt32BE(4 + 4 * i));
  const offset = 4 + 4 * nd;
  const count = dims.reduce((a, b) => a * b, 1);
  if (buf.length - offset !== count)
    throw new Error(`${file}: expected ${count} bytes of data for [${dims.join(', ')}], found ${buf.length - offset}`);
  return { dims, data: new Uint8Array(buf.buffer, buf.byteOffset + offset, count) };
}

export interface FashionMnistOptions {
  split?: 'train' | 'test';
  dir?: string;
  /** 'pad' (default): 2 black pixels each side; 'resize': bilinear to 32x32 */
  fit?: 'pad' | 'resize';
  size?: number;
  /** keep only the first n images (tests, quick runs) */
  limit?: number;
}

export function loadFashionMnist(o: FashionMnistOptions = {}): ImageDataset {
  const split = o.split ?? 'train';
  const dir = o.dir ?? FASHION_MNIST_DIR;
  const prefix = split === 'train' ? 'train' : 't10k';
  const imgs = readIdx(join(dir, `${prefix}-images-idx3-ubyte`));
  const labs = readIdx(join(dir, `${prefix}-labels-idx1-ubyte`));
  if (imgs.dims.length !== 3 || labs.dims.length !== 1 || imgs.dims[0] !== labs.dims[0]) {
    throw new Error(
      `Fashion-MNIST ${split}: image dims [${imgs.dims.join(', ')}] do not match label dims [${labs.dims.join(', ')}]`,
    );
  }
  const n = Math.min(imgs.dims[0]!, o.limit ?? Infinity);
  const [h, w] = [imgs.dims[1]!, imgs.dims[2]!];
  const size = o.size ?? 32;
  const fit = o.fit ?? 'pad';
  const pixels = torch.tidy(() => {
    const raw = torch.tensor(imgs.data.subarray(0, n * h * w), { shape: [n, 1, h, w] });
    if (fit === 'resize' || size < h) {
      return torch
        .interpolate(raw.float(), { size: [size, size], mode: 'bilinear' })
        .round()
        .clamp(0, 255)
        .to('uint8');
    }
    const top = Math.floor((size - h) / 2),
      left = Math.floor((size - w) / 2);
    return torch.pad(raw, [left, size - w - left, top, size - h - top]);
  });
  return new ImageDataset(pixels, Int32Array.from(labs.data.subarray(0, n)), FASHION_MNIST_CLASSES, {
    name: `fashion-mnist/${split}`,
    preprocessing: { dir, split, fit, size, n },
  });
}
