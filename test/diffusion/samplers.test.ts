// Samplers on a case with a known answer: data ~ N(mu, s^2) per pixel and the exact noise predictor
// E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mu) / (a s^2 + 1 - a). Every sampler must reproduce the
// data distribution's mean and spread.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NoiseSchedule, sample, sampleFrom, timestepSequence, type SamplerName } from '../../src/diffusion/index.js';
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
      () => sample(schedule, exactEps, [1], { sampler: 'euler' as SamplerName, steps: 5 }),
      /unknown sampler/,
    );
  });
});
