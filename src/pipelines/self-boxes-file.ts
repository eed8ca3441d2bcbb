// Self-boxes of a features file with patches (what `selfguided boxes` runs): LOST boxes with k-means box
// self-labels, CorLoc against the hidden boxes when the dataset has them, and the boxes drawn over the
// first images, through annotateFile's skeleton.
import { corLoc } from '../annotate/lost.js';
import { selfBoxes, type SelfBoxOptions, type SelfBoxes } from '../annotate/self-boxes.js';
import { overlay } from '../data/overlay.js';
import { saveGrid } from '../data/png.js';
import { sceneBoxes } from '../data/scene-annotations.js';
import { boxBaselineLine, boxBaselines } from './annotation-baselines.js';
import {
  annotateFile,
  firstImages,
  type AnnotateFileOptions,
  type AnnotateFileResult,
  type AnnotationMethod,
} from './annotate-file.js';

export interface SelfBoxesFileOptions extends Omit<SelfBoxOptions, 'imageSize'>, AnnotateFileOptions {}

function selfBoxesMethod(o: SelfBoxesFileOptions): AnnotationMethod<SelfBoxes> {
  return {
    patches: true,
    annotate({ path, feats, imageSize, log }) {
      const t0 = performance.now();
      const r = selfBoxes(path, feats, { ...o, imageSize: imageSize! });
      const seconds = (performance.now() - t0) / 1000;
      log(`LOST boxes and k = ${o.k} box self-labels of ${r.boxes.length} images in ${seconds.toFixed(1)} s`);
      const perImage = r.boxes.map((l) => l.length);
      return {
        annotations: r.annotations,
        result: r,
        report: {
          k: o.k,
          objects: o.objects ?? 'main',
          seconds,
          boxesPerImage: perImage.reduce((a, b) => a + b, 0) / Math.max(1, perImage.length),
        },
      };
    },
    defaultOut: (path) => path.replace(/\.safetensors$/, '') + `-boxes-k${o.k}.safetensors`,
    judge(ds, { result: r }) {
      if (!ds.scene) return null;
      const truth = sceneBoxes(ds.scene);
      const c = corLoc(
        r.boxes.map((l) => l[0]?.box ?? null),
        truth,
      );
      const free = boxBaselines(ds);
      return {
        report: { corLoc: c, baselines: free },
        line: `CorLoc (main box, IoU >= 0.5 with a hidden box) ${c.toFixed(4)} over ${truth.length} images\nfree ${boxBaselineLine(free)}`,
      };
    },
    async picture(ds, { result: r }, png) {
      const first = firstImages(ds);
      const pic = overlay(ds.images(first), {
        boxes: first.map((i) => r.boxes[i]!.map((b, j) => ({ box: b.box, id: r.boxLabels[i]![j]! }))),
      });
      await saveGrid(pic, png, { nrow: 8, scale: 2 });
      pic.dispose();
      return `boxes over the first images: ${png}`;
    },
  };
}

/** LOST self-boxes of a features file with patches, each with a k-means self-label, as a condition file. */
export function selfBoxesFile(path: string, o: SelfBoxesFileOptions): Promise<AnnotateFileResult> {
  return annotateFile(path, selfBoxesMethod(o), o);
}
