// The colour counterparts of Fashion-MNIST and fashion-scenes, made on this machine from Tux Paint's stamps
// (stamps.ts): colour-objects, one object per image on a varied colour background, labelled by category
// (image-level guidance); and colour-scenes, 64 px canvases of 1-4 objects composited with their alpha,
// overlapping in part, with hidden classes, boxes and masks (spatial guidance). Test images show held-out
// stamps only. Image i depends only on (seed, i), so a larger count extends a smaller one; both are cached
// (runs/data) under a key of their options, the generator's version and the stamps' names.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Rng } from '../util/rng.js';
import { hostRng } from '../util/streams.js';
import { ImageDataset } from './dataset.js';
import { saveEach, saveGrid } from './png.js';
import { compositeOver, flipSprite, resampleSprite, type Sprite } from './rgba.js';
import { loadScenes, maskBox, saveScenes } from './scenes.js';
import { listStamps, loadStampSprites, OBJECT_ALPHA, stampSplit, type StampList, type StampSource } from './stamps.js';

const StampSourceSchema = z
  .object({
    dir: z.string().optional(),
    minPerCategory: z.number().int().min(1).optional(),
    exclude: z.array(z.string()).optional(),
  })
  .default({});

export const ColourObjectOptions = z.object({
  split: z.enum(['train', 'test']).default('train'),
  size: z.number().int().min(16).max(256).default(32),
  /** renderings of each stamp (default 8 for train, 4 for test); image i is stamp i mod n, rendering i div n */
  views: z.number().int().positive().optional(),
  /** the object's longer side as a fraction of the image's */
  minScale: z.number().gt(0).max(1).default(0.6),
  maxScale: z.number().gt(0).max(1).default(0.9),
  seed: z.number().int().min(0).default(0),
  stamps: StampSourceSchema,
});
export type ColourObjectOptions = z.input<typeof ColourObjectOptions>;

export const ColourSceneOptions = z.object({
  split: z.enum(['train', 'test']).default('train'),
  /** canvases (default 20,000 for train, 2,000 for test) */
  count: z.number().int().positive().optional(),
  size: z.number().int().min(16).max(256).default(64),
  minItems: z.number().int().min(1).default(1),
  maxItems: z.number().int().min(1).default(4),
  /** the longer side of a placed object, in pixels */
  minSide: z.number().int().min(4).default(20),
  maxSide: z.number().int().min(4).default(40),
  /** the largest fraction of an object that later objects may hide */
  maxOcclusion: z.number().min(0).max(0.9).default(0.4),
  seed: z.number().int().min(0).default(0),
  stamps: StampSourceSchema,
});
export type ColourSceneOptions = z.input<typeof ColourSceneOptions>;

/** Bumped whenever the same options would draw different images (part of the cache key). */
const COLOUR_GENERATOR = 1;
const OBJECTS_FORMAT = 'selfguided-colour-objects/1';

/** An RGB colour (0..1) from hue, saturation and value (0..1). */
function hsv(h: number, s: number, v: number): [number, number, number] {
  const k = (n: number) => (n + h * 6) % 6;
  const f = (n: number) => v - v * s * Math.max(0, Math.min(k(n), 4 - k(n), 1));
  return [f(5), f(3), f(1)];
}

const randomColour = (rng: Rng) => hsv(rng.next(), 0.15 + 0.65 * rng.next(), 0.25 + 0.7 * rng.next());

/**
 * A background [3, size, size] in 0..1: a flat colour, a gradient between two colours, or a texture of
 * three low-frequency waves blending two colours (a third each), with fine noise of +-3% on every pixel.
 */
export function colourBackground(size: number, rng: Rng): Float32Array {
  const plane = size * size;
  const px = new Float32Array(3 * plane);
  const a = randomColour(rng),
    b = randomColour(rng);
  const kind = rng.int(3);
  const angle = rng.next() * 2 * Math.PI;
  const waves = Array.from({ length: 3 }, () => ({
    fx: (rng.next() * 4 * Math.PI) / size,
    fy: (rng.next() * 4 * Math.PI) / size,
    phase: rng.next() * 2 * Math.PI,
  }));
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      let t = 0;
      if (kind === 1) t = 0.5 + ((x - size / 2) * Math.cos(angle) + (y - size / 2) * Math.sin(angle)) / (size * 1.42);
      if (kind === 2) t = 0.5 + waves.reduce((s, w) => s + Math.sin(w.fx * x + w.fy * y + w.phase), 0) / 6;
      for (let c = 0; c < 3; c++) {
        const v = a[c]! * (1 - t) + b[c]! * t + (rng.next() - 0.5) * 0.06;
        px[c * plane + y * size + x] = Math.min(1, Math.max(0, v));
      }
    }
  return px;
}

/** The sprite scaled so its longer side is `side`, mirrored when asked. */
function placedSprite(s: Sprite, side: number, flip: boolean): Sprite {
  const scale = side / Math.max(s.width, s.height);
  const r = resampleSprite(s, Math.max(1, Math.round(s.width * scale)), Math.max(1, Math.round(s.height * scale)));
  return flip ? flipSprite(r) : r;
}

const toBytes = (canvas: Float32Array, out: Uint8Array, at: number) => {
  for (let i = 0; i < canvas.length; i++) out[at + i] = Math.round(Math.min(1, Math.max(0, canvas[i]!)) * 255);
};

interface Loaded {
  list: StampList;
  entries: ReturnType<typeof stampSplit>;
  sprites: Sprite[];
}

async function loadSplit(source: StampSource, split: 'train' | 'test', side: number): Promise<Loaded> {
  const list = listStamps(source);
  const entries = stampSplit(list, split);
  return { list, entries, sprites: await loadStampSprites(entries, side) };
}

/** The natural count of each category among the stamps of a split. */
export function categoryCounts(list: StampList, split: 'train' | 'test'): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(list.categories.map((c) => [c, 0]));
  for (const e of stampSplit(list, split)) counts[list.categories[e.category]!]! += 1;
  return counts;
}

/** colour-objects: every stamp of the split `views` times, each on its own background, labelled by category. */
export async function generateColourObjects(options: ColourObjectOptions = {}): Promise<ImageDataset> {
  const o = ColourObjectOptions.parse(options);
  if (o.maxScale < o.minScale) throw new RangeError(`maxScale ${o.maxScale} < minScale ${o.minScale}`);
  const views = o.views ?? (o.split === 'train' ? 8 : 4);
  const s = o.size;
  const maxSide = Math.max(1, Math.round(o.maxScale * s));
  const { list, entries, sprites } = await loadSplit(o.stamps, o.split, maxSide);
  const n = entries.length * views;
  const pixels = new Uint8Array(n * 3 * s * s);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const j = i % entries.length;
    const rng = hostRng(o.seed, 'colour.objects', i);
    const canvas = colourBackground(s, rng);
    const side = Math.max(1, Math.round((o.minScale + (o.maxScale - o.minScale) * rng.next()) * s));
    const sprite = placedSprite(sprites[j]!, Math.min(side, maxSide), rng.next() < 0.5);
    compositeOver(canvas, s, sprite, rng.int(s - sprite.width + 1), rng.int(s - sprite.height + 1));
    toBytes(canvas, pixels, i * 3 * s * s);
    labels[i] = entries[j]!.category;
  }
  return new ImageDataset(torch.tensor(pixels, { shape: [n, 3, s, s] }), labels, list.categories, {
    name: `colour-objects/${o.split}`,
    preprocessing: { size: s, views, minScale: o.minScale, maxScale: o.maxScale, seed: o.seed, stamps: entries.length },
  });
}

interface ColourCanvas {
  pixels: Float32Array;
  mask: Uint8Array;
  boxes: [number, number, number, number][];
  classes: number[];
}

type SceneResolved = z.output<typeof ColourSceneOptions> & { count: number };

/**
 * Canvas i. Objects are placed in turn, each on top of the earlier ones, at a place where it hides at most
 * maxOcclusion of any earlier object's pixels (100 tries, else it is left out). An object's mask is its
 * pixels with alpha above one half that no later object covers; its box is that mask's tight box.
 */
function makeColourCanvas(i: number, o: SceneResolved, sprites: Sprite[], classOf: number[]): ColourCanvas {
  const rng = hostRng(o.seed, 'colour.scenes', i);
  const s = o.size;
  const pixels = colourBackground(s, rng);
  const owner = new Int16Array(s * s).fill(-1);
  const areas: number[] = [];
  const visible: number[] = [];
  const placed: number[] = [];
  const want = o.minItems + rng.int(o.maxItems - o.minItems + 1);
  for (let k = 0; k < want; k++) {
    const j = rng.int(sprites.length);
    const sprite = placedSprite(sprites[j]!, o.minSide + rng.int(o.maxSide - o.minSide + 1), rng.next() < 0.5);
    const cells: number[] = [];
    for (let y = 0; y < sprite.height; y++)
      for (let x = 0; x < sprite.width; x++)
        if (sprite.data[(y * sprite.width + x) * 4 + 3]! > OBJECT_ALPHA) cells.push(y * s + x);
    if (cells.length === 0) continue;
    for (let attempt = 0; attempt < 100; attempt++) {
      const x = rng.int(s - sprite.width + 1),
        y = rng.int(s - sprite.height + 1);
      const hidden = new Array<number>(placed.length).fill(0);
      for (const c of cells) {
        const p = owner[c + y * s + x]!;
        if (p >= 0) hidden[p]! += 1;
      }
      if (hidden.some((h, p) => h > 0 && visible[p]! - h < (1 - o.maxOcclusion) * areas[p]!)) continue;
      compositeOver(pixels, s, sprite, x, y);
      hidden.forEach((h, p) => (visible[p]! -= h));
      for (const c of cells) owner[c + y * s + x] = placed.length;
      areas.push(cells.length);
      visible.push(cells.length);
      placed.push(j);
      break;
    }
  }
  const mask = new Uint8Array(s * s);
  for (let c = 0; c < owner.length; c++) if (owner[c]! >= 0) mask[c] = classOf[placed[owner[c]!]!]! + 1;
  const boxes: ColourCanvas['boxes'] = [];
  const classes: number[] = [];
  placed.forEach((j, p) => {
    const box = maskBox(owner, s, s, (v) => v === p);
    if (!box) return;
    boxes.push(box);
    classes.push(classOf[j]!);
  });
  return { pixels, mask, boxes, classes };
}

/** colour-scenes: multi-object colour canvases whose `scene` holds the hidden annotations. */
export async function generateColourScenes(options: ColourSceneOptions = {}): Promise<ImageDataset> {
  const r = ColourSceneOptions.parse(options);
  if (r.maxItems < r.minItems) throw new RangeError(`maxItems ${r.maxItems} < minItems ${r.minItems}`);
  if (r.maxSide < r.minSide) throw new RangeError(`maxSide ${r.maxSide} < minSide ${r.minSide}`);
  if (r.maxSide > r.size) throw new RangeError(`maxSide ${r.maxSide} does not fit a ${r.size}px canvas`);
  const o: SceneResolved = { ...r, count: r.count ?? (r.split === 'train' ? 20000 : 2000) };
  const { list, entries, sprites } = await loadSplit(o.stamps, o.split, o.maxSide);
  const classOf = entries.map((e) => e.category);
  const s = o.size,
    n = o.count,
    m = o.maxItems;
  const pixels = new Uint8Array(n * 3 * s * s);
  const masks = new Uint8Array(n * s * s);
  const boxes = new Int32Array(n * m * 4).fill(-1);
  const classes = new Int32Array(n * m).fill(-1);
  for (let i = 0; i < n; i++) {
    const c = makeColourCanvas(i, o, sprites, classOf);
    toBytes(c.pixels, pixels, i * 3 * s * s);
    masks.set(c.mask, i * s * s);
    c.boxes.forEach((b, k) => boxes.set(b, (i * m + k) * 4));
    c.classes.forEach((cl, k) => (classes[i * m + k] = cl));
  }
  const { count: _count, stamps: _stamps, ...rest } = o;
  return new ImageDataset(
    torch.tensor(pixels, { shape: [n, 3, s, s] }),
    null,
    list.categories,
    { name: `colour-scenes/${o.split}`, preprocessing: { ...rest, count: n, stamps: entries.length } },
    {
      boxes: torch.keep(torch.tensor(boxes, { shape: [n, m, 4] })),
      classes: torch.keep(torch.tensor(classes, { shape: [n, m] })),
      masks: torch.keep(torch.tensor(masks, { shape: [n, s, s] })),
      classNames: list.categories,
    },
  );
}

/** The cache file of a colour dataset: its kind, split and a hash of what decides its images. */
function cachePath(kind: string, split: string, options: object, source: StampSource, cacheDir: string): string {
  const names = listStamps(source).entries.map((e) => e.name);
  const key = createHash('sha256')
    .update(JSON.stringify({ options, generator: COLOUR_GENERATOR, names }))
    .digest('hex')
    .slice(0, 12);
  return join(cacheDir, `${kind}-${split}-${key}.safetensors`);
}

/** colour-objects, generated once and then read from the cache directory. */
export async function loadOrGenerateColourObjects(
  options: ColourObjectOptions,
  cacheDir: string,
): Promise<ImageDataset> {
  const o = ColourObjectOptions.parse(options);
  const path = cachePath('colour-objects', o.split, o, o.stamps, cacheDir);
  if (existsSync(path)) {
    const { tensors, metadata } = torch.safetensors.loadFile(path);
    if (metadata.format !== OBJECTS_FORMAT || !tensors.has('images') || !tensors.has('labels')) {
      for (const t of tensors.values()) t.dispose();
      throw new Error(`${path} is not a ${OBJECTS_FORMAT} file; delete it to generate the images again`);
    }
    const labelsTensor = tensors.get('labels')!;
    const labels = Int32Array.from(labelsTensor.toTypedArray() as Int32Array);
    labelsTensor.dispose();
    return new ImageDataset(tensors.get('images')!, labels, JSON.parse(metadata.classNames ?? '[]'), {
      name: metadata.name ?? `colour-objects/${o.split}`,
      preprocessing: JSON.parse(metadata.preprocessing ?? '{}'),
    });
  }
  const ds = await generateColourObjects(o);
  mkdirSync(cacheDir, { recursive: true });
  const labels = torch.tensor(ds.labels!);
  torch.safetensors.saveFile(
    path,
    { images: ds.pixels, labels },
    {
      format: OBJECTS_FORMAT,
      name: ds.info.name,
      preprocessing: JSON.stringify(ds.info.preprocessing),
      classNames: JSON.stringify(ds.classNames),
    },
  );
  labels.dispose();
  return ds;
}

/** colour-scenes, generated once and then read from the cache directory (a scenes file). */
export async function loadOrGenerateColourScenes(options: ColourSceneOptions, cacheDir: string): Promise<ImageDataset> {
  const o = ColourSceneOptions.parse(options);
  const path = cachePath('colour-scenes', o.split, o, o.stamps, cacheDir);
  if (existsSync(path)) return loadScenes(path);
  const ds = await generateColourScenes(o);
  mkdirSync(cacheDir, { recursive: true });
  saveScenes(path, ds);
  return ds;
}

export interface WrittenObjects {
  split: 'train' | 'test';
  folder: string;
  count: number;
  /** images per category */
  counts: Record<string, number>;
  preview: string;
}

/**
 * `selfguided data colour-objects`: both splits as image folders, one subfolder per category (read them with
 * --data DIR/train --labels-from-folders), and a preview of the first images of each split.
 */
export async function writeColourObjects(
  outDir: string,
  o: Omit<ColourObjectOptions, 'split'>,
  log: (msg: string) => void = () => {},
): Promise<WrittenObjects[]> {
  const written: WrittenObjects[] = [];
  for (const split of ['train', 'test'] as const) {
    log(`rendering the ${split} objects`);
    const ds = await generateColourObjects({ ...o, split });
    try {
      const folder = join(outDir, split);
      const counts: Record<string, number> = {};
      for (const [k, name] of ds.classNames!.entries()) {
        const rows = [...ds.labels!.keys()].filter((i) => ds.labels![i] === k);
        counts[name] = rows.length;
        if (rows.length === 0) continue;
        const images = ds.images(rows);
        await saveEach(images, join(folder, name), name);
        images.dispose();
      }
      const preview = join(outDir, `${split}-preview.png`);
      const first = ds.images(Array.from({ length: Math.min(64, ds.length) }, (_, i) => i));
      await saveGrid(first, preview, { nrow: 8, scale: 2 });
      first.dispose();
      written.push({ split, folder, count: ds.length, counts, preview });
    } finally {
      ds.dispose();
    }
  }
  return written;
}
