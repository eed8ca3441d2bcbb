// Samplers on a case with a known answer: data ~ N(mu, s^2) per pixel and the exact noise predictor
// E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mu) / (a s^2 + 1 - a). Every sampler must reproduce the
// data distribution's mean and spread.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  makeScheduler,
  NoiseSchedule,
  numEvaluations,
  sample,
  sampleFrom,
  timestepSequence,
  type SamplerName,
} from '../../src/diffusion/index.js';
import * as torch from '../../src/torch/index.js';
import { close, flat } from '../helpers/check.js';

const mu = 0.3,
  sd = 0.2;
const schedule = new NoiseSchedule('linear', 1000);
const exactEps = (x: torch.Tensor, t: number) => {
  const a = schedule.alphasCumprod[t]!;
  return x.sub(Math.sqrt(a) * mu).mul(Math.sqrt(1 - a) / (a * sd * sd + 1 - a));
};

function moments(sampler: SamplerName, steps: number, eta?: number): { mean: number; std: number } {
  const x = sample(schedule, exactEps, [6000, 1, 1, 1], {
    sampler,
    steps,
    eta,
    clipX0: false,
    generator: new torch.Generator(3),
  });
  const r = { mean: x.mean().item(), std: x.std().item() };
  x.dispose();
  return r;
}

describe('samplers reproduce a Gaussian data distribution with the exact predictor', () => {
  for (const [sampler, steps, eta] of [
    ['ddim', 50, 0],
    ['ddim', 100, 1],
    ['ddpm', 250, undefined],
    ['dpm++2m', 20, undefined],
    ['dpm++2m', 10, undefined],
    ['euler', 100, undefined],
    ['heun', 25, undefined],
  ] as const) {
    test(`${sampler} ${steps} steps${eta !== undefined ? ` eta ${eta}` : ''}`, () => {
      const m = moments(sampler, steps, eta);
      close(m.mean, mu, 0.02 / mu, 'mean');
      close(m.std, sd, 0.1, 'std');
    });
  }

  test('DDIM with eta 0 is the deterministic ODE: it maps quantiles of x_T to quantiles of the data', () => {
    const xT = torch.tensor([-1, 0, 1.5]).reshape(3, 1, 1, 1);
    const x0 = sampleFrom(schedule, exactEps, xT, { sampler: 'ddim', steps: 200, eta: 0, clipX0: false });
    // The probability-flow ODE of a Gaussian is affine: x_0 = mu + sd * x_T (up to x_T's tiny signal).
    close(x0, [mu - sd, mu, mu + 1.5 * sd], 0.03);
  });

  test('same seed, same samples; different seed, different samples', () => {
    const run = (seed: number) =>
      flat(
        sample(schedule, exactEps, [8, 1, 2, 2], { sampler: 'ddpm', steps: 20, generator: new torch.Generator(seed) }),
      );
    assert.deepEqual(run(5), run(5));
    assert.notDeepEqual(run(5), run(6));
  });

  test('x0 clipping keeps predictions in [-1, 1]', () => {
    const far = (x: torch.Tensor, t: number) => {
      void t;
      return x.mul(0).sub(50);
    };
    const x = sample(schedule, far, [4, 1, 1, 1], { sampler: 'ddim', steps: 10, generator: new torch.Generator(0) });
    assert.ok(flat(x).every((v) => v >= -1 - 1e-6 && v <= 1 + 1e-6));
  });

  test('timestep sequences', () => {
    assert.deepEqual(timestepSequence(1000, 1), [999]);
    assert.deepEqual(timestepSequence(1000, 4), [999, 666, 333, 0]);
    const s = timestepSequence(1000, 250);
    assert.equal(s.length, 250);
    assert.ok(s.every((v, i) => i === 0 || v < s[i - 1]!));
    assert.equal(timestepSequence(1000, 1000).length, 1000);
    assert.throws(() => timestepSequence(1000, 0), /steps must be/);
    assert.throws(
      () => sample(schedule, exactEps, [1], { sampler: 'lms' as SamplerName, steps: 5 }),
      /unknown sampler/,
    );
  });
});

// Outputs of the samplers before they became schedulers with step() (commit c9f4abf), for a seed and a
// non-linear predictor: the refactor must not change a single bit of what a seed gives.
const BEFORE_SCHEDULERS: [SamplerName, number, number | undefined, boolean, number[]][] = [
  [
    'ddim',
    10,
    0,
    true,
    [
      0.27695250511169434, 0.3697742819786072, 0.3871501386165619, 0.1744200885295868, 0.46761977672576904,
      0.19827152788639069, 0.2563479244709015, 0.4180336892604828,
    ],
  ],
  [
    'ddim',
    7,
    0.7,
    true,
    [
      0.23878350853919983, 0.23459690809249878, 0.4109358489513397, 0.377743124961853, 0.4567878544330597,
      0.39460518956184387, 0.2944818139076233, 0.20527489483356476,
    ],
  ],
  [
    'ddpm',
    10,
    undefined,
    true,
    [
      0.23189857602119446, 0.15648066997528076, 0.38301292061805725, 0.368854284286499, 0.2828349173069,
      0.32317283749580383, 0.22503601014614105, 0.20047889649868011,
    ],
  ],
  [
    'dpm++2m',
    10,
    undefined,
    true,
    [
      0.2740449607372284, 0.3871389627456665, 0.4068949222564697, 0.1554391235113144, 0.4983813166618347,
      0.18251916766166687, 0.2487647831439972, 0.4420078694820404,
    ],
  ],
  [
    'dpm++2m',
    16,
    undefined,
    false,
    [
      0.2601335048675537, 0.448915958404541, 0.48143354058265686, 0.06434198468923569, 0.6320213675498962,
      0.1087663471698761, 0.21787749230861664, 0.5392288565635681,
    ],
  ],
];

describe('schedulers with step()', () => {
  const wavy = (x: torch.Tensor, t: number) => exactEps(x, t).add(x.mul(0.05).sin());
  test('DDPM, DDIM and DPM-Solver++(2M) give bit for bit what the whole-loop samplers gave', () => {
    for (const [sampler, steps, eta, clipX0, want] of BEFORE_SCHEDULERS) {
      const x = sample(schedule, wavy, [2, 1, 2, 2], {
        sampler,
        steps,
        eta,
        clipX0,
        generator: new torch.Generator(7),
      });
      assert.deepEqual(flat(x), want, `${sampler} ${steps}`);
    }
  });

  for (const [sampler, steps] of [
    ['euler', 200],
    ['heun', 30],
  ] as const) {
    test(`${sampler} is the probability-flow ODE: quantiles of x_T map to quantiles of the data`, () => {
      const xT = torch.tensor([-1, 0, 1.5]).reshape(3, 1, 1, 1);
      const x0 = sampleFrom(schedule, exactEps, xT, { sampler, steps, clipX0: false });
      close(x0, [mu - sd, mu, mu + 1.5 * sd], 0.03);
    });
  }

  test('Euler converges at first order and Heun at second, to the closed-form ODE solution', () => {
    // In x = x_t / sqrt(abar) the probability-flow ODE of N(mu, sd^2) data is dx/dsigma = sigma (x - mu) /
    // (sd^2 + sigma^2), solved by x - mu proportional to sqrt(sd^2 + sigma^2).
    const sMax = Math.sqrt((1 - schedule.alphasCumprod[999]!) / schedule.alphasCumprod[999]!);
    const zs = [-1, 0, 1.5];
    const want = zs.map((z) => mu + (sd * (z * Math.sqrt(sMax ** 2 + 1) - mu)) / Math.sqrt(sd ** 2 + sMax ** 2));
    const xT = torch.tensor(zs).reshape(3, 1, 1, 1);
    const err = (sampler: SamplerName, steps: number) =>
      Math.max(
        ...flat(sampleFrom(schedule, exactEps, xT, { sampler, steps, clipX0: false })).map((v, i) =>
          Math.abs(v - want[i]!),
        ),
      );
    const euler = err('euler', 19) / err('euler', 39),
      heun = err('heun', 10) / err('heun', 20);
    assert.ok(euler > 1.5 && euler < 2.5, `Euler error ratio when doubling the steps: ${euler}`);
    assert.ok(heun > 3.2, `Heun error ratio when doubling the steps: ${heun}`);
  });

  test('one Euler step from sigma to 0 lands on the x0 estimate; Heun lists its corrector evaluations', () => {
    const e = makeScheduler('euler', schedule);
    e.setTimesteps(1);
    const x = torch.tensor([2]).mul(e.initNoiseSigma);
    const eps = torch.tensor([0.5]);
    const out = e.step(eps, 0, x);
    close(out.prevSample, flat(out.predOriginal), 1e-6);
    const h = makeScheduler('heun', schedule);
    h.setTimesteps(4);
    assert.deepEqual(h.timesteps, [999, 666, 666, 333, 333, 0, 0]);
    assert.equal(numEvaluations('heun', 4), 7);
  });

  test('the step callback sees every evaluation with the new sample and x0 estimate', () => {
    const seen: number[] = [];
    const x = sample(schedule, exactEps, [2, 1, 1, 1], {
      sampler: 'ddim',
      steps: 5,
      generator: new torch.Generator(1),
      onStep: (i, total, info) => {
        seen.push(info.t);
        assert.equal(total, 5);
        assert.deepEqual(info.sample.shape, [2, 1, 1, 1]);
        assert.deepEqual(info.predOriginal.shape, [2, 1, 1, 1]);
      },
    });
    assert.deepEqual(seen, [999, 749, 500, 250, 0]);
    x.dispose();
  });
});
