// End to end: small networks learn toy tasks, and memory stays flat over 200 training steps.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as nn from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';
import * as torch from '../../src/torch/index.js';

function accuracy(logits: torch.Tensor, y: torch.Tensor): number {
  return torch.tidy(() => logits.argmax(1).eq(y).float().mean().item());
}

describe('training', () => {
  test('an MLP learns XOR quadrants', () => {
    torch.manualSeed(0);
    const g = new torch.Generator(1);
    const x = torch.keep(torch.rand([512, 2], { generator: g }).mul(2).sub(1));
    const y = torch.keep(torch.tidy(() => x.select(1, 0).mul(x.select(1, 1)).gt(0).long()));
    const mlp = new nn.Sequential(
      new nn.Linear(2, 32),
      new nn.ReLU(),
      new nn.Linear(32, 32),
      new nn.ReLU(),
      new nn.Linear(32, 2),
    );
    const opt = new optim.AdamW(mlp.parameters(), { lr: 1e-2, weightDecay: 0 });
    for (let i = 0; i < 300; i++) {
      torch.tidy(() => {
        const loss = torch.crossEntropy(mlp.forward(x), y);
        opt.zeroGrad();
        loss.backward();
        opt.step();
      });
    }
    const acc = torch.noGrad(() => accuracy(mlp.forward(x), y));
    assert.ok(acc > 0.95, `accuracy ${acc}`);
  });

  test('a conv net tells horizontal from vertical bars; live tensors and RSS stay flat over 200 steps', () => {
    torch.manualSeed(0);
    const g = new torch.Generator(2);
    function batch(n: number): { x: torch.Tensor; y: torch.Tensor } {
      return torch.tidy(() => {
        const y = torch.randint(0, 2, [n], { generator: g });
        const pos = torch.randint(0, 8, [n], { generator: g });
        const line = torch.oneHot(pos, 8).float().unsqueeze(2).expand(n, 8, 8);
        const vertical = y.float().reshape(n, 1, 1);
        const img = line.mul(vertical.rsub(1)).add(line.transpose(1, 2).mul(vertical));
        return { x: img.unsqueeze(1).add(torch.randn([n, 1, 8, 8], { generator: g }).mul(0.3)), y };
      });
    }
    const net = new nn.Sequential(
      new nn.Conv2d(1, 8, 3, { padding: 1 }),
      new nn.ReLU(),
      new nn.Lambda((t) => torch.maxPool2d(t, 2)),
      new nn.Conv2d(8, 16, 3, { padding: 1 }),
      new nn.GroupNorm(4, 16),
      new nn.SiLU(),
      new nn.Lambda((t) => torch.adaptiveAvgPool2d(t, 1)),
      new nn.Flatten(),
      new nn.Linear(16, 2),
    );
    const opt = new optim.AdamW(net.parameters(), { lr: 5e-3 });
    const step = () =>
      torch.tidy(() => {
        const { x, y } = batch(32);
        const loss = torch.crossEntropy(net.forward(x), y);
        opt.zeroGrad();
        loss.backward();
        optim.clipGradNorm_(net.parameters(), 1);
        opt.step();
        return loss.item();
      });
    for (let i = 0; i < 10; i++) step();
    const live = torch.liveTensors();
    const rss = process.memoryUsage().rss;
    for (let i = 0; i < 200; i++) step();
    assert.equal(torch.liveTensors(), live, 'live native tensors');
    const growth = (process.memoryUsage().rss - rss) / 2 ** 20;
    assert.ok(growth < 40, `RSS grew ${growth.toFixed(1)} MiB over 200 steps`);
    net.eval();
    const test = batch(256);
    const acc = torch.noGrad(() => accuracy(net.forward(test.x), test.y));
    assert.ok(acc > 0.95, `accuracy ${acc}`);
  });
});
