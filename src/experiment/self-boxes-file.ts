// What `selfguided boxes` runs: self-boxes of a features file with patches, written as a condition file
// with a JSON report (CorLoc against the hidden boxes when the dataset has them) and a PNG of the boxes
// over the first images.
import { writeFileSync } from 'node:fs';
import { disposeAnnotations, saveAnnotations } from '../annotate/annotations.js';
import { corLoc } from '../annotate/lost.js';
import { selfBoxes, type SelfBoxOptions } from '../annotate/self-boxes.js';
import type { ImageDataset } from '../data/dataset.js';
import { overlay } from '../data/overlay.js';
import { sceneBoxes } from '../data/scenes.js';
import { saveGrid } from '../data/png.js';
import { openPatchFeatures } from './patch-features.js';

export interface SelfBoxesFileOptions extends Omit<SelfBoxOptions, 'imageSize'> {
  /** the condition file (default: beside the features) */
  out?: string;
  log?: (msg: string) => void;
}

/** The hidden ground-truth boxes of a dataset with scene annotations, per image. */
export function truthBoxes(ds: ImageDataset): number[][][] {
  return sceneBoxes(ds.scene!);
}

export async function selfBoxesFile(
  path: string,
  o: SelfBoxesFileOptions,
): Promise<{ out: string; report: Record<string, unknown>; lines: string[] }> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const { feats, ds, imageSize, dispose } = await openPatchFeatures(path);
  try {
    const t0 = performance.now();
    const r = selfBoxes(path, feats, { ...o, imageSize });
    const seconds = (performance.now() - t0) / 1000;
    log(`LOST boxes and k = ${o.k} box self-labels of ${r.boxes.length} images in ${seconds.toFixed(1)} s`);
    const out = o.out ?? path.replace(/\.safetensors$/, '') + `-boxes-k${o.k}.safetensors`;
    saveAnnotations(out, r.annotations);
    const perImage = r.boxes.map((l) => l.length);
    const report: Record<string, unknown> = {
      features: path,
      out,
      k: o.k,
      objects: o.objects ?? 'main',
      seconds,
      boxesPerImage: perImage.reduce((a, b) => a + b, 0) / Math.max(1, perImage.length),
    };
    const lines = [`wrote ${out}`];
    if (ds?.scene) {
      const truth = truthBoxes(ds);
      const c = corLoc(
        r.boxes.map((l) => l[0]?.box ?? null),
        truth,
      );
      report.corLoc = c;
      lines.push(`CorLoc (main box, IoU >= 0.5 with a hidden box) ${c.toFixed(4)} over ${truth.length} images`);
    }
    if (ds) {
      const png = out.replace(/\.safetensors$/, '.png');
      const first = Array.from({ length: Math.min(32, ds.length) }, (_, i) => i);
      const pic = overlay(ds.images(first), {
        boxes: first.map((i) => r.boxes[i]!.map((b, j) => ({ box: b.box, id: r.boxLabels[i]![j]! }))),
      });
      await saveGrid(pic, png, { nrow: 8, scale: 2 });
      pic.dispose();
      lines.push(`boxes over the first images: ${png}`);
    }
    writeFileSync(out.replace(/\.safetensors$/, '.json'), `${JSON.stringify(report, null, 2)}\n`);
    disposeAnnotations(r.annotations);
    return { out, report, lines };
  } finally {
    dispose();
  }
}
