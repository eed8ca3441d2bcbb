// What `selfguided masks` runs: self-masks of a features file with patches, written as a condition file
// with a JSON report (Hungarian-matched mIoU and foreground IoU against the hidden masks when the dataset
// has them) and a PNG of the segments over the first images.
import { writeFileSync } from 'node:fs';
import { saveAnnotations } from '../annotate/annotations.js';
import type { Annotations } from '../annotate/annotations.js';
import { patchKMeansMasks, type PatchMaskOptions } from '../annotate/self-masks.js';
import { loadStego, stegoSegments } from '../annotate/stego.js';
import type { ImageDataset } from '../data/dataset.js';
import { extractorFromProvenance } from '../eval/rebuild-extractor.js';
import type { FeatureExtractor } from '../features/extract.js';
import { overlay } from '../data/overlay.js';
import { saveGrid } from '../data/png.js';
import { openPatchFeatures } from './patch-features.js';
import { maskQuality } from '../eval/segmentation.js';
import type { Features } from '../features/features-file.js';
import * as torch from '../torch/index.js';

export interface SelfMasksFileOptions extends Omit<PatchMaskOptions, 'imageSize'> {
  /** a trained STEGO run: its head and cluster probe make the segments (K is the probe's) */
  stego?: string;
  out?: string;
  log?: (msg: string) => void;
}

export async function selfMasksFile(
  path: string,
  o: SelfMasksFileOptions,
): Promise<{ out: string; report: Record<string, unknown>; lines: string[] }> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const { feats, ds, imageSize, dispose } = await openPatchFeatures(path);
  try {
    const t0 = performance.now();
    const annotations = o.stego
      ? await stegoMasks(path, feats, o.stego, imageSize, ds, log)
      : patchKMeansMasks(path, feats, { ...o, imageSize }).annotations;
    const K = annotations.k!;
    const seconds = (performance.now() - t0) / 1000;
    log(
      `${o.stego ? 'STEGO' : 'patch k-means'} masks (K = ${K}) of ${feats.features.shape[0]} images in ${seconds.toFixed(1)} s`,
    );
    const out = o.out ?? path.replace(/\.safetensors$/, '') + `-${o.stego ? 'stego' : 'masks'}-K${K}.safetensors`;
    saveAnnotations(out, annotations);
    const report: Record<string, unknown> = {
      features: path,
      out,
      K,
      method: o.stego ? 'stego' : 'patch-kmeans',
      seconds,
    };
    const lines = [`wrote ${out}`];
    const segs = annotations.segments!;
    if (ds?.scene) {
      const q = maskQuality(
        segs.toTypedArray() as Uint8Array,
        ds.scene.masks.toTypedArray() as Uint8Array,
        K,
        ds.scene.classNames.length + 1,
      );
      report.quality = q;
      lines.push(
        `against the hidden masks (Hungarian-matched): mIoU ${q.mIoU.toFixed(4)}  foreground IoU ${q.foregroundIoU.toFixed(4)}  pixel accuracy ${q.pixelAccuracy.toFixed(4)}`,
      );
    }
    if (ds) {
      const png = out.replace(/\.safetensors$/, '.png');
      const first = Array.from({ length: Math.min(32, ds.length) }, (_, i) => i);
      const masks = torch.tidy(() => segs.narrow(0, 0, first.length).add(1));
      const pic = overlay(ds.images(first), { masks, zeroIsBackground: false });
      await saveGrid(pic, png, { nrow: 8, scale: 2 });
      for (const t of [pic, masks]) t.dispose();
      lines.push(`segments over the first images: ${png}`);
    }
    writeFileSync(out.replace(/\.safetensors$/, '.json'), `${JSON.stringify(report, null, 2)}\n`);
    for (const t of [annotations.vectors, annotations.centroids, annotations.segments]) t?.dispose();
    return { out, report, lines };
  } finally {
    dispose();
  }
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
