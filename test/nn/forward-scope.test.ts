// Forward is the model: Module.call gives each forward its own memory scope, so forward bodies create
// intermediates freely and hold no tidy/keep, and a block's intermediates are freed when it returns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as nn from '../../src/nn/index.js';
import * as torch from '../../src/torch/index.js';

class Block extends nn.Module {
  readonly lin = this.registerModule('lin', new nn.Linear(4, 4));
  peakInside = 0;
  forward(x: torch.Tensor): torch.Tensor {
    let h = x;
    for (let i = 0; i < 10; i++) h = torch.silu(this.lin.call(h)).add(h);
    this.peakInside = torch.liveTensors();
    return h;
  }
}

class Net extends nn.Module {
  readonly a = this.registerModule('a', new Block());
  readonly b = this.registerModule('b', new Block());
  afterA = 0;
  forward(x: torch.Tensor): torch.Tensor {
    const h = this.a.call(x);
    this.afterA = torch.liveTensors();
    return this.b.call(h.mul(2));
  }
}

test('call() frees what forward made but did not return, block by block', () => {
  const net = new Net();
  const x = torch.randn([2, 4]);
  const before = torch.liveTensors();
  const y = net.call(x);
  assert.equal(torch.liveTensors(), before + 1, 'only the output survives the call');
  // Block a's 30-odd intermediates were gone before block b started: only its output was alive then.
  assert.equal(net.afterA, before + 1);
  assert.ok(net.a.peakInside > before + 20);
  const again = net.call(x);
  assert.deepEqual(again.toArray(), y.toArray(), 'same output as the first call');
  for (const t of [x, y, again]) t.dispose();
  net.dispose();
});

test('gradients flow through call() scopes', () => {
  const net = new Net();
  const x = torch.randn([2, 4]);
  torch.tidy(() => net.call(x).sum().backward());
  assert.ok(net.a.lin.weight.grad && net.b.lin.weight.grad);
  assert.ok(Math.abs(net.a.lin.weight.grad.abs().sum().item()) > 0);
  x.dispose();
  net.dispose();
});
