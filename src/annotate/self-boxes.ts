// Self-boxes, the box-level self-annotation f: LOST boxes from g's patch features, each box with a
// self-label (k-means of the features pooled inside it), as the condition file the paper's box guidance
// uses: a binary box channel [N, 1, H, W] beside the one-hot self-label of the box.
import type { Features } from '../features/features-file.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Annotations } from './annotations.js';
import { kmeans, type KMeansMetric } from './kmeans.js';
import { lostBoxes, lostNormalizeFor, type LostBox, type LostOptions } from './lost.js';

export interface SelfBoxOptions {
  /** LOST's settings (its k is the expansion set, not the number of clusters) */
  lost?: LostOptions;
  /** image size in pixels (the box channel's size) */
  imageSize: number;
  /** number of box self-label clusters (100 in the paper) */
  k: number;
  /** 'main': LOST's one box per image (the paper); 'all': every object found, as an n-hot label and a union channel */
  objects?: 'main' | 'all';
  /**
   * false: no box channel, only the image-level label (with objects 'all': the paper's multi-object n-hot
   * self-labels); default true
   */
  channel?: boolean;
  metric?: KMeansMetric;
  restarts?: number;
  seed?: number;
  /** images per LOST batch (its correlation matrices are hw x hw each) */
  batchSize?: number;
}

export interface SelfBoxes {
  annotations: Annotations;
  /** every image's boxes (the first is the main one) */
  boxes: LostBox[][];
  /** the self-label of each box, in the order of `boxes` */
  boxLabels: number[][];
}

/** Mean patch feature inside each box: [boxes, D]. */
function pooled(patches: Tensor, boxes: LostBox[][]): Tensor {
  return torch.tidy(() => {
    const rows: Tensor[] = [];
    boxes.forEach((list, i) => {
      const img = patches.select(0, i);
      for (const b of list) {
        const [x0, y0, x1, y1] = b.patchBox;
        rows.push(
          img
            .narrow(0, y0, y1 - y0)
            .narrow(1, x0, x1 - x0)
            .mean([0, 1]),
        );
      }
    });
    return torch.stack(rows, 0);
  });
}

/**
 * Self-boxes of a features file with patches [N, h, w, D]: LOST per image, k-means over the features
 * pooled inside the boxes, and the condition (box channel + one-hot, or union channel + n-hot).
 */
export function selfBoxes(featuresPath: string, feats: Features, o: SelfBoxOptions): SelfBoxes {
  const patches = feats.patches;
  if (!patches)
    throw new Error(`${featuresPath} has no patch features; extract them with selfguided features --patches`);
  const n = patches.shape[0]!;
  const bs = o.batchSize ?? 256;
  const objects = o.objects ?? 'main';
  const lost: LostOptions = {
    ...o.lost,
    normalize: o.lost?.normalize ?? lostNormalizeFor(feats.provenance),
    maxObjects: objects === 'main' ? 1 : (o.lost?.maxObjects ?? 4),
  };
  const boxes: LostBox[][] = [];
  for (let s = 0; s < n; s += bs) {
    const chunk = patches.narrow(0, s, Math.min(bs, n - s));
    boxes.push(...lostBoxes(chunk, o.imageSize, lost));
    chunk.dispose();
  }
  const feat = pooled(patches, boxes);
  const km = kmeans(feat, { k: o.k, metric: o.metric ?? 'cosine', restarts: o.restarts ?? 3, seed: o.seed ?? 0 });
  feat.dispose();
  const boxLabels: number[][] = [];
  let at = 0;
  for (const list of boxes) {
    boxLabels.push(list.map(() => km.assignments[at++]!));
  }
  const S = o.imageSize;
  const maps = new Uint8Array(n * S * S);
  boxes.forEach((list, i) => {
    for (const { box } of objects === 'main' ? list.slice(0, 1) : list) {
      const [x0, y0, x1, y1] = box;
      for (let y = y0; y < y1; y++) maps.fill(1, i * S * S + y * S + x0, i * S * S + y * S + x1);
    }
  });
  const p = feats.provenance;
  const meta: Record<string, string> = {
    method: `LOST (expansion k = ${lost.k ?? 100}, ${lost.normalize} patch features${objects === 'all' ? `, up to ${lost.maxObjects} objects` : ''}) + k-means (${o.metric ?? 'cosine'}, k = ${o.k}) of the features pooled in each box`,
    metric: o.metric ?? 'cosine',
    features: featuresPath,
    extractor: p.extractor,
    extractorConfig: p.config,
    dataset: p.dataset,
    objects,
    // Image-level n-hot labels over boxes: no nearest-centroid judge of whole images applies to them.
    ...(o.channel === false ? { multiLabel: 'true' } : {}),
    lost: JSON.stringify({ k: lost.k ?? 100, normalize: lost.normalize, maxObjects: lost.maxObjects }),
    ...(p.dataSpec ? { dataSpec: p.dataSpec } : {}),
  };
  const mapsTensor = o.channel === false ? null : torch.keep(torch.tensor(maps, { shape: [n, 1, S, S] }));
  let annotations: Annotations;
  if (objects === 'main') {
    annotations = {
      assignments: Int32Array.from(boxLabels, (l) => l[0]!),
      k: o.k,
      centroids: km.centroids,
      vectors: null,
      maps: mapsTensor,
      kind: mapsTensor ? 'boxes' : 'onehot',
      meta,
    };
  } else {
    const nhot = new Float32Array(n * o.k);
    boxLabels.forEach((l, i) => l.forEach((c) => (nhot[i * o.k + c] = 1)));
    annotations = {
      assignments: null,
      k: o.k,
      centroids: km.centroids,
      vectors: torch.keep(torch.tensor(nhot, { shape: [n, o.k] })),
      maps: mapsTensor,
      kind: mapsTensor ? 'boxes' : 'feature',
      meta,
    };
  }
  return { annotations, boxes, boxLabels };
}
