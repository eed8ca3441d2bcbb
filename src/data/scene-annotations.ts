// The hidden object annotations of a dataset's images (the scenes' boxes, classes and masks), kept apart
// from the scenes generator so that datasets and annotation files can name them without importing it.
import type { Tensor } from '../torch/index.js';

export interface SceneAnnotations {
  /** [N, M, 4] int32 boxes (x0, y0, x1, y1) in pixels, end exclusive; -1 rows pad images with fewer items */
  boxes: Tensor;
  /** [N, M] int32 class of each box, -1 for padding */
  classes: Tensor;
  /** [N, H, W] uint8 semantic mask: 0 background, c + 1 for class c */
  masks: Tensor;
  classNames: string[];
}

/** The hidden boxes of each image (or of the given rows), padding dropped. */
export function sceneBoxes(scene: SceneAnnotations, rows?: ArrayLike<number>): number[][][] {
  const [n, m] = scene.boxes.shape as [number, number];
  const b = scene.boxes.to('int32').toTypedArray() as Int32Array;
  const c = scene.classes.to('int32').toTypedArray() as Int32Array;
  const pick = rows ? Array.from(rows) : Array.from({ length: n }, (_, i) => i);
  return pick.map((i) =>
    Array.from({ length: m }, (_, k) => k)
      .filter((k) => c[i * m + k]! >= 0)
      .map((k) => [...b.subarray((i * m + k) * 4, (i * m + k) * 4 + 4)]),
  );
}
