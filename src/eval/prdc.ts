// Precision, recall, density and coverage (Naeem et al. 2020) with k-nearest-neighbour balls:
// a real point's ball reaches its k-th nearest real neighbour (itself excluded); likewise for fakes.
// Distances are computed exactly (no matrix-product shortcut) so a point on a ball's edge is inside it
// whichever block computed the distance.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface Prdc {
  precision: number;
  recall: number;
  density: number;
  coverage: number;
  /** per real point: 1 when it lies inside some sample's k-NN ball (the points recall counts) */
  recalled: Uint8Array;
}

/** Distance from each row of x to its k-th nearest other row of x. */
function kthNeighbourRadius(x: Tensor, k: number, block: number): Tensor {
  return torch.tidy(() => {
    const n = x.shape[0]!;
    if (k >= n) throw new RangeError(`k = ${k} needs more than ${k} points, got ${n}`);
    const out: Tensor[] = [];
    for (let s = 0; s < n; s += block) {
      const d = torch.cdist(x.narrow(0, s, Math.min(block, n - s)), x, 2, true);
      // k + 1 smallest include the point itself at distance 0.
      out.push(d.topk(k + 1, 1, false).values.select(1, k));
    }
    return torch.cat(out);
  });
}

export function prdc(real: Tensor, fake: Tensor, k = 5, block = 2048): Prdc {
  return torch.tidy(() => {
    const r = real.double(),
      f = fake.double();
    const realRadius = kthNeighbourRadius(r, k, block);
    const fakeRadius = kthNeighbourRadius(f, k, block);
    const m = f.shape[0]!,
      n = r.shape[0]!;
    let precisionHits = 0,
      densitySum = 0;
    for (let s = 0; s < m; s += block) {
      const d = torch.cdist(f.narrow(0, s, Math.min(block, m - s)), r, 2, true); // [b, n]
      const inside = d.le(realRadius.unsqueeze(0));
      precisionHits += inside.any(1).float().sum().item();
      densitySum += inside.float().sum().item();
    }
    let coverageHits = 0;
    const recalled = new Uint8Array(n);
    for (let s = 0; s < n; s += block) {
      const rb = r.narrow(0, s, Math.min(block, n - s));
      const d = torch.cdist(rb, f, 2, true); // [b, m]
      recalled.set(d.le(fakeRadius.unsqueeze(0)).any(1).toTypedArray() as Uint8Array, s);
      coverageHits += d
        .min(1)
        .values.le(realRadius.narrow(0, s, rb.shape[0]!))
        .float()
        .sum()
        .item();
    }
    const recallHits = recalled.reduce((a, b) => a + b, 0);
    return {
      precision: precisionHits / m,
      recall: recallHits / n,
      density: densitySum / (k * m),
      coverage: coverageHits / n,
      recalled,
    };
  });
}
