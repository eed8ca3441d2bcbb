// The ground-truth (oracle) guidance signals of a dataset with hidden object annotations, for the rows
// that self-annotation is compared against: the main (largest) box with its class, the semantic mask,
// and the multi-hot labels of the classes present. Only these rows read the hidden annotations.
import type { Annotations } from '../annotate/annotations.js';
import type { ImageDataset } from '../data/dataset.js';
import * as torch from '../torch/index.js';

export type TruthKind = 'boxes' | 'masks' | 'labels';

export function groundTruthAnnotations(ds: ImageDataset, kind: TruthKind): Annotations {
  const sc = ds.scene;
  if (!sc) throw new Error(`${ds.info.name} has no hidden object annotations for ground-truth guidance`);
  const [n, m] = sc.boxes.shape as [number, number];
  const C = sc.classNames.length;
  const b = sc.boxes.toTypedArray() as Int32Array;
  const c = sc.classes.toTypedArray() as Int32Array;
  const S = ds.size;
  const meta = { method: `ground truth (oracle): ${kind}`, dataset: ds.info.name, features: '' };
  if (kind === 'labels') {
    const v = new Float32Array(n * C);
    for (let i = 0; i < n; i++) for (let k = 0; k < m; k++) if (c[i * m + k]! >= 0) v[i * C + c[i * m + k]!] = 1;
    return {
      assignments: null,
      k: C,
      centroids: null,
      vectors: torch.keep(torch.tensor(v, { shape: [n, C] })),
      kind: 'ground-truth',
      meta,
    };
  }
  if (kind === 'masks') {
    const present = new Float32Array(n * (C + 1));
    const px = sc.masks.toTypedArray() as Uint8Array;
    for (let i = 0; i < n; i++) for (let p = 0; p < S * S; p++) present[i * (C + 1) + px[i * S * S + p]!] = 1;
    return {
      assignments: null,
      k: C + 1,
      centroids: null,
      vectors: torch.keep(torch.tensor(present, { shape: [n, C + 1] })),
      segments: torch.keep(sc.masks.alias()),
      maps: null,
      kind: 'masks',
      meta: { ...meta, segmentCount: String(C + 1) },
    };
  }
  const maps = new Uint8Array(n * S * S);
  const ids = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = -1,
      area = -1;
    for (let k = 0; k < m; k++) {
      if (c[i * m + k]! < 0) continue;
      const [x0, y0, x1, y1] = b.subarray((i * m + k) * 4, (i * m + k) * 4 + 4);
      const a = (x1! - x0!) * (y1! - y0!);
      if (a > area) {
        area = a;
        best = k;
      }
    }
    if (best < 0) throw new Error(`${ds.info.name}: image ${i} has no object`);
    const [x0, y0, x1, y1] = b.subarray((i * m + best) * 4, (i * m + best) * 4 + 4);
    for (let y = y0!; y < y1!; y++) maps.fill(1, i * S * S + y * S + x0!, i * S * S + y * S + x1!);
    ids[i] = c[i * m + best]!;
  }
  return {
    assignments: ids,
    k: C,
    centroids: null,
    vectors: null,
    maps: torch.keep(torch.tensor(maps, { shape: [n, 1, S, S] })),
    kind: 'boxes',
    meta: { ...meta, k: String(C), objects: 'main' },
  };
}
