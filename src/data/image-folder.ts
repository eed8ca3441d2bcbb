// Folders of PNG/JPEG images (recursive) decoded with sharp: resized to cover a square and centre
// cropped, grayscale or RGB; optional labels from the first-level subfolder names. A file that fails
// to decode is reported with its path and skipped, never fatal; an empty folder is an error. Images with
// an alpha channel are composited on a background (white unless told otherwise), never stripped: the
// colours a transparent pixel hides would otherwise come through as fringes around every object.
import { readdirSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import * as torch from '../torch/index.js';
import { ImageDataset } from './dataset.js';

const EXTENSIONS = new Set(['.png', '.jpg', '.jpeg']);

export const ALPHA_BACKGROUNDS = ['white', 'black'] as const;
export type AlphaBackground = (typeof ALPHA_BACKGROUNDS)[number];
const BACKGROUND_RGB: Record<AlphaBackground, { r: number; g: number; b: number }> = {
  white: { r: 255, g: 255, b: 255 },
  black: { r: 0, g: 0, b: 0 },
};

export interface ImageFolderOptions {
  size?: number;
  channels?: 1 | 3;
  /** labels from the subfolder each image is in (images directly in root are unlabeled) */
  labelsFromFolders?: boolean;
  /** what transparent pixels show (default white) */
  alphaBackground?: AlphaBackground;
  concurrency?: number;
  onProgress?: (done: number, total: number) => void;
}

export interface ImageFolderReport {
  loaded: number;
  skipped: { path: string; reason: string }[];
}

/** The image files under a folder, recursively, in a fixed (sorted) order. */
export function listImageFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...listImageFiles(p));
    else if (EXTENSIONS.has(extname(name).toLowerCase())) out.push(p);
  }
  return out;
}

/** One image file (or its bytes) as raw size x size x channels pixels, alpha composited on the background. */
export async function decodeImage(
  source: string | Buffer,
  size: number,
  channels: 1 | 3,
  background: AlphaBackground = 'white',
): Promise<Buffer> {
  // Loaded on first use: runs on Fashion-MNIST alone (and the GPU machine) need neither sharp nor libvips.
  const { default: sharp } = await import('sharp');
  let img = sharp(source, { failOn: 'error' })
    .rotate()
    .flatten({ background: BACKGROUND_RGB[background] })
    .resize(size, size, { fit: 'cover', position: 'centre' });
  img = channels === 1 ? img.grayscale() : img.toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== channels || info.width !== size || info.height !== size) {
    throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${size}x${size}x${channels}`);
  }
  return data;
}

export async function loadImageFolder(
  root: string,
  o: ImageFolderOptions = {},
): Promise<{
  dataset: ImageDataset;
  report: ImageFolderReport;
  /** the loaded images' paths relative to root, in row order */ files: string[];
}> {
  let files: string[];
  try {
    files = listImageFiles(root);
  } catch (e) {
    throw new Error(`cannot read image folder ${root}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (files.length === 0) throw new Error(`image folder ${root} has no PNG or JPEG files`);
  const size = o.size ?? 32;
  const channels = o.channels ?? 3;
  const decoded: (Buffer | null)[] = new Array(files.length).fill(null);
  const skipped: ImageFolderReport['skipped'] = [];
  let next = 0,
    done = 0;
  const worker = async () => {
    for (let i = next++; i < files.length; i = next++) {
      try {
        decoded[i] = await decodeImage(files[i]!, size, channels, o.alphaBackground);
      } catch (e) {
        skipped.push({ path: files[i]!, reason: (e as Error).message.split('\n')[0]! });
      }
      o.onProgress?.(++done, files.length);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency ?? 4 }, worker));
  const kept = files
    .map((f, i) => ({ f, buf: decoded[i] }))
    .filter((e): e is { f: string; buf: Buffer } => e.buf !== null);
  if (kept.length === 0)
    throw new Error(
      `image folder ${root}: none of its ${files.length} image files could be decoded (first: ${skipped[0]?.path}: ${skipped[0]?.reason})`,
    );
  const per = size * size * channels;
  const hwc = new Uint8Array(kept.length * per);
  kept.forEach((e, i) => hwc.set(e.buf, i * per));
  const pixels = torch.tidy(() =>
    torch
      .tensor(hwc, { shape: [kept.length, size, size, channels] })
      .permute(0, 3, 1, 2)
      .contiguous(),
  );
  let labels: Int32Array | null = null;
  let classNames: string[] | null = null;
  if (o.labelsFromFolders) {
    const folderOf = (f: string) => {
      const parts = relative(root, f).split(sep);
      return parts.length > 1 ? parts[0]! : null;
    };
    classNames = [...new Set(kept.map((e) => folderOf(e.f)).filter((x): x is string => x !== null))].sort();
    if (classNames.length === 0)
      throw new Error(`image folder ${root}: labels from folders asked for, but all images are directly in the root`);
    const ids = new Map(classNames.map((c, i) => [c, i]));
    labels = Int32Array.from(kept, (e) => {
      const c = folderOf(e.f);
      return c === null ? -1 : ids.get(c)!;
    });
  }
  const dataset = new ImageDataset(pixels, labels, classNames, {
    name: `folder:${root}`,
    preprocessing: {
      root,
      size,
      channels,
      fit: 'cover-centre-crop',
      alphaBackground: o.alphaBackground ?? 'white',
      files: files.length,
      skipped: skipped.length,
    },
  });
  return { dataset, report: { loaded: kept.length, skipped }, files: kept.map((e) => relative(root, e.f)) };
}
