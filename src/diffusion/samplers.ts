// Samplers over any noise predictor: DDPM ancestral, DDIM (eta, any number of steps) and
// DPM-Solver++(2M). Each is a loop over a decreasing timestep sequence; the predictor is a function
// (x_t, t) -> eps, so guidance, conditions and the network stay outside (diffusers' separation).
import * as torch from '../torch/index.js';
import type { Device, Generator, Tensor } from '../torch/index.js';
import type { NoiseSchedule } from './schedule.js';

/** eps estimate for a batch at one timestep (all samples share t). */
export type EpsFn = (x: Tensor, t: number) => Tensor;

export type SamplerName = 'ddpm' | 'ddim' | 'dpm++2m';
export const SAMPLERS: readonly SamplerName[] = ['ddpm', 'ddim', 'dpm++2m'];

export interface SampleOptions {
  sampler: SamplerName;
  /** number of network evaluations (timesteps used), 1..T */
  steps: number;
  /** DDIM only: 0 = deterministic, 1 = DDPM-like */
  eta?: number;
  /** clip predicted x0 to [-1, 1] (default true) */
  clipX0?: boolean;
  generator?: Generator;
  /** where x_T is placed (the network's device); the noise is always drawn on the CPU, then moved */
  device?: Device;
  onStep?: (i: number, total: number) => void;
}

/** `steps` timesteps evenly spread over [0, T-1], descending, always ending at 0. */
export function timestepSequence(T: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > T)
    throw new RangeError(`steps must be an integer in [1, ${T}], got ${steps}`);
  if (steps === 1) return [T - 1];
  const seq = new Set<number>();
  for (let i = 0; i < steps; i++) seq.add(Math.round((i * (T - 1)) / (steps - 1)));
  return [...seq].sort((a, b) => b - a);
}

function predictX0(x: Tensor, eps: Tensor, abar: number, clip: boolean): Tensor {
  return torch.tidy(() => {
    const x0 = x.sub(eps.mul(Math.sqrt(1 - abar))).div(Math.sqrt(abar));
    return clip ? x0.clamp(-1, 1) : x0;
  });
}

/**
 * Standard normal noise drawn from the CPU generator, then moved to `device`:
 * a seed gives the same noise on every device.
 */
function gaussian(shape: number[], generator: Generator | undefined, device: Device | undefined): Tensor {
  const z = torch.randn(shape, { generator });
  if (!device) return z;
  try {
    return z.to(device);
  } finally {
    z.dispose();
  }
}

/** Runs the reverse process from x_T (standard normal noise of `shape`) to x_0. */
export function sample(schedule: NoiseSchedule, epsFn: EpsFn, shape: number[], o: SampleOptions): Tensor {
  const x = gaussian(shape, o.generator, o.device);
  try {
    return sampleFrom(schedule, epsFn, x, o);
  } finally {
    x.dispose();
  }
}

/** Runs the reverse process from a given x_T. */
export function sampleFrom(schedule: NoiseSchedule, epsFn: EpsFn, xT: Tensor, o: SampleOptions): Tensor {
  const seq = timestepSequence(schedule.T, o.steps);
  const clip = o.clipX0 ?? true;
  return torch.noGrad(() => {
    switch (o.sampler) {
      case 'ddim':
        return ddim(schedule, epsFn, xT, seq, o.eta ?? 0, clip, o);
      case 'ddpm':
        return ddpm(schedule, epsFn, xT, seq, clip, o);
      case 'dpm++2m':
        return dpmSolverPP2M(schedule, epsFn, xT, seq, clip, o);
      default:
        throw new TypeError(`unknown sampler '${String(o.sampler)}'; expected ${SAMPLERS.join(', ')}`);
    }
  });
}

function ddim(
  s: NoiseSchedule,
  epsFn: EpsFn,
  xT: Tensor,
  seq: number[],
  eta: number,
  clip: boolean,
  o: SampleOptions,
): Tensor {
  let x = xT.alias();
  seq.forEach((t, i) => {
    const next = torch.tidy(() => {
      const a = s.alphasCumprod[t]!;
      const aPrev = i + 1 < seq.length ? s.alphasCumprod[seq[i + 1]!]! : 1;
      let eps = epsFn(x, t);
      const x0 = predictX0(x, eps, a, clip);
      // With clipping, re-derive eps from the clipped x0 so the update stays on the DDIM manifold.
      if (clip) eps = x.sub(x0.mul(Math.sqrt(a))).div(Math.sqrt(1 - a));
      const sigma = eta * Math.sqrt((1 - aPrev) / (1 - a)) * Math.sqrt(Math.max(0, 1 - a / aPrev));
      let xn = x0.mul(Math.sqrt(aPrev)).add(eps.mul(Math.sqrt(Math.max(0, 1 - aPrev - sigma * sigma))));
      if (sigma > 0) xn = xn.add(gaussian(x.shape, o.generator, x.device).mul(sigma));
      return xn;
    });
    x.dispose();
    x = next;
    o.onStep?.(i + 1, seq.length);
  });
  return x;
}

/** Ancestral sampling with the posterior q(x_prev | x_t, x0) of the (possibly respaced) chain. */
function ddpm(s: NoiseSchedule, epsFn: EpsFn, xT: Tensor, seq: number[], clip: boolean, o: SampleOptions): Tensor {
  let x = xT.alias();
  seq.forEach((t, i) => {
    const next = torch.tidy(() => {
      const a = s.alphasCumprod[t]!;
      const aPrev = i + 1 < seq.length ? s.alphasCumprod[seq[i + 1]!]! : 1;
      const beta = 1 - a / aPrev;
      const x0 = predictX0(x, epsFn(x, t), a, clip);
      const c0 = (Math.sqrt(aPrev) * beta) / (1 - a);
      const ct = (Math.sqrt(1 - beta) * (1 - aPrev)) / (1 - a);
      const mean = x0.mul(c0).add(x.mul(ct));
      const variance = (beta * (1 - aPrev)) / (1 - a);
      return i + 1 < seq.length ? mean.add(gaussian(x.shape, o.generator, x.device).mul(Math.sqrt(variance))) : mean;
    });
    x.dispose();
    x = next;
    o.onStep?.(i + 1, seq.length);
  });
  return x;
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022) in data prediction, multistep, over lambda = log(alpha/sigma).
 * The first step is first order; with fewer than 15 steps the last is too (as in diffusers), which
 * keeps it stable at small step counts. The final step lands on t = 0's marginal.
 */
function dpmSolverPP2M(
  s: NoiseSchedule,
  epsFn: EpsFn,
  xT: Tensor,
  seq: number[],
  clip: boolean,
  o: SampleOptions,
): Tensor {
  const alpha = (t: number) => Math.sqrt(s.alphasCumprod[t]!);
  const sigma = (t: number) => Math.sqrt(1 - s.alphasCumprod[t]!);
  const lambda = (t: number) => Math.log(alpha(t) / sigma(t));
  let x = xT.alias();
  let prevX0: Tensor | null = null;
  let prevH = 0;
  for (let i = 0; i < seq.length; i++) {
    const t = seq[i]!;
    const x0 = torch.keep(torch.tidy(() => predictX0(x, epsFn(x, t), s.alphasCumprod[t]!, clip)));
    if (i + 1 === seq.length) {
      // Last evaluation: return the data prediction at the final timestep.
      x.dispose();
      prevX0?.dispose();
      o.onStep?.(i + 1, seq.length);
      return x0;
    }
    const tn = seq[i + 1]!;
    const h = lambda(tn) - lambda(t);
    const lowerOrder = prevX0 === null || (seq.length < 15 && i + 2 === seq.length);
    const next = torch.tidy(() => {
      let d = x0;
      if (!lowerOrder) {
        const r = prevH / h;
        d = x0.mul(1 + 1 / (2 * r)).sub(prevX0!.mul(1 / (2 * r)));
      }
      return x.mul(sigma(tn) / sigma(t)).sub(d.mul(alpha(tn) * Math.expm1(-h)));
    });
    x.dispose();
    prevX0?.dispose();
    x = next;
    prevX0 = x0;
    prevH = h;
    o.onStep?.(i + 1, seq.length);
  }
  throw new Error('unreachable');
}
