// Classifier-free guidance: eps = eps_u + s (eps_c - eps_u), the conditional and unconditional passes
// computed as one doubled batch. s = 0 is unconditional, s = 1 purely conditional; s equals 1 + w of
// the paper's (1 + w) eps_c - w eps_u form, so the reference default s = 2 is w = 1.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { EpsFn } from './samplers.js';
import { guidedNoise } from './guidance-math.js';
import type { NoiseSchedule, Prediction } from './schedule.js';

/** The network as the samplers see it: (x, t [B], cond, maps) -> raw output. */
export type DenoiserFn = (x: Tensor, t: Tensor, cond: Tensor | null, maps: Tensor | null) => Tensor;

export interface GuidanceOptions {
  scale: number;
  /** [B, D] condition vectors for the batch, or null */
  cond: Tensor | null;
  /** [B, K, H, W] condition maps, or null */
  maps: Tensor | null;
  prediction?: Prediction;
  /**
   * Guidance rescale phi in [0, 1] (Lin et al. 2024, eq. 15-16, on the noise estimate as diffusers does):
   * the guided estimate is scaled to the conditional one's standard deviation per image, mixed back by phi,
   * against the over-exposure a large scale brings. 0: plain guidance.
   */
  rescale?: number;
}

/** Combines the two predictions: eps_u + s (eps_c - eps_u), then the optional rescale (see GuidanceOptions). */
export function combineGuidance(epsCond: Tensor, epsUncond: Tensor, scale: number, rescale = 0): Tensor {
  if (!(rescale >= 0 && rescale <= 1)) throw new RangeError(`guidance rescale must be in [0, 1], got ${rescale}`);
  return torch.tidy(() => {
    const guided = guidedNoise(epsCond, epsUncond, scale);
    if (rescale === 0) return guided;
    const dims = Array.from({ length: guided.ndim - 1 }, (_, i) => i + 1);
    const std = (t: Tensor) => t.std(dims, { keepdim: true });
    const rescaled = guided.mul(std(epsCond).div(std(guided).clamp(1e-12, Infinity)));
    return rescaled.mul(rescale).add(guided.mul(1 - rescale));
  });
}

/**
 * An EpsFn that applies classifier-free guidance around a denoiser. Without a condition, or at s = 1
 * or s = 0, only the one pass needed is run.
 */
export function guidedEps(denoise: DenoiserFn, schedule: NoiseSchedule, o: GuidanceOptions): EpsFn {
  const prediction = o.prediction ?? 'eps';
  const hasCond = o.cond !== null || o.maps !== null;
  return (x: Tensor, tScalar: number) =>
    torch.tidy(() => {
      const b = x.shape[0]!;
      const toEps = (out: Tensor, xx: Tensor, tt: Tensor) => schedule.toEps(prediction, out, xx, tt);
      if (!hasCond || o.scale === 1) {
        const t = torch.full([b], tScalar, { dtype: 'int64', device: x.device });
        return toEps(denoise(x, t, o.cond, o.maps), x, t);
      }
      const nullCond = o.cond ? torch.zerosLike(o.cond) : null;
      const nullMaps = o.maps ? torch.zerosLike(o.maps) : null;
      if (o.scale === 0) {
        const t = torch.full([b], tScalar, { dtype: 'int64', device: x.device });
        return toEps(denoise(x, t, nullCond, nullMaps), x, t);
      }
      const x2 = torch.cat([x, x], 0);
      const t2 = torch.full([2 * b], tScalar, { dtype: 'int64', device: x.device });
      const c2 = o.cond ? torch.cat([o.cond, nullCond!], 0) : null;
      const m2 = o.maps ? torch.cat([o.maps, nullMaps!], 0) : null;
      const [epsC, epsU] = toEps(denoise(x2, t2, c2, m2), x2, t2).chunk(2, 0);
      return combineGuidance(epsC!, epsU!, o.scale, o.rescale ?? 0);
    });
}
