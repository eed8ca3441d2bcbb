// The denoising loss of one batch: draw t and noise, noise x0 with the schedule, and regress what the
// network predicts (eps or v) with mean squared error.
import * as torch from '../torch/index.js';
import type { Device, Generator, Tensor } from '../torch/index.js';
import type { NoiseSchedule, Prediction } from './schedule.js';
import type { DenoiserFn } from './guidance.js';
import { wholeBatch, type BatchSlice } from '../train/data-parallel.js';

export interface DiffusionLossOptions {
  /** [B, D] condition vectors (already dropped to the null condition where trained so), or null */
  cond: Tensor | null;
  /** [B, K, H, W] condition maps, or null */
  maps: Tensor | null;
  prediction: Prediction;
  /** draws t and the noise on the CPU, so a seed gives the same run on every device */
  generator?: Generator;
  /** where the network runs; the batch is moved there */
  device?: Device;
  /** x0 is these rows of a larger batch: t and the noise are drawn for the whole batch and sliced */
  slice?: BatchSlice;
}

/**
 * Simple diffusion loss (Ho et al.): E_{t, noise} || f(x_t, t, c) - target ||^2 with t uniform in
 * [0, T) and x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise.
 *
 * Args: model (x [B, C, H, W], t [B] int64, cond, maps) -> [B, C, H, W]; x0 [B, C, H, W] in [-1, 1] on the CPU.
 * Returns: the scalar loss on the device.
 */
export function diffusionLoss(
  model: { call: DenoiserFn } | DenoiserFn,
  schedule: NoiseSchedule,
  x0: Tensor,
  o: DiffusionLossOptions,
): Tensor {
  const denoise: DenoiserFn = typeof model === 'function' ? model : (x, t, c, m) => model.call(x, t, c, m);
  const device = o.device ?? 'cpu';
  const b = x0.shape[0]!;
  const s = o.slice ?? wholeBatch(b);
  if (s.size !== b) throw new RangeError(`a slice of ${s.size} rows for a batch of ${b}`);
  const [, ...rest] = x0.shape;
  const t = torch.randint(0, schedule.T, [s.total], { generator: o.generator }).narrow(0, s.offset, b);
  const noise = torch.randn([s.total, ...rest], { generator: o.generator }).narrow(0, s.offset, b);
  const x0d = x0.to(device),
    td = t.to(device),
    noised = noise.to(device);
  const out = denoise(schedule.qSample(x0d, td, noised), td, o.cond && o.cond.to(device), o.maps && o.maps.to(device));
  return torch.mseLoss(out, schedule.target(o.prediction, x0d, noised, td));
}
