// Noise schedules and the forward process against closed forms.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DDIMScheduler, makeBetas, NoiseSchedule, TrainConfig } from '../../src/diffusion/index.js';
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

  test('zero terminal SNR: abar_T = 0, abar_0 kept, sqrt(abar) an affine map of the original (closed form)', () => {
    for (const kind of ['linear', 'ddpm-linear', 'cosine'] as const) {
      const T = 1000;
      const plain = new NoiseSchedule(kind, T);
      const z = new NoiseSchedule(kind, T, { zeroTerminalSnr: true });
      assert.equal(z.alphasCumprod[T - 1], 0, `${kind}: abar_T`);
      assert.equal(z.betas[T - 1], 1, `${kind}: the last beta takes all the signal`);
      const s0 = Math.sqrt(plain.alphasCumprod[0]!),
        sT = Math.sqrt(plain.alphasCumprod[T - 1]!);
      for (const t of [0, 1, 10, 100, 500, 900, 998]) {
        const want = ((Math.sqrt(plain.alphasCumprod[t]!) - sT) * s0) / (s0 - sT);
        close(Math.sqrt(z.alphasCumprod[t]!), want, 1e-9, `${kind} t=${t}`);
      }
      close(z.alphasCumprod[0]!, plain.alphasCumprod[0]!, 1e-12, `${kind}: the first step unchanged`);
      assert.ok(
        z.betas.every((b) => b > 0 && b <= 1),
        `${kind}: betas in (0, 1]`,
      );
      // The samplers meet abar_T at a tiny floor (finite divisions), training at exactly 0.
      const last = z.samplingAlphasCumprod[T - 1]!;
      assert.ok(last > 0 && last <= 2 ** -24 && last < z.alphasCumprod[T - 2]!, `${kind}: ${last}`);
      assert.deepEqual(z.samplingAlphasCumprod.subarray(0, T - 1), z.alphasCumprod.subarray(0, T - 1));
    }
    assert.throws(() => new NoiseSchedule('linear', 1, { zeroTerminalSnr: true }), /T >= 2/);
  });

  test('zero terminal SNR with v: x_T is pure noise in training, and the sampler gets x0 = -v back at T', () => {
    const T = 1000;
    const s = new NoiseSchedule('linear', T, { zeroTerminalSnr: true });
    const g = new torch.Generator(2);
    const x0 = torch.randn([3, 1, 4, 4], { generator: g }).clamp(-1, 1),
      noise = torch.randn([3, 1, 4, 4], { generator: g });
    const t = torch.full([3], T - 1, { dtype: 'int64' });
    const xt = s.qSample(x0, t, noise);
    close(xt, flat(noise), 1e-6);
    const v = s.target('v', x0, noise, t);
    close(v, flat(x0.neg()), 1e-6);
    // DDIM's first step from T with the perfect v recovers x0 (through the floored abar).
    const ddim = new DDIMScheduler(s, { clipX0: false });
    ddim.setTimesteps(10);
    assert.equal(ddim.timesteps[0], T - 1, 'sampling starts at T (the trailing end)');
    const { predOriginal } = ddim.step(s.toEps('v', v, xt, t), 0, xt);
    close(predOriginal, flat(x0), 5e-3);
  });

  test('zero terminal SNR needs v prediction (an eps model cannot say x0 from pure noise)', () => {
    assert.throws(
      () =>
        TrainConfig.parse({
          data: { kind: 'fashion-mnist' },
          diffusion: { prediction: 'eps', zeroTerminalSnr: true },
          train: { steps: 1 },
        }),
      /zero terminal SNR needs v prediction/,
    );
    const ok = TrainConfig.parse({
      data: { kind: 'fashion-mnist' },
      diffusion: { prediction: 'v', zeroTerminalSnr: true },
      train: { steps: 1 },
    });
    assert.equal(ok.diffusion.zeroTerminalSnr, true);
    const old = TrainConfig.parse({
      data: { kind: 'fashion-mnist' },
      diffusion: { schedule: 'linear' },
      train: { steps: 1 },
    });
    assert.equal(old.diffusion.zeroTerminalSnr, false, 'a config.json from before the option loads as it trained');
  });
});
