// The schedulers' arithmetic, written once over any array with Tensor's arithmetic (add, sub, mul and div by
// a number, clamp): libtorch tensors in the project (schedulers.ts binds them, with the memory scopes and
// the generator's noise), Float32Arrays where there is no libtorch (the exported web page). In diffusers'
// shape: setTimesteps(n) picks the timesteps; step(modelOutput, i, sample), i the index into those
// timesteps, returns { prevSample, predOriginal }. DDPM, DDIM and DPM-Solver++(2M) work on the
// variance-preserving x_t; Euler and Heun (Karras et al. 2022) on k-diffusion's x = x_t / sqrt(abar_t) with
// sigma = sqrt((1 - abar_t) / abar_t), the model seeing x / sqrt(sigma^2 + 1). No imports, so that a
// browser runs this file as it is.

/** What the schedulers need of an array: Tensor's arithmetic (the results are new arrays). */
export interface Vec<V> {
  add(other: V): V;
  sub(other: V): V;
  mul(s: number): V;
  div(s: number): V;
  clamp(lo: number, hi: number): V;
}

/** What the schedulers read of a noise schedule (NoiseSchedule, or an exported model's metadata). */
export interface ScheduleLike {
  readonly T: number;
  /** abar_t as the samplers use it (a zero terminal abar raised to a tiny value) */
  readonly samplingAlphasCumprod: ArrayLike<number>;
}

/** How a multistep scheduler keeps an array past the step that made it, and lets it go. */
export interface Retain<V> {
  hold(v: V): V;
  release(v: V): void;
}
const keepNothing = <V>(): Retain<V> => ({ hold: (v) => v, release: () => {} });

export interface StepResult<V> {
  /** the sample at the next timestep (x_0 after the last step) */
  prevSample: V;
  /** the model's estimate of x_0 at this step */
  predOriginal: V;
}

export interface SchedulerCore<V> {
  /** the timestep of each model evaluation, in order (after setTimesteps) */
  readonly timesteps: readonly number[];
  /** x_T is standard normal noise times this */
  readonly initNoiseSigma: number;
  /** Chooses `steps` timesteps (and resets any multistep state). */
  setTimesteps(steps: number): void;
  /** The network's input for evaluation i is the sample divided by this (1: the sample itself). */
  inputDivisor(i: number): number;
  /**
   * One step back from evaluation i. Args: modelOutput the noise estimate eps at timesteps[i]; sample the
   * current sample; noise, standard normal noise shaped like the sample, for the steps that draw it (DDPM,
   * DDIM with eta > 0). Returns new arrays; the inputs are not changed.
   */
  step(modelOutput: V, i: number, sample: V, noise?: () => V): StepResult<V>;
  /** Lets go of what a multistep scheduler keeps between steps. */
  reset(): void;
}

function draw<V>(noise: (() => V) | undefined): V {
  if (!noise) throw new Error('this step draws noise: give it a source of standard normal noise');
  return noise();
}

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

/** `steps` timesteps evenly spread over [0, T-1], descending, always ending at 0. */
export function timestepSequence(T: number, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > T)
    throw new RangeError(`steps must be an integer in [1, ${T}], got ${steps}`);
  if (steps === 1) return [T - 1];
  const seq = new Set<number>();
  for (let i = 0; i < steps; i++) seq.add(Math.round((i * (T - 1)) / (steps - 1)));
  return [...seq].sort((a, b) => b - a);
}

function predictX0<V extends Vec<V>>(x: V, eps: V, abar: number, clip: boolean): V {
  const x0 = x.sub(eps.mul(Math.sqrt(1 - abar))).div(Math.sqrt(abar));
  return clip ? x0.clamp(-1, 1) : x0;
}

/** What the variance-preserving schedulers share: the timesteps and abar at step i and after it. */
abstract class VPCore<V extends Vec<V>> implements SchedulerCore<V> {
  timesteps: number[] = [];
  readonly initNoiseSigma = 1;
  protected readonly clip: boolean;

  constructor(
    protected readonly schedule: ScheduleLike,
    o: SchedulerOptions = {},
    protected readonly retain: Retain<V> = keepNothing(),
  ) {
    this.clip = o.clipX0 ?? true;
  }
  setTimesteps(steps: number): void {
    this.reset();
    this.timesteps = timestepSequence(this.schedule.T, steps);
  }
  inputDivisor(): number {
    return 1;
  }
  protected abar(i: number): number {
    return this.schedule.samplingAlphasCumprod[this.timesteps[i]!]!;
  }
  /** abar after step i (1 after the last: the clean data) */
  protected abarNext(i: number): number {
    return i + 1 < this.timesteps.length ? this.abar(i + 1) : 1;
  }
  reset(): void {}
  abstract step(modelOutput: V, i: number, sample: V, noise?: () => V): StepResult<V>;
}

/** Ancestral sampling with the posterior q(x_prev | x_t, x0) of the (possibly respaced) chain (Ho et al.). */
export class DDPMCore<V extends Vec<V>> extends VPCore<V> {
  step(eps: V, i: number, x: V, noise?: () => V): StepResult<V> {
    const a = this.abar(i),
      aPrev = this.abarNext(i);
    const beta = 1 - a / aPrev;
    const x0 = predictX0(x, eps, a, this.clip);
    const c0 = (Math.sqrt(aPrev) * beta) / (1 - a);
    const ct = (Math.sqrt(1 - beta) * (1 - aPrev)) / (1 - a);
    const mean = x0.mul(c0).add(x.mul(ct));
    const variance = (beta * (1 - aPrev)) / (1 - a);
    const last = i + 1 === this.timesteps.length;
    const prevSample = last ? mean : mean.add(draw(noise).mul(Math.sqrt(variance)));
    return { prevSample, predOriginal: x0 };
  }
}

/** DDIM (Song et al.): eta = 0 is the deterministic probability-flow sampler, eta = 1 DDPM-like. */
export class DDIMCore<V extends Vec<V>> extends VPCore<V> {
  private readonly eta: number;
  constructor(schedule: ScheduleLike, o: SchedulerOptions = {}, retain?: Retain<V>) {
    super(schedule, o, retain);
    this.eta = o.eta ?? 0;
  }
  step(modelEps: V, i: number, x: V, noise?: () => V): StepResult<V> {
    const a = this.abar(i),
      aPrev = this.abarNext(i);
    let eps = modelEps;
    const x0 = predictX0(x, eps, a, this.clip);
    // With clipping, re-derive eps from the clipped x0 so the update stays on the DDIM manifold.
    if (this.clip) eps = x.sub(x0.mul(Math.sqrt(a))).div(Math.sqrt(1 - a));
    const sigma = this.eta * Math.sqrt((1 - aPrev) / (1 - a)) * Math.sqrt(Math.max(0, 1 - a / aPrev));
    let xn = x0.mul(Math.sqrt(aPrev)).add(eps.mul(Math.sqrt(Math.max(0, 1 - aPrev - sigma * sigma))));
    if (sigma > 0) xn = xn.add(draw(noise).mul(sigma));
    return { prevSample: xn, predOriginal: x0 };
  }
}

/**
 * DPM-Solver++(2M) (Lu et al. 2022) in data prediction, multistep, over lambda = log(alpha/sigma).
 * The first step is first order; with fewer than 15 steps the last is too (as in diffusers), which
 * keeps it stable at small step counts. The last step returns the data prediction at t = 0.
 */
export class DPMSolverPP2MCore<V extends Vec<V>> extends VPCore<V> {
  private prevX0: V | null = null;
  private prevH = 0;

  override reset(): void {
    if (this.prevX0 !== null) this.retain.release(this.prevX0);
    this.prevX0 = null;
    this.prevH = 0;
  }
  step(eps: V, i: number, x: V): StepResult<V> {
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
    if (this.prevX0 !== null) this.retain.release(this.prevX0);
    // Kept across the step's memory scope: the next step's second-order term needs it.
    this.prevX0 = this.retain.hold(x0);
    this.prevH = h;
    return { prevSample, predOriginal: x0 };
  }
}

/**
 * Karras et al.'s samplers over k-diffusion's sigmas: sigma_i = sqrt((1 - abar) / abar) at the chosen
 * timesteps, then 0. The sample lives in x = x_t / sqrt(abar) (variance sigma^2 + 1).
 */
abstract class KarrasCore<V extends Vec<V>> implements SchedulerCore<V> {
  timesteps: number[] = [];
  /** sigma of each evaluation */
  protected evalSigmas: number[] = [];
  /** where each evaluation's step lands */
  protected nextSigmas: number[] = [];
  initNoiseSigma = 1;

  constructor(
    protected readonly schedule: ScheduleLike,
    protected readonly retain: Retain<V> = keepNothing(),
  ) {}

  protected sigmaAt(t: number): number {
    const a = this.schedule.samplingAlphasCumprod[t]!;
    return Math.sqrt((1 - a) / a);
  }
  abstract setTimesteps(steps: number): void;
  inputDivisor(i: number): number {
    return Math.sqrt(this.evalSigmas[i]! ** 2 + 1);
  }
  reset(): void {}
  abstract step(modelOutput: V, i: number, sample: V): StepResult<V>;
}

/** Euler's method on the probability-flow ODE dx/dsigma = eps (Karras et al. 2022, Algorithm 1 without churn). */
export class EulerCore<V extends Vec<V>> extends KarrasCore<V> {
  setTimesteps(steps: number): void {
    this.timesteps = timestepSequence(this.schedule.T, steps);
    this.evalSigmas = this.timesteps.map((t) => this.sigmaAt(t));
    this.nextSigmas = [...this.evalSigmas.slice(1), 0];
    this.initNoiseSigma = Math.sqrt(this.evalSigmas[0]! ** 2 + 1);
  }
  step(eps: V, i: number, x: V): StepResult<V> {
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
export class HeunCore<V extends Vec<V>> extends KarrasCore<V> {
  /** the sample and slope at the start of the step being corrected */
  private start: { x: V; d: V } | null = null;

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
    if (this.start) {
      this.retain.release(this.start.x);
      this.retain.release(this.start.d);
    }
    this.start = null;
  }
  step(eps: V, i: number, x: V): StepResult<V> {
    const sigma = this.evalSigmas[i]!;
    const predOriginal = x.sub(eps.mul(sigma));
    if (this.start === null) {
      const next = this.nextSigmas[i]!;
      const prevSample = x.add(eps.mul(next - sigma));
      // A step that ends at sigma = 0 stays first order (the slope there is undefined).
      if (next > 0) this.start = { x: this.retain.hold(x), d: this.retain.hold(eps) };
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

/** The scheduler core of a sampler name, over arrays kept between steps by `retain`. */
export function makeSchedulerCore<V extends Vec<V>>(
  name: SamplerName,
  schedule: ScheduleLike,
  o: SchedulerOptions = {},
  retain?: Retain<V>,
): SchedulerCore<V> {
  switch (name) {
    case 'ddpm':
      return new DDPMCore<V>(schedule, o, retain);
    case 'ddim':
      return new DDIMCore<V>(schedule, o, retain);
    case 'dpm++2m':
      return new DPMSolverPP2MCore<V>(schedule, o, retain);
    case 'euler':
      return new EulerCore<V>(schedule, retain);
    case 'heun':
      return new HeunCore<V>(schedule, retain);
    default:
      throw new TypeError(`unknown sampler '${String(name)}'; expected ${SAMPLERS.join(', ')}`);
  }
}
