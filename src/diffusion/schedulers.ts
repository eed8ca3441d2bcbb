// The schedulers over libtorch tensors: the arithmetic of scheduler-math.ts (written once, also run on
// Float32Arrays by the exported web page), with the step's memory scope (kept tensors) and the noise drawn
// from the CPU generator and moved to the sample's device.
import * as torch from '../torch/index.js';
import { keep, type Device, type Generator, type Tensor } from '../torch/index.js';
import {
  DDIMCore,
  DDPMCore,
  DPMSolverPP2MCore,
  EulerCore,
  HeunCore,
  makeSchedulerCore,
  type Retain,
  type SamplerName,
  type ScheduleLike,
  type SchedulerCore,
  type SchedulerOptions,
} from './scheduler-math.js';

export {
  describeSampler,
  SAMPLERS,
  timestepSequence,
  type SamplerName,
  type SchedulerOptions,
} from './scheduler-math.js';

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

/** Tensors kept past a step's memory scope (tidy) until the scheduler lets them go. */
const KEPT: Retain<Tensor> = { hold: (t) => keep(t.alias()), release: (t) => t.dispose() };

/** A scheduler core bound to tensors. */
class TensorScheduler implements Scheduler {
  constructor(private readonly core: SchedulerCore<Tensor>) {}
  get timesteps(): readonly number[] {
    return this.core.timesteps;
  }
  get initNoiseSigma(): number {
    return this.core.initNoiseSigma;
  }
  setTimesteps(steps: number): void {
    this.core.setTimesteps(steps);
  }
  scaleModelInput(sample: Tensor, i: number): Tensor {
    const d = this.core.inputDivisor(i);
    return d === 1 ? sample : sample.div(d);
  }
  step(modelOutput: Tensor, i: number, sample: Tensor, o: StepOptions = {}): SchedulerOutput {
    return this.core.step(modelOutput, i, sample, () => gaussian(sample.shape, o.generator, sample.device));
  }
  reset(): void {
    this.core.reset();
  }
}

/** Ancestral sampling with the posterior q(x_prev | x_t, x0) of the (possibly respaced) chain (Ho et al.). */
export class DDPMScheduler extends TensorScheduler {
  constructor(schedule: ScheduleLike, o: SchedulerOptions = {}) {
    super(new DDPMCore(schedule, o, KEPT));
  }
}

/** DDIM (Song et al.): eta = 0 is the deterministic probability-flow sampler, eta = 1 DDPM-like. */
export class DDIMScheduler extends TensorScheduler {
  constructor(schedule: ScheduleLike, o: SchedulerOptions = {}) {
    super(new DDIMCore(schedule, o, KEPT));
  }
}

/** DPM-Solver++(2M) (Lu et al. 2022), multistep; see DPMSolverPP2MCore. */
export class DPMSolverPP2MScheduler extends TensorScheduler {
  constructor(schedule: ScheduleLike, o: SchedulerOptions = {}) {
    super(new DPMSolverPP2MCore(schedule, o, KEPT));
  }
}

/** Euler's method on the probability-flow ODE (Karras et al. 2022). */
export class EulerScheduler extends TensorScheduler {
  constructor(schedule: ScheduleLike) {
    super(new EulerCore(schedule, KEPT));
  }
}

/** Heun's second-order method (Karras et al. 2022); see HeunCore. */
export class HeunScheduler extends TensorScheduler {
  constructor(schedule: ScheduleLike) {
    super(new HeunCore(schedule, KEPT));
  }
}

/** The scheduler of a sampler name. */
export function makeScheduler(name: SamplerName, schedule: ScheduleLike, o: SchedulerOptions = {}): Scheduler {
  return new TensorScheduler(makeSchedulerCore<Tensor>(name, schedule, o, KEPT));
}
