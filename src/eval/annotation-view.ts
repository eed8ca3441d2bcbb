// A look at a condition file for people: how many images carry each self-label, how well the labels,
// boxes and masks agree with hidden annotations when the dataset has them, and pictures of each
// self-label's images with its boxes or segments drawn over them. `selfguided inspect` writes it and the
// web app's self-annotation pages show it.
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageDataset } from '../data/dataset.js';
import { overlay } from '../data/overlay.js';
import { saveGrid } from '../data/png.js';
import { sceneBoxes } from '../data/scene-annotations.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { writeFileAtomic } from '../util/files.js';
import { hostRng } from '../util/streams.js';
import { clusterQuality, linearSumAssignment, type ClusterQuality } from './cluster-metrics.js';
import { borderSegment } from './layout-following.js';
import { maskQuality } from './segmentation.js';

export const VIEW_FORMAT = 'selfguided-annotation-view/1';

export interface SetAgreement {
  /** images whose set of ids, mapped to classes, is exactly their set of hidden classes */
  exactSet: number;
  /** mean Jaccard index of the mapped id set and the hidden class set */
  jaccard: number;
  /** id -> the class it was matched to (Hungarian on co-occurrence), or -1 */
  matching: number[];
}

export interface AnnotationView {
  format: typeof VIEW_FORMAT;
  /** the condition file, its size and modification time when the view was made (a changed file is stale) */
  source: { path: string; bytes: number; mtimeMs: number };
  kind: string;
  meta: Record<string, string>;
  images: number;
  /** the dataset the pictures and hidden annotations came from, or null (statistics only) */
  dataset: string | null;
  /** self-labels: how many images carry each id (for n-hot conditions an image counts for each id it has) */
  ids: { count: number; sizes: number[]; multiLabel: boolean } | null;
  /** self-masks: the share of all pixels in each segment, and the segment taken as background */
  segments: { count: number; share: number[]; background: number } | null;
  /** self-boxes: the mean share of the canvas inside boxes */
  boxes: { coverage: number } | null;
  /** continuous vectors (no ids): their width */
  vectorDim: number | null;
  /** agreement with the hidden annotations (only what this dataset has) */
  quality: {
    labels?: ClusterQuality;
    /** what `labels` compares with: each image's label, or the class of its largest hidden object */
    labelsOf?: 'image' | 'main object';
    labelSets?: SetAgreement;
    masks?: { mIoU: number; foregroundIoU: number; pixelAccuracy: number; matching: number[] };
    boxes?: { iou: number };
  };
  /** pictures, relative to the view's folder: one per id (its images, annotations drawn), and an overview */
  pictures: { id: number | null; file: string; members: number }[];
}

export interface ViewOptions {
  /** images per self-label picture */
  perId?: number;
  /** images in the overview */
  overview?: number;
  seed?: number;
}

interface Loaded {
  ids: Int32Array | null;
  k: number | null;
  /** [N, D] float vectors */
  vectors: Float32Array | null;
  vectorDim: number;
  /** [N, S, S] box union maps (0/1) */
  boxMaps: Uint8Array | null;
  segments: Uint8Array | null;
  segmentCount: number;
  size: number;
  n: number;
}

function readFile(path: string): { loaded: Loaded; meta: Record<string, string> } {
  const { tensors, metadata } = torch.safetensors.loadFile(path);
  try {
    const get = (name: string) => tensors.get(name) ?? null;
    const assignments = get('assignments');
    const vectors = get('vectors');
    const maps = get('maps');
    const segments = get('segments');
    const rows = [assignments, vectors, maps, segments].filter((t): t is Tensor => t !== null);
    if (!rows.length)
      throw new Error(`${path} is not a condition file: it has none of assignments, vectors, maps, segments`);
    const n = rows[0]!.shape[0]!;
    for (const t of rows)
      if (t.shape[0] !== n) throw new Error(`${path}: its tensors disagree on the number of images`);
    const k = metadata.k !== undefined ? Number(metadata.k) : null;
    const flat = (t: Tensor, dtype: 'int32' | 'float32' | 'uint8') => {
      const c = torch.tidy(() => t.to(dtype).contiguous());
      const out = c.toTypedArray();
      c.dispose();
      return out;
    };
    if (maps && maps.shape[1] !== 1)
      throw new Error(`${path}: maps with ${maps.shape[1]} channels; this view reads box maps (1 channel)`);
    return {
      meta: metadata,
      loaded: {
        ids: assignments ? (flat(assignments, 'int32') as Int32Array) : null,
        k: k !== null && Number.isInteger(k) && k > 0 ? k : null,
        vectors: vectors ? (flat(vectors, 'float32') as Float32Array) : null,
        vectorDim: vectors ? vectors.shape[1]! : 0,
        boxMaps: maps
          ? (flat(
              torch.tidy(() => maps.gt(0.5)),
              'uint8',
            ) as Uint8Array)
          : null,
        segments: segments ? (flat(segments, 'uint8') as Uint8Array) : null,
        segmentCount: Number(metadata.segmentCount ?? 0),
        size: (maps ?? segments)?.shape.at(-1) ?? 0,
        n,
      },
    };
  } finally {
    for (const t of tensors.values()) t.dispose();
  }
}

/** Which ids each image carries: its cluster id, or the ids its n-hot vector sets; null for continuous vectors. */
function idSets(l: Loaded): { sets: number[][]; count: number; multiLabel: boolean } | null {
  if (l.ids) {
    const count = l.k ?? Math.max(-1, ...l.ids) + 1;
    return { sets: Array.from(l.ids, (c) => [c]), count, multiLabel: false };
  }
  const v = l.vectors;
  if (!v || !v.every((x) => x === 0 || x === 1)) return null;
  const d = l.vectorDim;
  const sets = Array.from({ length: l.n }, (_, i) => {
    const s: number[] = [];
    for (let c = 0; c < d; c++) if (v[i * d + c] === 1) s.push(c);
    return s;
  });
  return { sets, count: d, multiLabel: sets.some((s) => s.length !== 1) };
}

/**
 * Agreement of id sets with hidden class sets: ids matched one-to-one to classes by co-occurrence
 * (Hungarian), then per image the mapped set against the true set.
 */
export function labelSetAgreement(sets: number[][], truth: number[][], k: number, C: number): SetAgreement {
  const co = Array.from({ length: k }, () => new Array<number>(C).fill(0));
  sets.forEach((s, i) => {
    for (const a of s) for (const c of truth[i]!) co[a]![c]!++;
  });
  const max = Math.max(1, ...co.flat());
  const matching = linearSumAssignment(co.map((r) => r.map((x) => max - x)));
  let exact = 0,
    jaccard = 0;
  sets.forEach((s, i) => {
    const mapped = new Set(s.map((a) => matching[a]!).filter((c) => c >= 0));
    const want = new Set(truth[i]);
    const inter = [...mapped].filter((c) => want.has(c)).length;
    const union = new Set([...mapped, ...want]).size;
    jaccard += union === 0 ? 1 : inter / union;
    if (inter === want.size && mapped.size === want.size && s.length === want.size) exact++;
  });
  return { exactSet: exact / sets.length, jaccard: jaccard / sets.length, matching };
}

/** The class of each image's largest hidden box (what a single self-label per image is compared against). */
function mainClasses(sc: NonNullable<ImageDataset['scene']>): Int32Array {
  const boxes = sceneBoxes(sc);
  const [, m] = sc.classes.shape as [number, number];
  const cls = sc.classes.to('int32').toTypedArray() as Int32Array;
  return Int32Array.from(boxes, (list, i) => {
    let best = 0;
    list.forEach(([x0, y0, x1, y1], j) => {
      const [bx0, by0, bx1, by1] = list[best]!;
      if ((x1! - x0!) * (y1! - y0!) > (bx1! - bx0!) * (by1! - by0!)) best = j;
    });
    return list.length ? cls[i * m + best]! : -1;
  });
}

function hiddenQuality(l: Loaded, ids: ReturnType<typeof idSets>, ds: ImageDataset): AnnotationView['quality'] {
  const q: AnnotationView['quality'] = {};
  const sc = ds.scene;
  if (ids && !ids.multiLabel) {
    const truth = sc ? mainClasses(sc) : ds.labels;
    if (truth) {
      const rows = [...truth.keys()].filter((i) => truth[i]! >= 0);
      q.labels = clusterQuality(
        rows.map((i) => ids.sets[i]![0]!),
        rows.map((i) => truth[i]!),
      );
      q.labelsOf = sc ? 'main object' : 'image';
    }
  }
  if (!sc) return q;
  const S = ds.size;
  const truthMasks = sc.masks.toTypedArray() as Uint8Array;
  // Segment presence vectors count the background as a segment: those are judged by the masks instead.
  if (ids?.multiLabel && !l.segments) {
    const [, m] = sc.classes.shape as [number, number];
    const cls = sc.classes.to('int32').toTypedArray() as Int32Array;
    const truth = Array.from({ length: l.n }, (_, i) => [
      ...new Set(Array.from(cls.subarray(i * m, (i + 1) * m)).filter((c) => c >= 0)),
    ]);
    q.labelSets = labelSetAgreement(ids.sets, truth, ids.count, sc.classNames.length);
  }
  if (l.segments) {
    const r = maskQuality(l.segments, truthMasks, l.segmentCount, sc.classNames.length + 1);
    q.masks = { mIoU: r.mIoU, foregroundIoU: r.foregroundIoU, pixelAccuracy: r.pixelAccuracy, matching: r.matching };
  }
  if (l.boxMaps) {
    // The box maps against the union of the hidden boxes: an image's boxes may be one or several.
    const truthBoxes = sceneBoxes(sc);
    let inter = 0,
      union = 0;
    for (let i = 0; i < l.n; i++) {
      const want = new Uint8Array(S * S);
      for (const [x0, y0, x1, y1] of truthBoxes[i]!)
        for (let y = y0!; y < y1!; y++) want.fill(1, y * S + x0!, y * S + x1!);
      for (let p = 0; p < S * S; p++) {
        const a = l.boxMaps[i * S * S + p]!,
          b = want[p]!;
        inter += a & b;
        union += a | b;
      }
    }
    q.boxes = { iou: union ? inter / union : 1 };
  }
  return q;
}

/** The images at `rows` with the file's boxes or segments drawn over them (boxes tinted in each row's colour slot). */
function picture(ds: ImageDataset, l: Loaded, rows: number[], background: number, colours: number[]): Tensor {
  const S = l.size;
  const images = ds.images(rows);
  try {
    if (l.segments) {
      const m = new Uint8Array(rows.length * S * S);
      rows.forEach((r, j) => {
        for (let p = 0; p < S * S; p++) {
          const s = l.segments![r * S * S + p]!;
          m[j * S * S + p] = s === background ? 0 : s + 1;
        }
      });
      const masks = torch.tensor(m, { shape: [rows.length, S, S] });
      const out = overlay(images, { masks });
      masks.dispose();
      return out;
    }
    if (l.boxMaps) {
      const m = new Uint8Array(rows.length * S * S);
      rows.forEach((r, j) => {
        for (let p = 0; p < S * S; p++) m[j * S * S + p] = l.boxMaps![r * S * S + p]! * (colours[j]! + 1);
      });
      const masks = torch.tensor(m, { shape: [rows.length, S, S] });
      const out = overlay(images, { masks, alpha: 0.35 });
      masks.dispose();
      return out;
    }
    return images.alias();
  } finally {
    images.dispose();
  }
}

/**
 * Reads a condition file and writes `view.json` and its pictures into outDir. Without a dataset (or one of
 * another size) only the statistics are written.
 */
export async function writeAnnotationView(
  file: string,
  ds: ImageDataset | null,
  outDir: string,
  o: ViewOptions = {},
): Promise<AnnotationView> {
  const st = statSync(file);
  const { loaded: l, meta } = readFile(file);
  if (ds && ds.length !== l.n)
    throw new Error(
      `${file} annotates ${l.n} images but the dataset ${ds.info.name} has ${ds.length}; was it made for another dataset? (its metadata says dataset=${meta.dataset ?? 'unknown'})`,
    );
  if (ds && l.size && ds.size !== l.size)
    throw new Error(`${file} has ${l.size}px maps but the dataset's images are ${ds.size}px`);
  const ids = idSets(l);
  let background = -1;
  let segments: AnnotationView['segments'] = null;
  if (l.segments) {
    const K = l.segmentCount || Math.max(...l.segments) + 1;
    l.segmentCount = K;
    const counts = new Array<number>(K).fill(0);
    for (const s of l.segments) counts[s]!++;
    background = borderSegment(l.segments, l.n, l.size, K);
    segments = { count: K, share: counts.map((c) => c / l.segments!.length), background };
  }
  let boxes: AnnotationView['boxes'] = null;
  if (l.boxMaps) {
    let on = 0;
    for (const v of l.boxMaps) on += v;
    boxes = { coverage: on / l.boxMaps.length };
  }
  const sizes = ids ? new Array<number>(ids.count).fill(0) : [];
  ids?.sets.forEach((s) => s.forEach((c) => sizes[c]!++));
  const view: AnnotationView = {
    format: VIEW_FORMAT,
    source: { path: file, bytes: st.size, mtimeMs: st.mtimeMs },
    kind: meta.kind ?? 'unknown',
    meta,
    images: l.n,
    dataset: ds?.info.name ?? null,
    ids: ids ? { count: ids.count, sizes, multiLabel: ids.multiLabel } : null,
    segments,
    boxes,
    vectorDim: ids ? null : l.vectorDim || null,
    quality: ds ? hiddenQuality(l, ids, ds) : {},
    pictures: [],
  };
  mkdirSync(outDir, { recursive: true });
  if (ds) {
    const per = o.perId ?? 12;
    const rng = hostRng(o.seed ?? 0, 'annotation-view.examples');
    const save = async (rows: number[], colours: number[], name: string) => {
      const pic = picture(ds, l, rows, background, colours);
      try {
        await saveGrid(pic, join(outDir, name), { nrow: Math.min(rows.length, 12), scale: 2 });
      } finally {
        pic.dispose();
      }
    };
    const first = Array.from({ length: Math.min(o.overview ?? 24, l.n) }, (_, i) => i);
    // Boxes in the overview take their image's self-label colour when it has one.
    await save(
      first,
      first.map((i) => (ids && !ids.multiLabel ? ids.sets[i]![0]! : 0)),
      'overview.png',
    );
    view.pictures.push({ id: null, file: 'overview.png', members: l.n });
    if (ids) {
      const members: number[][] = Array.from({ length: ids.count }, () => []);
      ids.sets.forEach((s, i) => s.forEach((c) => members[c]!.push(i)));
      for (let c = 0; c < ids.count; c++) {
        const m = members[c]!;
        if (!m.length) continue;
        const perm = rng.permutation(m.length);
        const rows = Array.from({ length: Math.min(per, m.length) }, (_, j) => m[perm[j]!]!);
        const name = `id-${String(c).padStart(3, '0')}.png`;
        await save(
          rows,
          rows.map(() => c),
          name,
        );
        view.pictures.push({ id: c, file: name, members: m.length });
      }
    }
  }
  // Written last: its presence says the pictures are complete.
  writeFileAtomic(join(outDir, 'view.json'), `${JSON.stringify(view, null, 2)}\n`);
  return view;
}
