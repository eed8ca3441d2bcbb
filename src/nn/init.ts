// Parameter initialisers (torch.nn.init), in place and without recording gradients.
import * as torch from '../torch/index.js';
import type { Generator, Tensor } from '../torch/index.js';

export type Nonlinearity = 'linear' | 'conv' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
  }
}

/** fan_in = size(1) * receptive field, fan_out = size(0) * receptive field (PyTorch's convention). */
export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  const s = t.shape;
  if (s.length < 2) throw new RangeError(`fan in/out needs at least 2 dims, got [${s.join(', ')}]`);
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: s[1]! * receptive, fanOut: s[0]! * receptive };
}

export function uniform_(t: Tensor, a = 0, b = 1, generator?: Generator): Tensor {
  return torch.noGrad(() => t.uniform_(a, b, generator));
}
export function normal_(t: Tensor, mean = 0, std = 1, generator?: Generator): Tensor {
  return torch.noGrad(() => t.normal_(mean, std, generator));
}
export function zeros_(t: Tensor): Tensor {
  return torch.noGrad(() => t.zero_());
}
export function ones_(t: Tensor): Tensor {
  return torch.noGrad(() => t.fill_(1));
}
export function constant_(t: Tensor, v: number): Tensor {
  return torch.noGrad(() => t.fill_(v));
}

export interface KaimingOptions {
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}
export function kaimingUniform_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fans(t);
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0);
  const bound = Math.sqrt(3) * (gain / Math.sqrt((o.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut));
  return uniform_(t, -bound, bound, o.generator);
}
export function kaimingNormal_(t: Tensor, o: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fans(t);
  const gain = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0);
  return normal_(t, 0, gain / Math.sqrt((o.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut), o.generator);
}
export function xavierUniform_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t);
  const a = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform_(t, -a, a, generator);
}
export function xavierNormal_(t: Tensor, gain = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t);
  return normal_(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), generator);
}
/** Normal(mean, std) truncated to [a, b] by inverse-CDF sampling, as nn.init.trunc_normal_. */
export function truncNormal_(t: Tensor, mean = 0, std = 1, a = -2, b = 2, generator?: Generator): Tensor {
  const cdf = (x: number) => (1 + erf(x / Math.SQRT2)) / 2;
  const l = cdf((a - mean) / std);
  const u = cdf((b - mean) / std);
  return torch.noGrad(() =>
    torch.tidy(() => {
      t.uniform_(2 * l - 1, 2 * u - 1, generator);
      const v = t
        .erfinv()
        .mul(std * Math.SQRT2)
        .add(mean)
        .clamp(a, b);
      t.copy_(v);
      return t;
    }),
  );
}

// Abramowitz-Stegun 7.1.26 is too coarse for the bounds; use a series accurate to ~1e-9 on |x| <= 4.
function erf(x: number): number {
  const s = Math.sign(x);
  const ax = Math.abs(x);
  if (ax > 4) return s; // erfc(4) < 2e-8
  let sum = ax;
  let term = ax;
  for (let n = 1; n < 200; n++) {
    term *= (-ax * ax) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
  }
  return (s * 2 * sum) / Math.sqrt(Math.PI);
}
