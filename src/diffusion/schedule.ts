// Noise schedules and the forward process q(x_t | x_0), computed in float64 on the host.
import * as torch from '../torch/index.js';
import { keep, type Device, type Tensor } from '../torch/index.js';

export type BetaSchedule = 'linear' | 'ddpm-linear' | 'cosine';
export type Prediction = 'eps' | 'v';

/** beta_t for t = 0..T-1. "linear" is LDM's (the paper's): (linspace(sqrt(1e-4), sqrt(0.02), T))^2. */
export function makeBetas(kind: BetaSchedule, T: number, o: { start?: number; end?: number } = {}): Float64Array {
  const start = o.start ?? 1e-4,
    end = o.end ?? 0.02;
  const lin = (a: number, b: number, i: number) => (T === 1 ? a : a + ((b - a) * i) / (T - 1));
  switch (kind) {
    case 'linear':
      return Float64Array.from({ length: T }, (_, i) => lin(Math.sqrt(start), Math.sqrt(end), i) ** 2);
    case 'ddpm-linear':
      return Float64Array.from({ length: T }, (_, i) => lin(start, end, i));
    case 'cosine': {
      // Nichol & Dhariwal: abar(t) = cos^2(((t/T + s)/(1 + s)) pi/2), betas clipped at 0.999.
      const s = 0.008;
      const f = (t: number) => Math.cos(((t / T + s) / (1 + s)) * (Math.PI / 2)) ** 2;
      return Float64Array.from({ length: T }, (_, i) => Math.min(1 - f(i + 1) / f(i), 0.999));
    }
    default:
      throw new TypeError(`unknown beta schedule '${String(kind)}'; expected linear, ddpm-linear or cosine`);
  }
}

/**
 * Betas rescaled so that the terminal signal-to-noise ratio is zero (Lin et al. 2024, Algorithm 1):
 * sqrt(abar) is shifted to end at 0 and scaled to keep its first value, an affine map of the original
 * sqrt(abar), so the schedule keeps its shape and x_T carries no trace of the image, as at sampling.
 */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const T = betas.length;
  const sqrtAbar = new Float64Array(T);
  let p = 1;
  betas.forEach((b, i) => {
    p *= 1 - b;
    sqrtAbar[i] = Math.sqrt(p);
  });
  const first = sqrtAbar[0]!,
    last = sqrtAbar[T - 1]!;
  const abar = sqrtAbar.map((v) => ((v - last) * first) / (first - last)).map((v) => v * v);
  return Float64Array.from(abar, (a, i) => (i === 0 ? 1 - a : 1 - a / abar[i - 1]!));
}

/**
 * Where a zero-SNR schedule's abar_T = 0 is met at sampling: a tiny value (diffusers uses 2^-24), below
 * abar_{T-1} so the schedule stays decreasing, so that the samplers' divisions by sqrt(abar) and log-SNR
 * stay finite; v prediction recovers x0 through it (to about 1e-3 in float32).
 */
export const TERMINAL_ABAR_FLOOR = 2 ** -24;

export interface ScheduleOptions {
  /** rescale the betas to zero terminal SNR (needs v prediction to sample) */
  zeroTerminalSnr?: boolean;
}

export class NoiseSchedule {
  readonly T: number;
  readonly betas: Float64Array;
  /** abar_t = prod_{s<=t} (1 - beta_s), as training noises with it */
  readonly alphasCumprod: Float64Array;
  /** the same, with a terminal 0 (zero SNR) raised to a tiny value (TERMINAL_ABAR_FLOOR): what the samplers use */
  readonly samplingAlphasCumprod: Float64Array;
  readonly zeroTerminalSnr: boolean;
  private cache = new Map<string, { sa: Tensor; s1a: Tensor }>();

  constructor(
    readonly kind: BetaSchedule = 'linear',
    T = 1000,
    o: ScheduleOptions = {},
  ) {
    if (!Number.isInteger(T) || T < 1) throw new RangeError(`T must be a positive integer, got ${T}`);
    this.T = T;
    this.zeroTerminalSnr = o.zeroTerminalSnr ?? false;
    if (this.zeroTerminalSnr && T < 2) throw new RangeError('a zero-terminal-SNR schedule needs T >= 2');
    const betas = makeBetas(kind, T);
    this.betas = this.zeroTerminalSnr ? rescaleZeroTerminalSnr(betas) : betas;
    this.alphasCumprod = new Float64Array(T);
    let p = 1;
    this.betas.forEach((b, i) => {
      p *= 1 - b;
      this.alphasCumprod[i] = p;
    });
    this.samplingAlphasCumprod = this.alphasCumprod.slice();
    if (this.zeroTerminalSnr) {
      this.alphasCumprod[T - 1] = 0; // exactly, not a rounding error away
      this.samplingAlphasCumprod[T - 1] = Math.min(TERMINAL_ABAR_FLOOR, this.alphasCumprod[T - 2]! / 4);
    }
  }

  /** sqrt(abar_t) and sqrt(1 - abar_t) as [T] float32 tensors on a device (cached), for training or sampling. */
  private coefs(device: Device, use: 'train' | 'sample'): { sa: Tensor; s1a: Tensor } {
    const key = `${use}:${device}`;
    let c = this.cache.get(key);
    if (!c) {
      const abar = use === 'train' ? this.alphasCumprod : this.samplingAlphasCumprod;
      c = {
        sa: keep(torch.tensor(Float32Array.from(abar, Math.sqrt), { device })),
        s1a: keep(
          torch.tensor(
            Float32Array.from(abar, (a) => Math.sqrt(1 - a)),
            { device },
          ),
        ),
      };
      this.cache.set(key, c);
    }
    return c;
  }

  /** Per-sample coefficient [B, 1, 1, 1] gathered at integer timesteps t [B]. */
  private at(which: 'sa' | 's1a', t: Tensor, ndim: number, use: 'train' | 'sample' = 'train'): Tensor {
    const v = this.coefs(t.device, use)[which].index([t]);
    return v.reshape(t.shape[0]!, ...Array(ndim - 1).fill(1));
  }

  /** x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise */
  qSample(x0: Tensor, t: Tensor, noise: Tensor): Tensor {
    return torch.tidy(() =>
      this.at('sa', t, x0.ndim)
        .mul(x0)
        .add(this.at('s1a', t, x0.ndim).mul(noise)),
    );
  }

  /** What the network is trained to output: the noise (eps) or v = sqrt(abar) eps - sqrt(1-abar) x0. */
  target(prediction: Prediction, x0: Tensor, noise: Tensor, t: Tensor): Tensor {
    if (prediction === 'eps') return noise.alias();
    return torch.tidy(() =>
      this.at('sa', t, x0.ndim)
        .mul(noise)
        .sub(this.at('s1a', t, x0.ndim).mul(x0)),
    );
  }

  /**
   * The network output converted to a noise estimate, for any prediction type, with the samplers'
   * abar (so that at a zero-SNR schedule's last step the samplers' x0 = -v comes back through it).
   */
  toEps(prediction: Prediction, out: Tensor, xt: Tensor, t: Tensor): Tensor {
    if (prediction === 'eps') return out.alias();
    return torch.tidy(() =>
      this.at('s1a', t, xt.ndim, 'sample')
        .mul(xt)
        .add(this.at('sa', t, xt.ndim, 'sample').mul(out)),
    );
  }

  dispose(): void {
    for (const c of this.cache.values()) {
      c.sa.dispose();
      c.s1a.dispose();
    }
    this.cache.clear();
  }
}
