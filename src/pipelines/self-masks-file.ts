// Self-masks of a features file with patches (what `selfguided masks` runs): patch k-means or STEGO
// segments, Hungarian-matched mIoU and foreground IoU against the hidden masks when the dataset has them,
// and the segments over the first images, through annotateFile's skeleton.
import type { Annotations } from '../annotate/annotations.js';
import { patchKMeansMasks, type PatchMaskOptions } from '../annotate/self-masks.js';
import { loadStego, stegoSegments } from '../annotate/stego.js';
import type { ImageDataset } from '../data/dataset.js';
import { extractorFromProvenance } from '../eval/rebuild-extractor.js';
import type { FeatureExtractor } from '../features/extract.js';
import { overlay } from '../data/overlay.js';
import { saveGrid } from '../data/png.js';
import { maskBaselineLines, maskBaselines } from './annotation-baselines.js';
import {
  annotateFile,
  firstImages,
  type AnnotateFileOptions,
  type AnnotateFileResult,
  type AnnotationMethod,
} from './annotate-file.js';
import { maskQuality } from '../eval/segmentation.js';
import type { Features } from '../features/features-file.js';
import * as torch from '../torch/index.js';

export interface SelfMasksFileOptions extends Omit<PatchMaskOptions, 'imageSize'>, AnnotateFileOptions {
  /** a trained STEGO run: its head and cluster probe make the segments (K is the probe's) */
  stego?: string;
}

function selfMasksMethod(o: SelfMasksFileOptions): AnnotationMethod<null> {
  const name = o.stego ? 'stego' : 'masks';
  return {
    patches: true,
    async annotate({ path, feats, ds, imageSize, log }) {
      const size = imageSize!;
      const t0 = performance.now();
      const annotations = o.stego
        ? await stegoMasks(path, feats, o.stego, size, ds, log)
        : patchKMeansMasks(path, feats, { ...o, imageSize: size }).annotations;
      const K = annotations.k!;
      const seconds = (performance.now() - t0) / 1000;
      log(
        `${o.stego ? 'STEGO' : 'patch k-means'} masks (K = ${K}) of ${feats.features.shape[0]} images in ${seconds.toFixed(1)} s`,
      );
      return { annotations, result: null, report: { K, method: o.stego ? 'stego' : 'patch-kmeans', seconds } };
    },
    defaultOut: (path, a) => path.replace(/\.safetensors$/, '') + `-${name}-K${a.annotations.k}.safetensors`,
    judge(ds, { annotations }) {
      if (!ds.scene) return null;
      const q = maskQuality(
        annotations.segments!.toTypedArray() as Uint8Array,
        ds.scene.masks.toTypedArray() as Uint8Array,
        annotations.k!,
        ds.scene.classNames.length + 1,
      );
      const free = maskBaselines(ds, { K: annotations.k!, seed: o.seed ?? 0 });
      return {
        report: { quality: q, baselines: free },
        line: [
          `against the hidden masks (Hungarian-matched): mIoU ${q.mIoU.toFixed(4)}  foreground IoU ${q.foregroundIoU.toFixed(4)}  pixel accuracy ${q.pixelAccuracy.toFixed(4)}`,
          ...maskBaselineLines(free).map((l) => `free ${l}`),
        ].join('\n'),
      };
    },
    async picture(ds, { annotations }, png) {
      const first = firstImages(ds);
      const masks = torch.tidy(() => annotations.segments!.narrow(0, 0, first.length).add(1));
      const pic = overlay(ds.images(first), { masks, zeroIsBackground: false });
      await saveGrid(pic, png, { nrow: 8, scale: 2 });
      for (const t of [pic, masks]) t.dispose();
      return `segments over the first images: ${png}`;
    },
  };
}

/** Self-masks of a features file with patches (patch k-means, or a trained STEGO head) as a condition file. */
export function selfMasksFile(path: string, o: SelfMasksFileOptions): Promise<AnnotateFileResult> {
  return annotateFile(path, selfMasksMethod(o), o);
}

/**
 * Segments by a trained STEGO head and probe, flip-averaged: g is rebuilt from the features file's
 * provenance to embed the horizontally flipped images (without g, or without the images, no averaging).
 */
async function stegoMasks(
  path: string,
  feats: Features,
  stegoRun: string,
  imageSize: number,
  ds: ImageDataset | null,
  log: (m: string) => void,
): Promise<Annotations> {
  const { model, config, path: ckpt } = loadStego(stegoRun);
  const patches = feats.patches!;
  const n = patches.shape[0]!;
  const K = config.model.K;
  let g: FeatureExtractor | null = null;
  try {
    g = ds ? await extractorFromProvenance(feats.provenance) : null;
  } catch (e) {
    log(`no flip-averaging: cannot rebuild g (${(e as Error).message})`);
  }
  const segments = new Uint8Array(n * imageSize * imageSize);
  const nhot = new Float32Array(n * K);
  try {
    for (let s = 0; s < n; s += 256) {
      const len = Math.min(256, n - s);
      const seg = torch.noGrad(() =>
        torch.tidy(() => {
          const rows = Array.from({ length: len }, (_, i) => s + i);
          const flipped = g && ds ? (g.embed(ds.images(rows).flip(3)).patches ?? null) : null;
          return stegoSegments(model, patches.narrow(0, s, len), imageSize, flipped);
        }),
      );
      const arr = seg.toTypedArray() as Uint8Array;
      seg.dispose();
      segments.set(arr, s * imageSize * imageSize);
      for (let i = 0; i < len; i++)
        for (let p = 0; p < imageSize * imageSize; p++) nhot[(s + i) * K + arr[i * imageSize * imageSize + p]!] = 1;
    }
  } finally {
    g?.dispose?.();
  }
  const centroids = torch.keep(model.probe.centroids.detach().clone());
  model.dispose();
  const p = feats.provenance;
  return {
    assignments: null,
    k: K,
    centroids,
    vectors: torch.keep(torch.tensor(nhot, { shape: [n, K] })),
    segments: torch.keep(torch.tensor(segments, { shape: [n, imageSize, imageSize] })),
    maps: null,
    kind: 'masks',
    meta: {
      method: `STEGO head (${ckpt}, code ${config.model.codeDim}-d) + cluster probe (K = ${K})${g ? ', flip-averaged' : ''}, bilinear upsampling`,
      metric: 'cosine',
      features: path,
      extractor: p.extractor,
      extractorConfig: p.config,
      dataset: p.dataset,
      segmentCount: String(K),
      stego: ckpt,
      ...(p.dataSpec ? { dataSpec: p.dataSpec } : {}),
    },
  };
}
