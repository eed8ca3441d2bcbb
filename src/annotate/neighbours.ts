// Cosine nearest neighbours of every row among all rows, in blocks so that the N x N similarity
// matrix never exists at once (60,000 rows would need 14 GB).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface NeighbourOptions {
  /** count the row itself as its first neighbour (k-NN averaging does; SCAN's mining does not) */
  includeSelf?: boolean;
  blockSize?: number;
}

/** Indices [N, k] (int64) of each row's k most cosine-similar rows, most similar first. */
export function nearestNeighbours(features: Tensor, k: number, o: NeighbourOptions = {}): Tensor {
  const n = features.shape[0]!;
  const self = o.includeSelf ?? false;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`neighbours must be a positive integer, got ${k}`);
  if (k > (self ? n : n - 1))
    throw new RangeError(`${k} neighbours asked of ${n} rows${self ? '' : ' (the row itself excluded)'}`);
  const blockSize = o.blockSize ?? 4096;
  return torch.tidy(() => {
    const x = torch.normalize(features.float(), 2, 1);
    const out: Tensor[] = [];
    for (let s = 0; s < n; s += blockSize) {
      const b = Math.min(blockSize, n - s);
      const sim = x.narrow(0, s, b).matmul(x.t());
      // The row itself is masked rather than dropped as the first hit: with duplicate rows the
      // first hit need not be the row itself. Cosines lie in [-1, 1], so -4 is never chosen.
      if (!self) sim.narrow(1, s, b).diagonal().sub_(4);
      out.push(sim.topk(k, 1).indices);
    }
    return torch.cat(out, 0);
  });
}
