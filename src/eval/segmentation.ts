// Quality of self-masks against hidden semantic masks: segments are matched one-to-one to classes by the
// Hungarian algorithm on the pixel confusion matrix (as STEGO evaluates unsupervised segmentation).
import { linearSumAssignment } from './cluster-metrics.js';

export interface MaskQuality {
  /** mean IoU over the classes present in the truth (unmatched classes count 0) */
  mIoU: number;
  /** IoU per class (NaN for classes absent from the truth) */
  perClassIoU: number[];
  /** IoU of foreground: the truth's non-zero pixels against the pixels not in the segment matched to class 0 */
  foregroundIoU: number;
  /** pixels whose matched class is their class */
  pixelAccuracy: number;
  /** segment -> matched class, or -1 */
  matching: number[];
}

/**
 * Args: predicted segment ids in [0, K) and true classes in [0, C) (0 = background), per pixel, same
 * length. Returns the Hungarian-matched quality.
 */
export function maskQuality(pred: ArrayLike<number>, truth: ArrayLike<number>, K: number, C: number): MaskQuality {
  if (pred.length !== truth.length)
    throw new RangeError(`${pred.length} predicted pixels for ${truth.length} true ones`);
  const conf = Array.from({ length: K }, () => new Array<number>(C).fill(0));
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i]!,
      t = truth[i]!;
    if (p < 0 || p >= K || t < 0 || t >= C) throw new RangeError(`pixel ${i}: segment ${p} or class ${t} out of range`);
    conf[p]![t]!++;
  }
  const rowSum = conf.map((r) => r.reduce((a, b) => a + b, 0));
  const colSum = Array.from({ length: C }, (_, c) => conf.reduce((a, r) => a + r[c]!, 0));
  const max = Math.max(1, ...conf.flat());
  const matching = linearSumAssignment(conf.map((r) => r.map((v) => max - v)));
  const perClassIoU = Array.from({ length: C }, (_, c) => (colSum[c] === 0 ? NaN : 0));
  let correct = 0;
  matching.forEach((c, p) => {
    if (c < 0) return;
    const inter = conf[p]![c]!;
    correct += inter;
    if (colSum[c]! > 0) perClassIoU[c] = inter / (rowSum[p]! + colSum[c]! - inter);
  });
  const present = perClassIoU.filter((v) => !Number.isNaN(v));
  const bg = matching.indexOf(0);
  let inter = 0,
    union = 0;
  for (let i = 0; i < pred.length; i++) {
    const pf = pred[i] !== bg,
      tf = truth[i]! > 0;
    if (pf && tf) inter++;
    if (pf || tf) union++;
  }
  return {
    mIoU: present.reduce((a, b) => a + b, 0) / Math.max(1, present.length),
    perClassIoU,
    foregroundIoU: union === 0 ? 1 : inter / union,
    pixelAccuracy: correct / Math.max(1, pred.length),
    matching,
  };
}
