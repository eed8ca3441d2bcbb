// The colour objects of the colour datasets: Tux Paint's stamps (Debian's tuxpaint-stamps-default), cut-out
// photographs and drawings with transparency, sorted by the package into folders (animals, food, town,
// vehicles, ...). Chosen over openclipart-png because every stamp is one object on a transparent ground
// (the alpha gives exact masks), where openclipart's folders mix signs, icons on opaque tiles and cartoons
// of scenes. Each top-level folder is a category; a stamp is a PNG or SVG file (a stem with both keeps the
// PNG, the package's own raster). The counts are the package's, unbalanced, and kept.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { alphaBox, spriteFromRgba, type Sprite } from './rgba.js';

export const STAMPS_DIR = '/usr/share/tuxpaint/stamps';
export const STAMPS_PACKAGE = 'apt-get install -y tuxpaint-stamps-default';

export interface StampSource {
  /** the stamps' root; its first-level folders are the categories */
  dir?: string;
  /** categories with fewer stamps are left out (a class of five teaches nothing) */
  minPerCategory?: number;
  /** folders left out by name */
  exclude?: string[];
}

/**
 * The package's defaults: folders of at least 30 stamps, without `symbols` (letters, digits, coins, flags
 * and shapes: flat signs, not objects one would find on a table or in a street).
 */
export const DEFAULT_STAMPS: Required<StampSource> = { dir: STAMPS_DIR, minPerCategory: 30, exclude: ['symbols'] };

export interface StampEntry {
  /** file path */
  path: string;
  /** index into the categories */
  category: number;
  /** path relative to the root, without extension: the stamp's name */
  name: string;
}

export interface StampList {
  categories: string[];
  entries: StampEntry[];
}

const KINDS = ['.png', '.svg'];

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (KINDS.includes(extname(name).toLowerCase())) out.push(p);
  }
  return out;
}

/** The stamps under the root by category, in a fixed order (sorted names). */
export function listStamps(source: StampSource = {}): StampList {
  const o = { ...DEFAULT_STAMPS, ...source };
  if (!existsSync(o.dir))
    throw new Error(
      `the colour objects come from Tux Paint's stamps, and ${o.dir} is missing; install them with: ${STAMPS_PACKAGE}`,
    );
  const byCategory: { name: string; stamps: StampEntry[] }[] = [];
  for (const folder of readdirSync(o.dir).sort()) {
    const path = join(o.dir, folder);
    if (!statSync(path).isDirectory() || o.exclude.includes(folder)) continue;
    const stems = new Map<string, string>();
    for (const file of walk(path)) {
      const stem = relative(o.dir, file).slice(0, -extname(file).length);
      const known = stems.get(stem);
      if (!known || extname(file).toLowerCase() === '.png') stems.set(stem, file);
    }
    if (stems.size < o.minPerCategory) continue;
    byCategory.push({
      name: folder,
      stamps: [...stems.entries()]
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([name, p]) => ({ path: p, name, category: 0 })),
    });
  }
  if (byCategory.length < 2)
    throw new Error(
      `${o.dir} has ${byCategory.length} folder(s) with at least ${o.minPerCategory} stamps; the colour data needs two categories or more`,
    );
  return {
    categories: byCategory.map((c) => c.name),
    entries: byCategory.flatMap((c, k) => c.stamps.map((s) => ({ ...s, category: k }))),
  };
}

/**
 * Held-out objects: every fifth stamp of each category (by name) is a test object, the rest train. Split by
 * object, never by rendering, so that no test image shows a stamp the models trained on.
 */
export function stampSplit(list: StampList, split: 'train' | 'test'): StampEntry[] {
  const seen = new Map<number, number>();
  return list.entries.filter((e) => {
    const k = seen.get(e.category) ?? 0;
    seen.set(e.category, k + 1);
    return (k % 5 === 4) === (split === 'test');
  });
}

/** An alpha above this is the object (its mask, its tight crop). */
export const OBJECT_ALPHA = 0.5;

/**
 * Each stamp decoded, cropped to its object (alpha above a small floor) and fitted so that its longer side
 * is `side` pixels (sharp's resize, premultiplied). An unreadable stamp is an error naming it: the package
 * is the whole dataset, and a silently shorter class would change the counts.
 */
export async function loadStampSprites(entries: StampEntry[], side: number): Promise<Sprite[]> {
  const { default: sharp } = await import('sharp');
  const out: Sprite[] = [];
  for (const e of entries) {
    try {
      // An SVG is drawn at the density that makes its longer side 4x the target (at least 128 px) before the
      // fit: a fixed high density drew some of the package's large drawings at 4,000 px, seconds each.
      let img = sharp(e.path);
      if (e.path.toLowerCase().endsWith('.svg')) {
        const { width = side, height = side, density = 72 } = await img.metadata();
        const target = Math.max(128, 4 * side);
        img = sharp(e.path, { density: Math.min(2400, Math.max(1, (density * target) / Math.max(width, height))) });
      }
      const { data, info } = await img.ensureAlpha().raw().toBuffer({ resolveWithObject: true });
      const full = spriteFromRgba(data, info.width, info.height);
      const box = alphaBox(full, 0.05);
      if (!box) throw new Error('it is transparent everywhere');
      const w = box[2] - box[0],
        h = box[3] - box[1];
      const scale = side / Math.max(w, h);
      const fitted = await sharp(data, { raw: { width: info.width, height: info.height, channels: 4 } })
        .extract({ left: box[0], top: box[1], width: w, height: h })
        .resize(Math.max(1, Math.round(w * scale)), Math.max(1, Math.round(h * scale)), { kernel: 'lanczos3' })
        .raw()
        .toBuffer({ resolveWithObject: true });
      out.push(spriteFromRgba(fitted.data, fitted.info.width, fitted.info.height));
    } catch (err) {
      throw new Error(`stamp ${e.path} could not be read: ${(err as Error).message}`);
    }
  }
  return out;
}
