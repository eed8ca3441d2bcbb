// SimCLR's NT-Xent loss: each view must pick its partner among the 2B - 1 other views, by cosine
// similarity at a temperature.
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';

/** z1, z2 [B, d]: projections of two views of the same B images. */
export function ntXent(z1: Tensor, z2: Tensor, temperature = 0.5): Tensor {
  return torch.tidy(() => {
    const b = z1.shape[0]!;
    const z = torch.normalize(torch.cat([z1, z2], 0), 2, 1);
    const sim = z.matmul(z.t()).div(temperature);
    const self = torch.eye(2 * b, 2 * b, { dtype: 'bool', device: z.device });
    const logits = sim.maskedFill(self, -Infinity);
    const targets = torch.cat([
      torch.arange(b, 2 * b, 1, { dtype: 'int64' }),
      torch.arange(0, b, 1, { dtype: 'int64' }),
    ]);
    return torch.crossEntropy(logits, targets);
  });
}
