// Do samples follow the layout they were asked for? Two readings, each with its chance level (the same
// samples scored against shuffled layouts) and, in evaluate(), the real canvases' score against their own
// layouts as the upper bound:
// (1) foreground: the sample's bright pixels against the requested box (IoU of their bounding boxes, and
//     the fraction of foreground inside) or the requested mask's foreground (IoU);
// (2) self-consistency, as the paper measures it: the same g and f run on the samples, compared with the
//     requested layout (box IoU of LOST's main box; per-segment IoU with the same centroids, no matching).
import { lostBoxes, boxIoU, type LostOptions } from '../annotate/lost.js';
import { assignPatchSegments } from '../annotate/self-masks.js';
import { loadStego, stegoSegments } from '../annotate/stego.js';
import type { FeatureExtractor } from '../features/extract.js';
import { loadFeatures } from '../features/features-file.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { maskBox } from '../data/scenes.js';
import { hostRng } from '../util/streams.js';
import { extractorFromProvenance } from './rebuild-extractor.js';

/** A sample pixel brighter than this (in [0, 1]) is foreground. */
export const FOREGROUND_THRESHOLD = 0.25;

export interface Layouts {
  kind: 'boxes' | 'masks';
  /** boxes: the requested box per image (the bounding box of its box channel) */
  boxes: ([number, number, number, number] | null)[];
  /** masks: segment ids [N * S * S] and the id taken as background */
  segments: Uint8Array | null;
  background: number;
  size: number;
}

/** The layouts behind spatial conditions [N, K, S, S]: a box channel (K = 1) or one-hot segments. */
export function layoutsOf(maps: Tensor, kind: 'boxes' | 'masks'): Layouts {
  const [n, k, s] = maps.shape as [number, number, number, number];
  if (kind === 'boxes') {
    const m = maps.select(1, 0).gt(0.5).to('uint8');
    const px = m.toTypedArray() as Uint8Array;
    m.dispose();
    return {
      kind,
      boxes: Array.from({ length: n }, (_, i) => tightBox(px.subarray(i * s * s, (i + 1) * s * s), s)),
      segments: null,
      background: 0,
      size: s,
    };
  }
  const ids = torch.tidy(() => maps.argmax(1).to('uint8'));
  const segments = ids.toTypedArray() as Uint8Array;
  ids.dispose();
  return { kind, boxes: [], segments, background: borderSegment(segments, n, s, k), size: s };
}

/** The segment id (of K) that covers the borders of n s x s segment maps most: taken as the background. */
export function borderSegment(segments: ArrayLike<number>, n: number, s: number, k: number): number {
  const border = new Array<number>(k).fill(0);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < s; j++)
      for (const p of [j, (s - 1) * s + j, j * s, j * s + s - 1]) border[segments[i * s * s + p]!]!++;
  return border.indexOf(Math.max(...border));
}

const tightBox = (mask: ArrayLike<number>, s: number) => maskBox(mask, s, s);

/** Foreground masks of images [N, C, H, W] in [-1, 1]: mean over channels above the threshold. */
export function foreground(images: Tensor, threshold = FOREGROUND_THRESHOLD): Uint8Array {
  return torch.tidy(() => {
    const m = images.mean([1]).add(1).div(2).gt(threshold).to('uint8');
    return m.toTypedArray() as Uint8Array;
  });
}

/** A permutation of 0..n-1 with no fixed point when n > 1 (the shuffled layouts of the chance level). */
export function derangement(n: number, seed: number): number[] {
  const rng = hostRng(seed, 'layout.shuffle');
  if (n < 2) return Array.from({ length: n }, (_, i) => i);
  for (;;) {
    const p = rng.permutation(n);
    if (p.every((v, i) => v !== i)) return Array.from(p);
  }
}

/**
 * The foreground reading for images against layouts, in the given order of layouts per image.
 * Boxes: mean IoU of the foreground's bounding box with the requested box, and mean fraction of the
 * foreground inside it. Masks: mean IoU of the foreground with the requested mask's non-background.
 */
export function foregroundScore(fg: Uint8Array, l: Layouts, order: number[]): { iou: number; inside: number | null } {
  const s = l.size,
    n = order.length;
  let iou = 0,
    inside = 0;
  for (let i = 0; i < n; i++) {
    const f = fg.subarray(i * s * s, (i + 1) * s * s);
    const j = order[i]!;
    if (l.kind === 'boxes') {
      const want = l.boxes[j];
      const got = tightBox(f, s);
      if (want && got) iou += boxIoU(got, want);
      let total = 0,
        inBox = 0;
      for (let y = 0; y < s; y++)
        for (let x = 0; x < s; x++)
          if (f[y * s + x]) {
            total++;
            if (want && x >= want[0] && x < want[2] && y >= want[1] && y < want[3]) inBox++;
          }
      inside += total ? inBox / total : 0;
    } else {
      const seg = l.segments!.subarray(j * s * s, (j + 1) * s * s);
      let inter = 0,
        union = 0;
      for (let p = 0; p < s * s; p++) {
        const a = f[p] === 1,
          b = seg[p] !== l.background;
        if (a && b) inter++;
        if (a || b) union++;
      }
      iou += union ? inter / union : 1;
    }
  }
  return { iou: iou / Math.max(1, n), inside: l.kind === 'boxes' ? inside / Math.max(1, n) : null };
}

/** Per-segment IoU of predicted against requested ids (same id space, no matching), over segments requested. */
export function segmentIoU(pred: Uint8Array, want: Uint8Array, K: number): number {
  const inter = new Array<number>(K).fill(0),
    union = new Array<number>(K).fill(0),
    present = new Array<boolean>(K).fill(false);
  for (let p = 0; p < want.length; p++) {
    const a = pred[p]!,
      b = want[p]!;
    present[b] = true;
    if (a === b) {
      inter[a]!++;
      union[a]!++;
    } else {
      union[a]!++;
      union[b]!++;
    }
  }
  const ious = inter.map((v, k) => (present[k] ? v / union[k]! : NaN)).filter((v) => !Number.isNaN(v));
  return ious.reduce((a, b) => a + b, 0) / Math.max(1, ious.length);
}

/** The g and f of a box or mask condition file, rebuilt from its metadata, to annotate new images. */
export class LayoutJudge {
  private constructor(
    private readonly g: FeatureExtractor,
    private readonly annotate: (
      patches: Tensor,
      size: number,
    ) => { boxes?: ([number, number, number, number] | null)[]; segments?: Uint8Array },
    private readonly release: () => void,
  ) {}

  /** From a condition file's metadata and path (centroids are read from the file for patch k-means). */
  static async fromConditionFile(path: string, meta: Record<string, string>): Promise<LayoutJudge> {
    if (!meta.features) throw new Error(`${path} records no features file: cannot rebuild g`);
    const feats = loadFeatures(meta.features);
    const prov = feats.provenance;
    feats.features.dispose();
    feats.patches?.dispose();
    const g = await extractorFromProvenance(prov);
    if (meta.kind === 'boxes') {
      const lost = JSON.parse(meta.lost ?? '{}') as LostOptions;
      return new LayoutJudge(
        g,
        (patches, size) => ({
          boxes: lostBoxes(patches, size, { ...lost, maxObjects: 1 }).map((l) => l[0]?.box ?? null),
        }),
        () => {},
      );
    }
    if (meta.stego) {
      const { model } = loadStego(meta.stego);
      return new LayoutJudge(
        g,
        (patches, size) => {
          const seg = stegoSegments(model, patches, size);
          const out = seg.toTypedArray() as Uint8Array;
          seg.dispose();
          return { segments: out };
        },
        () => model.dispose(),
      );
    }
    const { tensors } = torch.safetensors.loadFile(path);
    const centroids = tensors.get('centroids');
    for (const [name, t] of tensors) if (name !== 'centroids') t.dispose();
    if (!centroids) throw new Error(`${path} has no centroids to assign segments with`);
    return new LayoutJudge(
      g,
      (patches, size) => {
        const seg = assignPatchSegments(patches, centroids, size);
        const out = seg.toTypedArray() as Uint8Array;
        seg.dispose();
        return { segments: out };
      },
      () => centroids.dispose(),
    );
  }

  /** Self-consistency of images [N, C, S, S] with layouts (in `order`): box IoU, or segment IoU. */
  score(images: Tensor, l: Layouts, order: number[]): number {
    const s = l.size;
    let total = 0;
    for (let start = 0; start < order.length; start += 128) {
      const len = Math.min(128, order.length - start);
      const got = torch.noGrad(() =>
        torch.tidy(() => {
          const patches = this.g.embed(images.narrow(0, start, len)).patches;
          if (!patches) throw new Error('g gives no patch features');
          return this.annotate(patches, s);
        }),
      );
      for (let i = 0; i < len; i++) {
        const j = order[start + i]!;
        if (l.kind === 'boxes') {
          const a = got.boxes![i],
            b = l.boxes[j];
          total += a && b ? boxIoU(a, b) : 0;
        } else {
          total += segmentIoU(
            got.segments!.subarray(i * s * s, (i + 1) * s * s),
            l.segments!.subarray(j * s * s, (j + 1) * s * s),
            256,
          );
        }
      }
    }
    return total / Math.max(1, order.length);
  }

  dispose(): void {
    this.release();
    this.g.dispose?.();
  }
}

/**
 * Layouts moved by (dx, dy) pixels: spatial conditions [N, K, S, S] shifted with zero fill (what leaves
 * the canvas is lost). The shifted-box control samples with these: the samples must move with them.
 */
export function shiftMaps(maps: Tensor, dx: number, dy: number): Tensor {
  return torch.tidy(() => {
    const [, , h, w] = maps.shape as [number, number, number, number];
    if (Math.abs(dx) >= w || Math.abs(dy) >= h)
      throw new RangeError(`a shift of (${dx}, ${dy}) leaves the ${w}x${h} canvas`);
    // Pad on the side the content moves towards, then cut the canvas back out.
    const padded = torch.pad(maps, [Math.max(dx, 0), Math.max(-dx, 0), Math.max(dy, 0), Math.max(-dy, 0)]);
    return padded.narrow(3, Math.max(-dx, 0), w).narrow(2, Math.max(-dy, 0), h).contiguous();
  });
}

/**
 * Diversity of samples that share a layout: the mean pairwise Euclidean distance of their features
 * [G * per, D] within each group of `per`, averaged over the G groups.
 */
export function groupDiversity(features: Tensor, per: number): number {
  return torch.tidy(() => {
    const [n, d] = features.shape as [number, number];
    if (per < 2 || n % per !== 0) throw new RangeError(`${n} features do not split into groups of ${per} >= 2`);
    const g = features.reshape(n / per, per, d);
    const dist = torch.cdist(g, g);
    // Each group's off-diagonal mean: the diagonal is zero, so divide the sum by per * (per - 1).
    return dist
      .sum([1, 2])
      .div(per * (per - 1))
      .mean()
      .item();
  });
}
