// fashion-scenes: multi-object canvases built from Fashion-MNIST items, deterministic from a seed, with
// hidden annotations (boxes, classes, a semantic mask) that only evaluation and the ground-truth rows
// read. Items are tight-cropped, scaled so their longest side is minSide..maxSide pixels and placed at
// random without overlap; canvas i depends only on (seed, i), so a larger count extends a smaller one.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import { hostRng } from '../util/streams.js';
import { ImageDataset } from './dataset.js';
import { FASHION_MNIST_CLASSES, loadFashionMnist } from './fashion-mnist.js';
import { saveObjectAnnotations } from './object-annotations.js';
import { boxesOf, overlay } from './overlay.js';
import { saveEach, saveGrid } from './png.js';

export const SCENES_FORMAT = 'selfguided-scenes/1';

export const SceneOptions = z.object({
  split: z.enum(['train', 'test']).default('train'),
  /** canvases (default 20,000 for train, 2,000 for test) */
  count: z.number().int().positive().optional(),
  size: z.number().int().min(16).default(48),
  minItems: z.number().int().min(1).default(1),
  maxItems: z.number().int().min(1).default(3),
  /** the longest side of a placed item, in pixels */
  minSide: z.number().int().min(4).default(14),
  maxSide: z.number().int().min(4).default(26),
  /** free pixels kept between items */
  gap: z.number().int().min(0).default(2),
  /**
   * 'noise' and 'texture' put dim grey levels (0-40) under the items; 'clutter' a texture over the whole
   * grey range with fine noise, the items pasted over it, so that no threshold on grey levels separates them
   */
  background: z.enum(['none', 'noise', 'texture', 'clutter']).default('none'),
  seed: z.number().int().min(0).default(0),
  /** Fashion-MNIST's IDX directory */
  dir: z.string().optional(),
});
export type SceneOptions = z.input<typeof SceneOptions>;
type Resolved = z.output<typeof SceneOptions> & { count: number };

/** The hidden annotations of a set of scenes (or of a user's image folder, in the same format). */
/** An item pixel brighter than this is the item (its mask and its tight crop). */
const ITEM_THRESHOLD = 32;

function resolve(o: SceneOptions): Resolved {
  const r = SceneOptions.parse(o);
  if (r.maxItems < r.minItems) throw new RangeError(`maxItems ${r.maxItems} < minItems ${r.minItems}`);
  if (r.maxSide < r.minSide) throw new RangeError(`maxSide ${r.maxSide} < minSide ${r.minSide}`);
  if (r.maxSide > r.size) throw new RangeError(`maxSide ${r.maxSide} does not fit a ${r.size}px canvas`);
  return { ...r, count: r.count ?? (r.split === 'train' ? 20000 : 2000) };
}

/** Bounding box (x0, y0, x1, y1; end exclusive) of the cells of a w x h mask where `on` holds; null if none. */
export function maskBox(
  mask: ArrayLike<number>,
  w: number,
  h: number,
  on: (v: number) => boolean = (v) => v > 0,
): [number, number, number, number] | null {
  let x0 = w,
    y0 = h,
    x1 = 0,
    y1 = 0;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      if (on(mask[y * w + x]!)) {
        x0 = Math.min(x0, x);
        y0 = Math.min(y0, y);
        x1 = Math.max(x1, x + 1);
        y1 = Math.max(y1, y + 1);
      }
  return x1 > x0 ? [x0, y0, x1, y1] : null;
}

/** Tight box of the pixels above the threshold in a w x w item (the whole item when it is blank). */
function tightBox(px: Uint8Array, w: number): [number, number, number, number] {
  return maskBox(px, w, w, (v) => v > ITEM_THRESHOLD) ?? [0, 0, w, w];
}

/** Bilinear resize (half-pixel centres, as torch's align_corners=False) of a crop to outW x outH. */
function resize(src: Uint8Array, sw: number, sh: number, outW: number, outH: number): Uint8Array {
  const out = new Uint8Array(outW * outH);
  for (let y = 0; y < outH; y++) {
    const fy = Math.min(Math.max(((y + 0.5) * sh) / outH - 0.5, 0), sh - 1);
    const y0 = Math.floor(fy),
      y1 = Math.min(y0 + 1, sh - 1),
      ty = fy - y0;
    for (let x = 0; x < outW; x++) {
      const fx = Math.min(Math.max(((x + 0.5) * sw) / outW - 0.5, 0), sw - 1);
      const x0 = Math.floor(fx),
        x1 = Math.min(x0 + 1, sw - 1),
        tx = fx - x0;
      const top = src[y0 * sw + x0]! * (1 - tx) + src[y0 * sw + x1]! * tx;
      const bottom = src[y1 * sw + x0]! * (1 - tx) + src[y1 * sw + x1]! * tx;
      out[y * outW + x] = Math.round(top * (1 - ty) + bottom * ty);
    }
  }
  return out;
}

interface Canvas {
  pixels: Uint8Array;
  mask: Uint8Array;
  boxes: [number, number, number, number][];
  classes: number[];
}

function background(o: Resolved, rng: ReturnType<typeof hostRng>): Uint8Array {
  const s = o.size;
  const px = new Uint8Array(s * s);
  if (o.background === 'noise') for (let i = 0; i < px.length; i++) px[i] = rng.int(41);
  // Smooth grey structure: a few random waves, summed and scaled into grey levels.
  const waves = (count: number, maxFreq: number, level: (v: number) => number) => {
    const w = Array.from({ length: count }, () => ({
      fx: (rng.next() * maxFreq * Math.PI) / s,
      fy: (rng.next() * maxFreq * Math.PI) / s,
      phase: rng.next() * 2 * Math.PI,
    }));
    for (let y = 0; y < s; y++)
      for (let x = 0; x < s; x++)
        px[y * s + x] = level(w.reduce((a, q) => a + Math.sin(q.fx * x + q.fy * y + q.phase), 0) / count);
  };
  // Three low-frequency waves over 0-40 levels.
  if (o.background === 'texture') waves(3, 4, (v) => Math.round(20 + 20 * v));
  // Five waves up to twice the texture's frequency over 0-255, and noise of +-24 levels on every pixel.
  if (o.background === 'clutter')
    waves(5, 8, (v) => Math.max(0, Math.min(255, Math.round(128 + 200 * v + rng.int(49) - 24))));
  return px;
}

/** Canvas i: item count, items, sizes and places drawn from stream (seed, i). */
function makeCanvas(i: number, o: Resolved, items: Uint8Array, labels: Int32Array, itemSide: number): Canvas {
  const rng = hostRng(o.seed, 'scenes.canvas', i);
  const s = o.size;
  const pixels = background(o, rng);
  const mask = new Uint8Array(s * s);
  const boxes: Canvas['boxes'] = [];
  const classes: number[] = [];
  const want = o.minItems + rng.int(o.maxItems - o.minItems + 1);
  const nItems = labels.length;
  const area = itemSide * itemSide;
  for (let k = 0; k < want; k++) {
    const item = rng.int(nItems);
    const src = items.subarray(item * area, (item + 1) * area);
    const [bx0, by0, bx1, by1] = tightBox(src, itemSide);
    const cw = bx1 - bx0,
      ch = by1 - by0;
    const crop = new Uint8Array(cw * ch);
    for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) crop[y * cw + x] = src[(by0 + y) * itemSide + bx0 + x]!;
    const side = o.minSide + rng.int(o.maxSide - o.minSide + 1);
    const scale = side / Math.max(cw, ch);
    const w = Math.max(1, Math.round(cw * scale)),
      h = Math.max(1, Math.round(ch * scale));
    const scaled = resize(crop, cw, ch, w, h);
    // Rejection sampling of a free place; an item that finds none in 100 tries is left out.
    for (let attempt = 0; attempt < 100; attempt++) {
      const x = rng.int(s - w + 1),
        y = rng.int(s - h + 1);
      const free = boxes.every(
        ([px0, py0, px1, py1]) => x + w + o.gap <= px0 || px1 + o.gap <= x || y + h + o.gap <= py0 || py1 + o.gap <= y,
      );
      if (!free) continue;
      for (let yy = 0; yy < h; yy++)
        for (let xx = 0; xx < w; xx++) {
          const v = scaled[yy * w + xx]!;
          const at = (y + yy) * s + x + xx;
          // Over clutter an item replaces what lies under it (a maximum would hide its darker parts).
          if (o.background === 'clutter' ? v > ITEM_THRESHOLD : v > pixels[at]!) pixels[at] = v;
          if (v > ITEM_THRESHOLD) mask[at] = labels[item]! + 1;
        }
      boxes.push([x, y, x + w, y + h]);
      classes.push(labels[item]!);
      break;
    }
  }
  return { pixels, mask, boxes, classes };
}

/** Generates the scenes: a dataset whose `scene` holds the hidden annotations. */
export function generateScenes(options: SceneOptions = {}): ImageDataset {
  const o = resolve(options);
  const src = loadFashionMnist({ split: o.split, dir: o.dir, size: 28 });
  const items = src.pixels.toTypedArray() as Uint8Array;
  const labels = src.labels!;
  src.dispose();
  const s = o.size,
    n = o.count,
    m = o.maxItems;
  const pixels = new Uint8Array(n * s * s);
  const masks = new Uint8Array(n * s * s);
  const boxes = new Int32Array(n * m * 4).fill(-1);
  const classes = new Int32Array(n * m).fill(-1);
  for (let i = 0; i < n; i++) {
    const c = makeCanvas(i, o, items, labels, 28);
    pixels.set(c.pixels, i * s * s);
    masks.set(c.mask, i * s * s);
    c.boxes.forEach((b, k) => boxes.set(b, (i * m + k) * 4));
    c.classes.forEach((cl, k) => (classes[i * m + k] = cl));
  }
  const { count: _count, ...rest } = o;
  return new ImageDataset(
    torch.tensor(pixels, { shape: [n, 1, s, s] }),
    null,
    FASHION_MNIST_CLASSES,
    { name: `fashion-scenes/${o.split}`, preprocessing: { ...rest, count: n, dir: o.dir ?? 'default' } },
    {
      boxes: torch.keep(torch.tensor(boxes, { shape: [n, m, 4] })),
      classes: torch.keep(torch.tensor(classes, { shape: [n, m] })),
      masks: torch.keep(torch.tensor(masks, { shape: [n, s, s] })),
      classNames: FASHION_MNIST_CLASSES,
    },
  );
}

/** Writes scenes (images and annotations) as one safetensors file, readable from Python. */
export function saveScenes(path: string, ds: ImageDataset): void {
  if (!ds.scene) throw new Error(`${ds.info.name} has no scene annotations to save`);
  torch.safetensors.saveFile(
    path,
    { images: ds.pixels, boxes: ds.scene.boxes, classes: ds.scene.classes, masks: ds.scene.masks },
    {
      format: SCENES_FORMAT,
      name: ds.info.name,
      preprocessing: JSON.stringify(ds.info.preprocessing),
      classNames: JSON.stringify(ds.scene.classNames),
    },
  );
}

/** Reads scenes written by saveScenes. */
export function loadScenes(path: string): ImageDataset {
  const { tensors, metadata } = torch.safetensors.loadFile(path);
  const get = (k: string) => {
    const t = tensors.get(k);
    if (!t) {
      for (const x of tensors.values()) x.dispose();
      throw new Error(`scenes file ${path}: no '${k}' tensor`);
    }
    return t;
  };
  if (metadata.format !== SCENES_FORMAT) {
    for (const x of tensors.values()) x.dispose();
    throw new Error(`${path} is not a ${SCENES_FORMAT} file (format '${metadata.format ?? 'missing'}')`);
  }
  const classNames = z.array(z.string()).parse(JSON.parse(metadata.classNames ?? '[]'));
  return new ImageDataset(
    get('images'),
    null,
    classNames,
    { name: metadata.name ?? 'fashion-scenes', preprocessing: JSON.parse(metadata.preprocessing ?? '{}') },
    {
      boxes: torch.keep(get('boxes')),
      classes: torch.keep(get('classes')),
      masks: torch.keep(get('masks')),
      classNames,
    },
  );
}

/**
 * The canvases' generator version, part of the cache key: a cached file made by an older generator (or
 * from the random streams before issue 24 keyed them by name) is not reused as if it were today's.
 */
const SCENES_GENERATOR = 2;

/**
 * The scenes of these options, generated once and then read from `cacheDir` (a file named by the hash
 * of the options and the generator's version).
 */
export function loadOrGenerateScenes(options: SceneOptions, cacheDir: string): ImageDataset {
  const o = resolve(options);
  const key = createHash('sha256')
    .update(JSON.stringify({ ...o, generator: SCENES_GENERATOR }))
    .digest('hex')
    .slice(0, 12);
  const path = join(cacheDir, `fashion-scenes-${o.split}-${key}.safetensors`);
  if (existsSync(path)) return loadScenes(path);
  const ds = generateScenes(o);
  mkdirSync(cacheDir, { recursive: true });
  saveScenes(path, ds);
  return ds;
}

export interface WrittenScenes {
  split: 'train' | 'test';
  /** images and annotations in one file */
  file: string;
  /** the plain image folder and its object-annotations file (when images were written) */
  folder: string | null;
  annotations: string | null;
  preview: string;
  count: number;
}

/**
 * `selfguided data scenes`: both splits as scenes files, and (unless images is false) as plain image
 * folders with an object-annotations file each, plus a preview of the first canvases with their
 * annotations drawn.
 */
export async function writeScenes(
  outDir: string,
  o: Omit<SceneOptions, 'split' | 'count'> & { trainCount?: number; testCount?: number; images?: boolean },
  log: (msg: string) => void = () => {},
): Promise<WrittenScenes[]> {
  const { trainCount, testCount, images = true, ...rest } = o;
  return writeSceneSplits(outDir, (split, count) => generateScenes({ ...rest, split, count }), {
    trainCount,
    testCount,
    images,
    log,
  });
}

/** Writes the canvases a generator makes for each split, as writeScenes describes (any scenes: grey or colour). */
export async function writeSceneSplits(
  outDir: string,
  generate: (split: 'train' | 'test', count: number) => ImageDataset | Promise<ImageDataset>,
  o: { trainCount?: number; testCount?: number; images?: boolean; log?: (msg: string) => void },
): Promise<WrittenScenes[]> {
  const { trainCount, testCount, images = true, log = () => {} } = o;
  const written: WrittenScenes[] = [];
  mkdirSync(outDir, { recursive: true });
  for (const [split, count] of [
    ['train', trainCount ?? 20000],
    ['test', testCount ?? 2000],
  ] as const) {
    log(`generating ${count} ${split} scenes`);
    const ds = await generate(split, count);
    try {
      const file = join(outDir, `${split}.safetensors`);
      saveScenes(file, ds);
      let folder: string | null = null,
        annotations: string | null = null;
      if (images) {
        folder = join(outDir, split);
        const all = Array.from({ length: ds.length }, (_, i) => i);
        const paths: string[] = [];
        for (let s = 0; s < all.length; s += 1000) {
          const batch = ds.images(all.slice(s, s + 1000));
          const names = await saveEach(batch, folder, 'scene');
          batch.dispose();
          // saveEach numbers each batch from 0: rename into one sequence.
          for (const [k, p] of names.entries()) {
            const target = join(folder, `scene-${String(s + k).padStart(6, '0')}.png`);
            renameSync(p, target);
            paths.push(`scene-${String(s + k).padStart(6, '0')}.png`);
          }
        }
        annotations = join(outDir, `${split}.annotations.safetensors`);
        saveObjectAnnotations(annotations, ds.scene!, paths);
      }
      const preview = join(outDir, `${split}-preview.png`);
      const first = Array.from({ length: Math.min(32, ds.length) }, (_, i) => i);
      const sub = ds.subset(first);
      const pic = overlay(sub.images(first.map((_, i) => i)), {
        masks: sub.scene!.masks,
        boxes: boxesOf(sub.scene!.boxes, sub.scene!.classes),
      });
      await saveGrid(pic, preview, { nrow: 8, scale: 2 });
      pic.dispose();
      sub.dispose();
      written.push({ split, file, folder, annotations, preview, count: ds.length });
    } finally {
      ds.dispose();
    }
  }
  return written;
}
