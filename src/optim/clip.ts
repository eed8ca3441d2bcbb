// Gradient clipping by the global norm of all gradients.
import * as torch from '../torch/index.js';
import { foreach, type Tensor } from '../torch/index.js';

/**
 * Scales all gradients so their global p-norm is at most maxNorm; returns the norm before clipping.
 * A non-finite norm is returned as is (the caller decides; the trainer stops on it).
 */
export function clipGradNorm_(params: Iterable<Tensor>, maxNorm: number, normType = 2): number {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const grads = [...params].map((p) => p.grad).filter((g): g is Tensor => g !== null);
      if (grads.length === 0) return 0;
      let total: number;
      if (normType === Infinity) {
        total = Math.max(...grads.map((g) => g.abs().max().item()));
      } else {
        const norms = foreach.norm(grads, normType);
        total = torch.stack(norms).norm(normType).item();
      }
      const coef = maxNorm / (total + 1e-6);
      if (coef < 1 && Number.isFinite(total)) foreach.mul_(grads, coef);
      return total;
    }),
  );
}
