// What `selfguided masks` runs: self-masks of a features file with patches, written as a condition file
// with a JSON report (Hungarian-matched mIoU and foreground IoU against the hidden masks when the dataset
// has them) and a PNG of the segments over the first images.
import { writeFileSync } from 'node:fs';
import { saveAnnotations } from '../annotate/annotations.js';
import { patchKMeansMasks, type PatchMaskOptions } from '../annotate/self-masks.js';
import { overlay } from '../data/overlay.js';
import { saveGrid } from '../data/png.js';
import { DataSpec, loadDataset } from '../data/spec.js';
import { maskQuality } from '../eval/segmentation.js';
import { loadFeatures } from '../features/features-file.js';
import * as torch from '../torch/index.js';
import { parseJsonWith } from '../util/json-file.js';

export interface SelfMasksFileOptions extends Omit<PatchMaskOptions, 'imageSize'> {
  out?: string;
  log?: (msg: string) => void;
}

export async function selfMasksFile(
  path: string,
  o: SelfMasksFileOptions,
): Promise<{ out: string; report: Record<string, unknown>; lines: string[] }> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const feats = loadFeatures(path, { patches: true });
  const spec = feats.provenance.dataSpec;
  const ds = spec ? await loadDataset(parseJsonWith(DataSpec, spec, `${path} (its dataSpec)`)) : null;
  try {
    const imageSize = ds?.size ?? Number(JSON.parse(feats.provenance.preprocessing).size);
    if (!Number.isInteger(imageSize) || imageSize < 1)
      throw new Error(`${path}: cannot tell the image size (no dataSpec to reload the images from)`);
    const t0 = performance.now();
    const { annotations } = patchKMeansMasks(path, feats, { ...o, imageSize });
    const seconds = (performance.now() - t0) / 1000;
    log(`patch k-means masks (K = ${o.K}) of ${feats.features.shape[0]} images in ${seconds.toFixed(1)} s`);
    const out = o.out ?? path.replace(/\.safetensors$/, '') + `-masks-K${o.K}.safetensors`;
    saveAnnotations(out, annotations);
    const report: Record<string, unknown> = { features: path, out, K: o.K, seconds };
    const lines = [`wrote ${out}`];
    const segs = annotations.segments!;
    if (ds?.scene) {
      const q = maskQuality(
        segs.toTypedArray() as Uint8Array,
        ds.scene.masks.toTypedArray() as Uint8Array,
        o.K,
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
    feats.features.dispose();
    feats.patches?.dispose();
    ds?.dispose();
  }
}
