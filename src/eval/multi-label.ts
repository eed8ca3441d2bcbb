// The canvas judge's measures: which classes a canvas holds (its hidden class set as an n-hot row), how well
// scores rank them (average precision per class, the mean over classes: mAP, as Pascal VOC and COCO report
// multi-label classification), and whether samples hold the classes they were asked for and none other.

/** [N, C] 0/1 rows from the scenes' [N, M] class lists (-1 pads). */
export function classSets(classes: ArrayLike<number>, n: number, m: number, numClasses: number): Uint8Array {
  const out = new Uint8Array(n * numClasses);
  for (let i = 0; i < n; i++)
    for (let k = 0; k < m; k++) {
      const c = classes[i * m + k]!;
      if (c < 0) continue;
      if (c >= numClasses) throw new RangeError(`class ${c} of image ${i} is outside 0..${numClasses - 1}`);
      out[i * numClasses + c] = 1;
    }
  return out;
}

/**
 * Average precision of scores against 0/1 truths: the mean, over the positives, of the precision at each
 * positive's rank (no interpolation; tied scores count as ranked after every positive among them, so a
 * constant score earns the prevalence, not more). NaN when there is no positive.
 */
export function averagePrecision(scores: ArrayLike<number>, truth: ArrayLike<number>): number {
  const n = scores.length;
  if (truth.length !== n) throw new RangeError(`${n} scores for ${truth.length} truths`);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let positives = 0;
  for (let i = 0; i < n; i++) if (truth[i]) positives++;
  if (positives === 0) return NaN;
  let sum = 0,
    seen = 0,
    start = 0;
  while (start < n) {
    // A group of tied scores is taken whole: its positives each see the precision at the group's end.
    let end = start;
    while (end + 1 < n && scores[order[end + 1]!] === scores[order[start]!]) end++;
    let groupPositives = 0;
    for (let r = start; r <= end; r++) if (truth[order[r]!]) groupPositives++;
    seen += groupPositives;
    sum += groupPositives * (seen / (end + 1));
    start = end + 1;
  }
  return sum / positives;
}

/** Per-class average precision of [N, C] scores against [N, C] truths, and their mean over classes with a positive. */
export function meanAveragePrecision(
  scores: ArrayLike<number>,
  truth: ArrayLike<number>,
  numClasses: number,
): { mAP: number; perClass: number[] } {
  const n = scores.length / numClasses;
  if (!Number.isInteger(n) || truth.length !== scores.length)
    throw new RangeError(`${scores.length} scores and ${truth.length} truths are not rows of ${numClasses} classes`);
  const perClass = Array.from({ length: numClasses }, (_, c) =>
    averagePrecision(
      Array.from({ length: n }, (_, i) => scores[i * numClasses + c]!),
      Array.from({ length: n }, (_, i) => truth[i * numClasses + c]!),
    ),
  );
  const defined = perClass.filter((v) => !Number.isNaN(v));
  return { mAP: defined.reduce((a, b) => a + b, 0) / defined.length, perClass };
}

export interface Presence {
  /** of the classes asked for, the fraction the judge finds (above the threshold) */
  present: number;
  /** of the classes not asked for, the fraction the judge does not find */
  absent: number;
  /** images whose found set is exactly the set asked for */
  exact: number;
}

/** Do images hold the class sets asked for? Probabilities and requests are [N, C] rows. */
export function presenceCheck(
  probabilities: ArrayLike<number>,
  requested: ArrayLike<number>,
  numClasses: number,
  threshold = 0.5,
): Presence {
  const n = probabilities.length / numClasses;
  if (!Number.isInteger(n) || requested.length !== probabilities.length)
    throw new RangeError(
      `${probabilities.length} probabilities and ${requested.length} requests are not rows of ${numClasses}`,
    );
  let asked = 0,
    found = 0,
    notAsked = 0,
    notFound = 0,
    exact = 0;
  for (let i = 0; i < n; i++) {
    let same = true;
    for (let c = 0; c < numClasses; c++) {
      const want = requested[i * numClasses + c]! > 0,
        got = probabilities[i * numClasses + c]! > threshold;
      if (want) {
        asked++;
        if (got) found++;
      } else {
        notAsked++;
        if (!got) notFound++;
      }
      if (want !== got) same = false;
    }
    if (same) exact++;
  }
  return { present: asked ? found / asked : NaN, absent: notAsked ? notFound / notAsked : NaN, exact: exact / n };
}
