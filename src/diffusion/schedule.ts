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

export class NoiseSchedule {
  readonly T: number;
  readonly betas: Float64Array;
  /** abar_t = prod_{s<=t} (1 - beta_s) */
  readonly alphasCumprod: Float64Array;
  private cache = new Map<string, { sa: Tensor; s1a: Tensor }>();

  constructor(
    readonly kind: BetaSchedule = 'linear',
    T = 1000,
  ) {
    if (!Number.isInteger(T) || T < 1) throw new RangeError(`T must be a positive integer, got ${T}`);
    this.T = T;
    this.betas = makeBetas(kind, T);
    this.alphasCumprod = new Float64Array(T);
    let p = 1;
    this.betas.forEach((b, i) => {
      p *= 1 - b;
      this.alphasCumprod[i] = p;
    });
  }

  /** sqrt(abar_t) and sqrt(1 - abar_t) as [T] float32 tensors on a device (cached). */
  private coefs(device: Device): { sa: Tensor; s1a: Tensor } {
    let c = this.cache.get(device);
    if (!c) {
      c = {
        sa: keep(torch.tensor(Float32Array.from(this.alphasCumprod, Math.sqrt), { device })),
        s1a: keep(
          torch.tensor(
            Float32Array.from(this.alphasCumprod, (a) => Math.sqrt(1 - a)),
            { device },
          ),
        ),
      };
      this.cache.set(device, c);
    }
    return c;
  }

  /** Per-sample coefficient [B, 1, 1, 1] gathered at integer timesteps t [B]. */
  private at(which: 'sa' | 's1a', t: Tensor, ndim: number): Tensor {
    const v = this.coefs(t.device)[which].index([t]);
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

  /** The network output converted to a noise estimate, for any prediction type. */
  toEps(prediction: Prediction, out: Tensor, xt: Tensor, t: Tensor): Tensor {
    if (prediction === 'eps') return out.alias();
    return torch.tidy(() =>
      this.at('s1a', t, xt.ndim)
        .mul(xt)
        .add(this.at('sa', t, xt.ndim).mul(out)),
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
