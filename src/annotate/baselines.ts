// What a user gets for free, the bar a self-annotation must clear: for boxes, the centre box and the box
// of the largest connected component of an Otsu threshold; for masks, the Otsu foreground, and the
// foreground's pixels clustered by colour. None of them learns anything; on black canvases the threshold
// finds every item, on textured ones it is what g and f have to beat.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { connectedComponents, type Box } from './components.js';
import { kmeansRows } from './kmeans.js';
import { tensorRows } from '../features/feature-rows.js';

/** Otsu's threshold of a 256-bin histogram: the level t that best splits it (foreground: value > t). */
export function otsuThreshold(hist: ArrayLike<number>): number {
  let total = 0,
    sum = 0;
  for (let v = 0; v < 256; v++) {
    total += hist[v]!;
    sum += v * hist[v]!;
  }
  let best = 0,
    bestVar = -1,
    wBack = 0,
    sumBack = 0;
  for (let t = 0; t < 255; t++) {
    wBack += hist[t]!;
    sumBack += t * hist[t]!;
    const wFore = total - wBack;
    if (wBack === 0 || wFore === 0) continue;
    const between = wBack * wFore * (sumBack / wBack - (sum - sumBack) / wFore) ** 2;
    if (between > bestVar) {
      bestVar = between;
      best = t;
    }
  }
  return best;
}

/** Grey levels [N, S*S] (the mean over channels) of uint8 images [N, C, S, S]. */
function greyLevels(pixels: Tensor): Uint8Array {
  return torch.tidy(() => pixels.float().mean([1]).round().to('uint8').toTypedArray() as Uint8Array);
}

/**
 * Each image's foreground by Otsu's threshold on its grey levels: the side of the threshold that covers
 * less of the image's border (objects rarely fill the border; the background does). [N * S * S] of 0/1.
 */
export function otsuForeground(pixels: Tensor): Uint8Array {
  const [n, , s] = pixels.shape as [number, number, number];
  const grey = greyLevels(pixels);
  const fg = new Uint8Array(n * s * s);
  const hist = new Array<number>(256);
  for (let i = 0; i < n; i++) {
    const img = grey.subarray(i * s * s, (i + 1) * s * s);
    hist.fill(0);
    for (const v of img) hist[v]!++;
    const t = otsuThreshold(hist);
    let border = 0,
      brightBorder = 0;
    for (let p = 0; p < s * s; p++) {
      const y = Math.floor(p / s),
        x = p % s;
      if (x === 0 || y === 0 || x === s - 1 || y === s - 1) {
        border++;
        if (img[p]! > t) brightBorder++;
      }
    }
    const bright = brightBorder <= border / 2;
    for (let p = 0; p < s * s; p++) fg[i * s * s + p] = img[p]! > t === bright ? 1 : 0;
  }
  return fg;
}

/** The centre box of an s x s image: centred, half its area (side s / sqrt 2). */
export function centreBox(s: number): Box {
  const side = Math.round(s / Math.SQRT2);
  const a = Math.floor((s - side) / 2);
  return [a, a, a + side, a + side];
}

/** The box of each image's largest 4-connected foreground component, or null where there is none. */
export function largestComponentBoxes(fg: Uint8Array, n: number, s: number): (Box | null)[] {
  return Array.from({ length: n }, (_, i) => {
    const parts = connectedComponents(fg.subarray(i * s * s, (i + 1) * s * s), s);
    if (!parts.length) return null;
    return parts.reduce((a, b) => (b.pixels > a.pixels ? b : a)).box;
  });
}

/**
 * Segments from pixels alone: 0 where the Otsu foreground is off, and 1..K-1 for its pixels by k-means on
 * their colours (fitted on at most 100,000 of them, seeded; every pixel assigned). [N * S * S].
 */
export function colourSegments(pixels: Tensor, fg: Uint8Array, K: number, seed = 0): Int32Array {
  const [n, c, s] = pixels.shape as [number, number, number];
  const seg = new Int32Array(n * s * s);
  const where: number[] = [];
  fg.forEach((v, i) => v && where.push(i));
  if (K < 2 || where.length < K - 1) return seg;
  const colours = torch.tidy(() => {
    const hwc = pixels.permute(0, 2, 3, 1).reshape(n * s * s, c);
    return hwc.indexSelect(0, torch.tensor(Int32Array.from(where)).long()).float();
  });
  try {
    const r = kmeansRows(tensorRows(colours), {
      k: K - 1,
      metric: 'euclidean',
      restarts: 3,
      seed,
      fitSample: 100_000,
    });
    r.centroids.dispose();
    where.forEach((p, j) => (seg[p] = r.assignments[j]! + 1));
  } finally {
    colours.dispose();
  }
  return seg;
}
