// Schedulers in diffusers' shape: a pure function of the noise schedule that, given the model's noise
// estimate at one timestep, takes the sample one step back. setTimesteps(n) picks the timesteps;
// step(modelOutput, i, sample), i the index into those timesteps, returns { prevSample, predOriginal }. DDPM, DDIM and DPM-Solver++(2M)
// work on the variance-preserving x_t; Euler and Heun (Karras et al. 2022) on k-diffusion's
// x = x_t / sqrt(abar_t) with sigma = sqrt((1 - abar_t) / abar_t), the model seeing x / sqrt(sigma^2 + 1).
import * as torch from '../torch/index.js';
import { keep, type Device, type Generator, type Tensor } from '../torch/index.js';
import type { NoiseSchedule } from './schedule.js';

export type SamplerName = 'ddpm' | 'ddim' | 'dpm++2m' | 'euler' | 'heun';
export const SAMPLERS: readonly SamplerName[] = ['ddpm', 'ddim', 'dpm++2m', 'euler', 'heun'];

/** A sampler as the reports name it: DDIM-25 (eta 0), DDPM-25, DPM-Solver++(2M)-25. */
export function describeSampler(sampler: SamplerName, steps: number, eta = 0): string {
  if (sampler === 'ddim') return `DDIM-${steps} (eta ${eta})`;
  if (sampler === 'dpm++2m') return `DPM-Solver++(2M)-${steps}`;
  return `${sampler.toUpperCase()}-${steps}`;
}

export interface SchedulerOptions {
  /** DDIM only: 0 = deterministic, 1 = DDPM-like */
  eta?: number;
  /** clip predicted x0 to [-1, 1] (default true; DDPM, DDIM and DPM-Solver++ only) */
  clipX0?: boolean;
}

export interface StepOptions {
  /** draws the ancestral noise (DDPM, DDIM with eta > 0) on the CPU; it is moved to the sample's device */
  generator?: Generator;
}

export interface SchedulerOutput {
  /** the sample at the next timestep (x_0 after the last step) */
  prevSample: Tensor;
  /** the model's estimate of x_0 at this step */
  predOriginal: Tensor;
}

export interface Scheduler {
  /** the timestep of each model evaluation, in order (after setTimesteps) */
  readonly timesteps: readonly number[];
  /** x_T is standard normal noise times this */
  readonly initNoiseSigma: number;
  /** Chooses `steps` timesteps (and resets any multistep state). */
  setTimesteps(steps: number): void;
  /** The network's input for evaluation i (the sample itself for the variance-preserving schedulers). */
  scaleModelInput(sample: Tensor, i: number): Tensor;
  /**
   * One step back from evaluation i. Args: modelOutput [B, ...] the noise estimate eps at timesteps[i];
   * sample [B, ...] the current sample. Returns new tensors; the inputs are not changed.
   */
  step(modelOutput: Tensor, i: number, sample: Tensor, o?: StepOptions): SchedulerOutput;
  /** Frees tensors a multistep scheduler keeps between steps. */
  reset(): void;
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
  const x0 = x.sub(eps.mul(Math.sqrt(1 - abar))).div(Math.sqrt(abar));
  return clip ? x0.clamp(-1, 1) : x0;
}

/** Standard normal noise from the CPU generator, moved to `device`: a seed gives the same noise everywhere. */
export function gaussian(shape: number[], generator: Generator | undefined, device?: Device): Tensor {
  const z = torch.randn(shape, { generator });
  if (!device || device === 'cpu') return z;
  try {
    return z.to(device);
  } finally {
    z.dispose();
  }
}

/** What the variance-preserving schedulers share: the timesteps and abar at step i and after it. */
abstract class VPScheduler implements Scheduler {
  timesteps: number[] = [];
  readonly initNoiseSigma = 1;
  protected readonly clip: boolean;

  constructor(
    protected readonly schedule: NoiseSchedule,
    o: SchedulerOptions = {},
  ) {
    this.clip = o.clipX0 ?? true;
  }
  setTimesteps(steps: number): void {
    this.reset();
    this.timesteps = timestepSequence(this.schedule.T, steps);
  }
  scaleModelInput(sample: Tensor): Tensor {
    return sample;
  }
  protected abar(i: number): number {
    return this.schedule.samplingAlphasCumprod[this.timesteps[i]!]!;
  }
  /** abar after step i (1 after the last: the clean data) */
  protected abarNext(i: number): number {
    return i + 1 < this.timesteps.length ? this.abar(i + 1) : 1;
  }
  reset(): void {}
  abstract step(modelOutput: Tensor, i: number, sample: Tensor, o?: StepOptions): SchedulerOutput;
}

/** Ancestral sampling with the posterior q(x_prev | x_t, x0) of the (possibly respaced) chain (Ho et al.). */
export class DDPMScheduler extends VPScheduler {
  step(eps: Tensor, i: number, x: Tensor, o: StepOptions = {}): SchedulerOutput {
    const a = this.abar(i),
      aPrev = this.abarNext(i);
    const beta = 1 - a / aPrev;
    const x0 = predictX0(x, eps, a, this.clip);
    const c0 = (Math.sqrt(aPrev) * beta) / (1 - a);
    const ct = (Math.sqrt(1 - beta) * (1 - aPrev)) / (1 - a);
    const mean = x0.mul(c0).add(x.mul(ct));
    const variance = (beta * (1 - aPrev)) / (1 - a);
    const last = i + 1 === this.timesteps.length;
    const prevSample = last ? mean : mean.add(gaussian(x.shape, o.generator, x.device).mul(Math.sqrt(variance)));
    return { prevSample, predOriginal: x0 };
  }
}

/** DDIM (Song et al.): eta = 0 is the deterministic probability-flow sampler, eta = 1 DDPM-like. */
export class DDIMScheduler extends VPScheduler {
  private readonly eta: number;
  constructor(schedule: NoiseSchedule, o: SchedulerOptions = {}) {
    super(schedule, o);
    this.eta = o.eta ?? 0;
  }
  step(modelEps: Tensor, i: number, x: Tensor, o: StepOptions = {}): SchedulerOutput {
    const a = this.abar(i),
      aPrev = this.abarNext(i);
    let eps = modelEps;
    const x0 = predictX0(x, eps, a, this.clip);
    // With clipping, re-derive eps from the clipped x0 so the update stays on the DDIM manifold.
    if (this.clip) eps = x.sub(x0.mul(Math.sqrt(a))).div(Math.sqrt(1 - a));
    const sigma = this.eta * Math.sqrt((1 - aPrev) / (1 - a)) * Math.sqrt(Math.max(0, 1 - a / aPrev));
    let xn = x0.mul(Math.sqrt(aPrev)).add(eps.mul(Math.sqrt(Math.max(0, 1 - aPrev - sigma * sigma))));
    if (sigma > 0) xn = xn.add(gaussian(x.shape, o.generator, x.device).mul(sigma));
    return { prevSample: xn, predOriginal: x0 };
  }
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022) in data prediction, multistep, over lambda = log(alpha/sigma).
 * The first step is first order; with fewer than 15 steps the last is too (as in diffusers), which
 * keeps it stable at small step counts. The last step returns the data prediction at t = 0.
 */
export class DPMSolverPP2MScheduler extends VPScheduler {
  private prevX0: Tensor | null = null;
  private prevH = 0;

  override reset(): void {
    this.prevX0?.dispose();
    this.prevX0 = null;
    this.prevH = 0;
  }
  step(eps: Tensor, i: number, x: Tensor): SchedulerOutput {
    const seq = this.timesteps;
    const t = seq[i]!;
    const x0 = predictX0(x, eps, this.schedule.samplingAlphasCumprod[t]!, this.clip);
    if (i + 1 === seq.length) {
      this.reset();
      return { prevSample: x0, predOriginal: x0 };
    }
    const ac = this.schedule.samplingAlphasCumprod;
    const alpha = (s: number) => Math.sqrt(ac[s]!);
    const sigma = (s: number) => Math.sqrt(1 - ac[s]!);
    const lambda = (s: number) => Math.log(alpha(s) / sigma(s));
    const tn = seq[i + 1]!;
    const h = lambda(tn) - lambda(t);
    const lowerOrder = this.prevX0 === null || (seq.length < 15 && i + 2 === seq.length);
    let d = x0;
    if (!lowerOrder) {
      const r = this.prevH / h;
      d = x0.mul(1 + 1 / (2 * r)).sub(this.prevX0!.mul(1 / (2 * r)));
    }
    const prevSample = x.mul(sigma(tn) / sigma(t)).sub(d.mul(alpha(tn) * Math.expm1(-h)));
    this.prevX0?.dispose();
    // Kept across the step's memory scope: the next step's second-order term needs it.
    this.prevX0 = keep(x0.alias());
    this.prevH = h;
    return { prevSample, predOriginal: x0 };
  }
}

/**
 * Karras et al.'s samplers over k-diffusion's sigmas: sigma_i = sqrt((1 - abar) / abar) at the chosen
 * timesteps, then 0. The sample lives in x = x_t / sqrt(abar) (variance sigma^2 + 1).
 */
abstract class KarrasScheduler implements Scheduler {
  timesteps: number[] = [];
  /** sigma of each evaluation */
  protected evalSigmas: number[] = [];
  /** where each evaluation's step lands */
  protected nextSigmas: number[] = [];
  initNoiseSigma = 1;

  constructor(protected readonly schedule: NoiseSchedule) {}

  protected sigmaAt(t: number): number {
    const a = this.schedule.samplingAlphasCumprod[t]!;
    return Math.sqrt((1 - a) / a);
  }
  abstract setTimesteps(steps: number): void;
  scaleModelInput(sample: Tensor, i: number): Tensor {
    return sample.div(Math.sqrt(this.evalSigmas[i]! ** 2 + 1));
  }
  reset(): void {}
  abstract step(modelOutput: Tensor, i: number, sample: Tensor, o?: StepOptions): SchedulerOutput;
}

/** Euler's method on the probability-flow ODE dx/dsigma = eps (Karras et al. 2022, Algorithm 1 without churn). */
export class EulerScheduler extends KarrasScheduler {
  setTimesteps(steps: number): void {
    this.timesteps = timestepSequence(this.schedule.T, steps);
    this.evalSigmas = this.timesteps.map((t) => this.sigmaAt(t));
    this.nextSigmas = [...this.evalSigmas.slice(1), 0];
    this.initNoiseSigma = Math.sqrt(this.evalSigmas[0]! ** 2 + 1);
  }
  step(eps: Tensor, i: number, x: Tensor): SchedulerOutput {
    const sigma = this.evalSigmas[i]!,
      next = this.nextSigmas[i]!;
    return { prevSample: x.add(eps.mul(next - sigma)), predOriginal: x.sub(eps.mul(sigma)) };
  }
}

/**
 * Heun's second-order method (Karras et al. 2022, Algorithm 1 without churn). Each step but the last
 * evaluates the model twice, at sigma_i and at the Euler estimate at sigma_{i+1}; the timesteps list
 * holds both evaluations, as diffusers' HeunDiscreteScheduler does, so `steps` sigmas take 2 steps - 1
 * evaluations.
 */
export class HeunScheduler extends KarrasScheduler {
  /** the sample and slope at the start of the step being corrected */
  private start: { x: Tensor; d: Tensor } | null = null;

  setTimesteps(steps: number): void {
    this.reset();
    const seq = timestepSequence(this.schedule.T, steps);
    const sig = seq.map((t) => this.sigmaAt(t));
    this.timesteps = [];
    this.evalSigmas = [];
    this.nextSigmas = [];
    seq.forEach((t, k) => {
      // The predictor at sigma_k, then (unless the step ends at 0) the corrector at sigma_{k+1}.
      this.timesteps.push(t);
      this.evalSigmas.push(sig[k]!);
      this.nextSigmas.push(sig[k + 1] ?? 0);
      if (k + 1 < seq.length) {
        this.timesteps.push(seq[k + 1]!);
        this.evalSigmas.push(sig[k + 1]!);
        this.nextSigmas.push(sig[k + 1]!);
      }
    });
    this.initNoiseSigma = Math.sqrt(sig[0]! ** 2 + 1);
  }
  override reset(): void {
    this.start?.x.dispose();
    this.start?.d.dispose();
    this.start = null;
  }
  step(eps: Tensor, i: number, x: Tensor): SchedulerOutput {
    const sigma = this.evalSigmas[i]!;
    const predOriginal = x.sub(eps.mul(sigma));
    if (this.start === null) {
      const next = this.nextSigmas[i]!;
      const prevSample = x.add(eps.mul(next - sigma));
      // A step that ends at sigma = 0 stays first order (the slope there is undefined).
      if (next > 0) this.start = { x: keep(x.alias()), d: keep(eps.alias()) };
      return { prevSample, predOriginal };
    }
    // Corrector: average the slopes at both ends, step again from the start.
    const { x: x0, d: d0 } = this.start;
    const startSigma = this.evalSigmas[i - 1]!;
    const prevSample = x0.add(d0.add(eps).mul(0.5 * (sigma - startSigma)));
    this.reset();
    return { prevSample, predOriginal };
  }
}

/** The scheduler of a sampler name. */
export function makeScheduler(name: SamplerName, schedule: NoiseSchedule, o: SchedulerOptions = {}): Scheduler {
  switch (name) {
    case 'ddpm':
      return new DDPMScheduler(schedule, o);
    case 'ddim':
      return new DDIMScheduler(schedule, o);
    case 'dpm++2m':
      return new DPMSolverPP2MScheduler(schedule, o);
    case 'euler':
      return new EulerScheduler(schedule);
    case 'heun':
      return new HeunScheduler(schedule);
    default:
      throw new TypeError(`unknown sampler '${String(name)}'; expected ${SAMPLERS.join(', ')}`);
  }
}
