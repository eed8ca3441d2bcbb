// The one denoising loop: any scheduler (DDPM, DDIM, DPM-Solver++(2M), Euler, Heun) over any noise
// predictor. The predictor is a function (x_t, t) -> eps, so guidance, conditions and the network stay
// outside (diffusers' separation); a callback sees every step (progress, previews, a live view).
import * as torch from '../torch/index.js';
import type { Device, Generator, Tensor } from '../torch/index.js';
import type { NoiseSchedule } from './schedule.js';
import { gaussian, makeScheduler, type SamplerName, type Scheduler } from './schedulers.js';

export { timestepSequence, type SamplerName } from './schedulers.js';

/** eps estimate for a batch at one timestep (all samples share t). */
export type EpsFn = (x: Tensor, t: number) => Tensor;

/** What a step callback sees: the evaluation count, the timestep, and the new sample and x0 estimate. */
export interface StepInfo {
  i: number;
  total: number;
  t: number;
  /** the sample after this step (valid during the callback only) */
  sample: Tensor;
  /** the model's x0 estimate at this step (valid during the callback only) */
  predOriginal: Tensor;
}

export interface SampleOptions {
  sampler: SamplerName;
  /** timesteps used, 1..T (network evaluations; Heun takes 2 steps - 1) */
  steps: number;
  /** DDIM only: 0 = deterministic, 1 = DDPM-like */
  eta?: number;
  /** clip predicted x0 to [-1, 1] (default true) */
  clipX0?: boolean;
  generator?: Generator;
  /** where x_T is placed (the network's device); the noise is always drawn on the CPU, then moved */
  device?: Device;
  onStep?: (i: number, total: number, info: StepInfo) => void;
}

/** Network evaluations a sampler makes for `steps`. */
export function numEvaluations(sampler: SamplerName, steps: number): number {
  return sampler === 'heun' ? 2 * steps - 1 : steps;
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

/** Runs the reverse process from a given x_T (standard normal; scaled for schedulers that need it). */
export function sampleFrom(schedule: NoiseSchedule, epsFn: EpsFn, xT: Tensor, o: SampleOptions): Tensor {
  const scheduler = makeScheduler(o.sampler, schedule, { eta: o.eta, clipX0: o.clipX0 });
  scheduler.setTimesteps(o.steps);
  return denoise(scheduler, epsFn, xT, o);
}

/**
 * The generation loop: for each of the scheduler's timesteps, the noise estimate at the scaled input,
 * then the scheduler's step. Each step is one memory scope; the returned x_0 is the caller's.
 */
export function denoise(
  scheduler: Scheduler,
  epsFn: EpsFn,
  xT: Tensor,
  o: { generator?: Generator; onStep?: SampleOptions['onStep'] } = {},
): Tensor {
  const ts = scheduler.timesteps;
  return torch.noGrad(() => {
    let x = scheduler.initNoiseSigma === 1 ? xT.alias() : xT.mul(scheduler.initNoiseSigma);
    try {
      for (let i = 0; i < ts.length; i++) {
        const next = torch.tidy(() => {
          const eps = epsFn(scheduler.scaleModelInput(x, i), ts[i]!);
          const out = scheduler.step(eps, i, x, { generator: o.generator });
          if (o.onStep) {
            const info = {
              i: i + 1,
              total: ts.length,
              t: ts[i]!,
              sample: out.prevSample,
              predOriginal: out.predOriginal,
            };
            o.onStep(i + 1, ts.length, info);
          }
          return out.prevSample;
        });
        x.dispose();
        x = next;
      }
      return x;
    } catch (e) {
      x.dispose();
      throw e;
    } finally {
      scheduler.reset();
    }
  });
}
