// Self-masks by patch k-means, the training-free pixel-level f: spherical k-means over the patch features
// of the whole dataset (STEGO's cluster probe without its head), every patch to its nearest centroid,
// upsampled to pixels. The condition: K one-hot segment channels (kept compact as ids) and the n-hot
// vector of the segments present.
import type { Features } from '../features/features-file.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { hostRng } from '../util/streams.js';
import type { Annotations } from './annotations.js';
import { kmeans } from './kmeans.js';

export interface PatchMaskOptions {
  /** number of segments */
  K: number;
  /** image size in pixels (the masks' size) */
  imageSize: number;
  restarts?: number;
  seed?: number;
  /** fit k-means on at most this many patches (a seeded random subset); every patch is assigned */
  fitPatches?: number;
  /** 'bilinear': upsample each segment's cosine score map and take the best per pixel (smoother edges); 'nearest': repeat each patch's id */
  upsample?: 'bilinear' | 'nearest';
  batchSize?: number;
}

/**
 * Segment ids [N, S, S] from patch features [N, h, w, D] and centroids [K, D] (cosine scores,
 * upsampled as asked).
 */
export function assignPatchSegments(
  patches: Tensor,
  centroids: Tensor,
  imageSize: number,
  upsample: 'bilinear' | 'nearest' = 'bilinear',
): Tensor {
  return torch.tidy(() => {
    const [n, h, w, d] = patches.shape as [number, number, number, number];
    const f = torch.normalize(patches.reshape(n * h * w, d).float(), 2, 1);
    const c = torch.normalize(centroids.float(), 2, 1);
    const scores = f.matmul(c.t()).reshape(n, h, w, c.shape[0]!).permute(0, 3, 1, 2);
    const up = torch.interpolate(scores.contiguous(), { size: [imageSize, imageSize], mode: upsample });
    return up.argmax(1).to('uint8');
  });
}

/** Self-masks of a features file with patches: segments, n-hot presence vectors, provenance. */
export function patchKMeansMasks(
  featuresPath: string,
  feats: Features,
  o: PatchMaskOptions,
): { annotations: Annotations; centroids: Tensor } {
  const patches = feats.patches;
  if (!patches)
    throw new Error(`${featuresPath} has no patch features; extract them with selfguided features --patches`);
  if (o.K > 255) throw new RangeError(`at most 255 segments, got ${o.K}`);
  const [n, h, w, d] = patches.shape as [number, number, number, number];
  const total = n * h * w;
  const fit = Math.min(total, o.fitPatches ?? 100000);
  const seed = o.seed ?? 0;
  const rows = hostRng(seed, 'masks.fit-patches').permutation(total).slice(0, fit);
  const sample = torch.tidy(() => patches.reshape(total, d).indexSelect(0, torch.tensor(Int32Array.from(rows)).long()));
  const km = kmeans(sample, { k: o.K, metric: 'cosine', restarts: o.restarts ?? 3, seed });
  sample.dispose();
  const S = o.imageSize;
  const bs = o.batchSize ?? 256;
  const segments = new Uint8Array(n * S * S);
  const nhot = new Float32Array(n * o.K);
  for (let s = 0; s < n; s += bs) {
    const len = Math.min(bs, n - s);
    const ids = assignPatchSegments(patches.narrow(0, s, len), km.centroids, S, o.upsample ?? 'bilinear');
    const arr = ids.toTypedArray() as Uint8Array;
    ids.dispose();
    segments.set(arr, s * S * S);
    for (let i = 0; i < len; i++) for (let p = 0; p < S * S; p++) nhot[(s + i) * o.K + arr[i * S * S + p]!] = 1;
  }
  const prov = feats.provenance;
  const annotations: Annotations = {
    assignments: null,
    k: o.K,
    centroids: km.centroids,
    vectors: torch.keep(torch.tensor(nhot, { shape: [n, o.K] })),
    maps: null,
    kind: 'masks',
    meta: {
      method: `patch k-means (cosine, K = ${o.K}, fit on ${fit} patches, ${o.restarts ?? 3} restarts, seed ${seed}), ${o.upsample ?? 'bilinear'} upsampling`,
      metric: 'cosine',
      features: featuresPath,
      extractor: prov.extractor,
      extractorConfig: prov.config,
      dataset: prov.dataset,
      segmentCount: String(o.K),
      ...(prov.dataSpec ? { dataSpec: prov.dataSpec } : {}),
    },
  };
  const segTensor = torch.keep(torch.tensor(segments, { shape: [n, S, S] }));
  return { annotations: { ...annotations, segments: segTensor }, centroids: km.centroids };
}
