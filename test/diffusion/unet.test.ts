// The UNet: shapes, condition checks, and that a tiny one learns two images well enough to sample them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { guidedEps, NoiseSchedule, sample, timestepEmbedding, UNet, unetConfig } from '../../src/diffusion/index.js';
import * as optim from '../../src/optim/index.js';
import * as torch from '../../src/torch/index.js';
import { close, flat } from '../helpers/check.js';

describe('UNet', () => {
  test('shapes, parameter names and condition checks', () => {
    torch.manualSeed(0);
    const m = new UNet(
      unetConfig('tiny', {
        imageSize: 16,
        channels: 3,
        condDim: 5,
        spatialCondChannels: 2,
        resblockUpdown: false,
        attentionDs: [2],
      }),
    );
    const y = m.forward(
      torch.randn([2, 3, 16, 16]),
      torch.tensor([0, 999], { dtype: 'int64' }),
      torch.zeros([2, 5]),
      torch.zeros([2, 2, 16, 16]),
    );
    assert.deepEqual(y.shape, [2, 3, 16, 16]);
    const names = [...m.stateDict().keys()];
    assert.ok(
      names.includes('time_embed.0.weight') && names.includes('cond_embed.2.bias') && names.includes('out_conv.weight'),
    );
    assert.throws(
      () =>
        m.forward(
          torch.randn([2, 3, 16, 16]),
          torch.zeros([2], { dtype: 'int64' }),
          torch.zeros([2, 4]),
          torch.zeros([2, 2, 16, 16]),
        ),
      /condition \[2, 5\]/,
    );
    assert.throws(
      () => m.forward(torch.randn([2, 3, 16, 16]), torch.zeros([2], { dtype: 'int64' }), torch.zeros([2, 5])),
      /condition maps/,
    );
    assert.throws(
      () =>
        m.forward(
          torch.randn([2, 1, 16, 16]),
          torch.zeros([2], { dtype: 'int64' }),
          torch.zeros([2, 5]),
          torch.zeros([2, 2, 16, 16]),
        ),
      /expects \[B, 3, 16, 16\]/,
    );
    assert.throws(() => new UNet(unetConfig('small', { imageSize: 30, channels: 1 })), /not divisible/);
    const add = new UNet(unetConfig('tiny', { imageSize: 8, channels: 1, condDim: 3, condMode: 'add' }));
    assert.deepEqual(
      add.forward(torch.randn([1, 1, 8, 8]), torch.zeros([1], { dtype: 'int64' }), torch.ones([1, 3])).shape,
      [1, 1, 8, 8],
    );
    // Zero-initialised output layer: an untrained model predicts zero noise.
    assert.ok(flat(y).every((v) => v === 0));
  });

  test("small64: 64 px colour with four levels and attention at 16 and 8 px (the paper's layout)", () => {
    torch.manualSeed(0);
    const m = new UNet(unetConfig('small64', { imageSize: 64, channels: 3, condDim: 10 }));
    const y = torch.noGrad(() =>
      m.forward(torch.randn([2, 3, 64, 64]), torch.tensor([1, 500], { dtype: 'int64' }), torch.zeros([2, 10])),
    );
    assert.deepEqual(y.shape, [2, 3, 64, 64]);
    y.dispose();
    // input blocks: 0 the stem; levels at 64, 32, 16, 8 px of two res blocks each, a downsampling block between
    const attention = new Set(
      [...m.stateDict().keys()]
        .filter((k) => k.startsWith('input_blocks.') && k.endsWith('.qkv.weight'))
        .map((k) => Number(k.split('.')[1])),
    );
    assert.deepEqual(
      [...attention].sort((a, b) => a - b),
      [7, 8, 10, 11],
    );
    assert.ok(m.numParameters() > 5e6 && m.numParameters() < 20e6, `${m.numParameters()} parameters`);
    m.dispose();
  });

  test('sinusoidal timestep embedding', () => {
    const e = timestepEmbedding(torch.tensor([0, 1], { dtype: 'int64' }), 4);
    close(e, [1, 1, 0, 0, Math.cos(1), Math.cos(1e-2), Math.sin(1), Math.sin(1e-2)], 1e-6);
  });

  test('a tiny conditional UNet overfits two images and samples each from its condition', () => {
    torch.manualSeed(0);
    const size = 8;
    const halves = torch.tidy(() =>
      torch
        .arange(size)
        .lt(size / 2)
        .float()
        .mul(2)
        .sub(1)
        .reshape(size, 1)
        .expand(size, size)
        .reshape(1, 1, size, size),
    );
    const gradient = torch.tidy(() =>
      torch.linspace(-1, 1, size).reshape(1, size).expand(size, size).reshape(1, 1, size, size),
    );
    const data = torch.keep(torch.cat([halves, gradient], 0));
    const cond = torch.keep(torch.eye(2));
    const schedule = new NoiseSchedule('linear', 1000);
    const model = new UNet(unetConfig('tiny', { imageSize: size, channels: 1, condDim: 2, baseChannels: 32 }));
    const opt = new optim.AdamW(model.parameters(), { lr: 2e-3, weightDecay: 0 });
    const g = new torch.Generator(1);
    for (let step = 0; step < 400; step++) {
      torch.tidy(() => {
        const idx = torch.randint(0, 2, [16], { generator: g });
        const x0 = data.index([idx]);
        const t = torch.randint(0, 1000, [16], { generator: g });
        const noise = torch.randn(x0.shape, { generator: g });
        const loss = torch.mseLoss(model.forward(schedule.qSample(x0, t, noise), t, cond.index([idx])), noise);
        opt.zeroGrad();
        loss.backward();
        opt.step();
      });
    }
    model.eval();
    const c = torch.tensor([
      [1, 0],
      [0, 1],
      [1, 0],
      [0, 1],
    ]);
    const eps = guidedEps((x, t, cc) => model.forward(x, t, cc), schedule, { scale: 1, cond: c, maps: null });
    const out = sample(schedule, eps, [4, 1, size, size], {
      sampler: 'ddim',
      steps: 50,
      generator: new torch.Generator(7),
    });
    for (let i = 0; i < 4; i++) {
      const target = data.select(0, i % 2);
      const mse = torch.tidy(() => out.select(0, i).sub(target).square().mean().item());
      assert.ok(mse < 0.05, `sample ${i} MSE ${mse.toFixed(4)} to its condition's image`);
    }
  });
});
