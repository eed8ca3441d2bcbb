// Noise schedules and the forward process against closed forms.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { makeBetas, NoiseSchedule } from '../../src/diffusion/index.js';
import * as torch from '../../src/torch/index.js';
import { close, flat } from '../helpers/check.js';

describe('noise schedules', () => {
  test("LDM 'linear' is linear in sqrt(beta)", () => {
    const b = makeBetas('linear', 1000);
    close(b[0]!, 1e-4, 1e-12);
    close(b[999]!, 0.02, 1e-12);
    const mid = ((Math.sqrt(1e-4) * 500 + Math.sqrt(0.02) * 499) / 999) ** 2;
    close(b[499]!, mid, 1e-12);
    const d = makeBetas('ddpm-linear', 11);
    close(
      Array.from(d),
      Array.from({ length: 11 }, (_, i) => 1e-4 + ((0.02 - 1e-4) * i) / 10),
      1e-12,
    );
  });

  test('cumulative products and the cosine schedule', () => {
    const s = new NoiseSchedule('linear', 1000);
    let p = 1;
    for (let i = 0; i < 1000; i++) p *= 1 - s.betas[i]!;
    close(s.alphasCumprod[999]!, p, 1e-12);
    close(s.alphasCumprod[999]!, 0.0047, 0.05); // LDM's schedule ends near 0.0047
    const c = new NoiseSchedule('cosine', 1000);
    const f = (t: number) => Math.cos((((t / 1000 + 0.008) / 1.008) * Math.PI) / 2) ** 2;
    close(c.alphasCumprod[499]!, f(500) / f(0), 1e-9);
    assert.throws(() => new NoiseSchedule('quadratic' as 'linear'), /unknown beta schedule/);
  });

  test('q_sample has mean sqrt(abar) x0 and variance 1 - abar', () => {
    const s = new NoiseSchedule('linear', 1000);
    const n = 20000;
    const x0 = torch.full([n, 1, 1, 1], 0.7);
    const t = torch.full([n], 300, { dtype: 'int64' });
    const xt = s.qSample(x0, t, torch.randn([n, 1, 1, 1], { generator: new torch.Generator(0) }));
    const a = s.alphasCumprod[300]!;
    close(xt.mean().item(), Math.sqrt(a) * 0.7, 0.02);
    close(xt.var().item(), 1 - a, 0.03);
  });

  test('v-prediction target converts back to the noise', () => {
    const s = new NoiseSchedule('linear', 1000);
    const g = new torch.Generator(1);
    const x0 = torch.randn([4, 1, 2, 2], { generator: g }),
      noise = torch.randn([4, 1, 2, 2], { generator: g });
    const t = torch.tensor([0, 10, 500, 999], { dtype: 'int64' });
    const xt = s.qSample(x0, t, noise);
    const v = s.target('v', x0, noise, t);
    close(s.toEps('v', v, xt, t), flat(noise), 1e-5);
    close(s.target('eps', x0, noise, t), flat(noise), 0);
  });
});
