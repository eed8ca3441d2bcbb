// Balanced assignment by Sinkhorn-Knopp (SeLa / SwAV): find the soft assignment Q closest to the
// similarity softmax whose clusters all receive N/k of the mass, then take each row's argmax.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export interface SinkhornOptions {
  metric?: 'cosine' | 'euclidean';
  /** entropic regularisation: smaller is closer to a hard assignment (similarities are divided by it) */
  epsilon?: number;
  iterations?: number;
}

/** The Sinkhorn-scaled plan [N, k] in log space: rows sum to 1/N, columns to 1/k. */
export function sinkhornLogPlan(scores: Tensor, epsilon: number, iterations: number): Tensor {
  return torch.tidy(() => {
    const [n, k] = scores.shape as [number, number];
    let logQ = scores.double().div(epsilon);
    for (let i = 0; i < iterations; i++) {
      // Columns to 1/k, then rows to 1/N, alternately.
      logQ = logQ.sub(logQ.logsumexp(0, true)).sub(Math.log(k));
      logQ = logQ.sub(logQ.logsumexp(1, true)).sub(Math.log(n));
    }
    return logQ;
  });
}

/** Balanced hard assignment of x [N, D] to centroids [k, D] (int64 [N]). */
export function sinkhornAssign(x: Tensor, centroids: Tensor, o: SinkhornOptions = {}): Tensor {
  return torch.tidy(() => {
    const scores =
      (o.metric ?? 'cosine') === 'cosine'
        ? x.matmul(centroids.t())
        : x.matmul(centroids.t()).mul(2).sub(centroids.square().sum(1).unsqueeze(0));
    return sinkhornLogPlan(scores, o.epsilon ?? 0.05, o.iterations ?? 50).argmax(1);
  });
}
