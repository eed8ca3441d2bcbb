// nn: registration, PyTorch names and initialisation statistics, state dicts, devices and dtypes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as nn from '../../src/nn/index.js';
import * as torch from '../../src/torch/index.js';
import { close, flat, sameState } from '../helpers/check.js';

class Net extends nn.Module {
  conv = this.registerModule('conv', new nn.Conv2d(1, 4, 3, { padding: 1 }));
  norm = this.registerModule('norm', new nn.BatchNorm2d(4));
  head = this.registerModule('head', new nn.Sequential(new nn.Flatten(), new nn.Linear(4 * 4 * 4, 3)));
  forward(x: torch.Tensor): torch.Tensor {
    return torch.tidy(() => this.head.forward(torch.relu(this.norm.forward(this.conv.forward(x)))));
  }
}

function variance(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
}

describe('nn.Module', () => {
  test('state dict names follow PyTorch', () => {
    const net = new Net();
    assert.deepEqual(
      [...net.stateDict().keys()],
      [
        'conv.weight',
        'conv.bias',
        'norm.weight',
        'norm.bias',
        'head.1.weight',
        'head.1.bias',
        'norm.running_mean',
        'norm.running_var',
        'norm.num_batches_tracked',
      ],
    );
    assert.equal(net.parameters().length, 6);
    assert.equal(net.numParameters(), 4 * 9 + 4 + 8 + 64 * 3 + 3);
    assert.ok(net.parameters().every((p) => p.requiresGrad));
    assert.deepEqual(new nn.MultiheadAttention(8, 2).stateDict().size, 4);
    assert.deepEqual(
      [...new nn.MultiheadAttention(8, 2).stateDict().keys()],
      ['in_proj_weight', 'in_proj_bias', 'out_proj.weight', 'out_proj.bias'],
    );
  });

  test('default initialisations have PyTorch statistics', () => {
    torch.manualSeed(0);
    const lin = new nn.Linear(256, 512);
    const bound = 1 / Math.sqrt(256);
    const w = flat(lin.weight);
    assert.ok(w.every((v) => Math.abs(v) <= bound));
    close(variance(w), (bound * bound) / 3, (0.05 * (bound * bound)) / 3 / ((bound * bound) / 3));
    const conv = new nn.Conv2d(16, 32, 3);
    const cb = 1 / Math.sqrt(16 * 9);
    assert.ok(flat(conv.weight).every((v) => Math.abs(v) <= cb));
    assert.ok(flat(conv.bias!).every((v) => Math.abs(v) <= cb));
    close((variance(flat(conv.weight)) * 3) / (cb * cb), 1, 0.05);
    const emb = new nn.Embedding(100, 64, 0);
    close(variance(flat(emb.weight.narrow(0, 1, 99))), 1, 0.06);
    assert.ok(flat(emb.weight.select(0, 0)).every((v) => v === 0));
    const gn = new nn.GroupNorm(4, 8);
    assert.deepEqual(gn.weight!.toArray(), [1, 1, 1, 1, 1, 1, 1, 1]);
    const t = torch.empty([20000]);
    nn.init.truncNormal_(t, 0, 1, -2, 2);
    const tv = flat(t);
    assert.ok(tv.every((v) => v >= -2 && v <= 2));
    close(variance(tv), 0.7737, 0.03); // variance of N(0,1) truncated to [-2, 2]
    const x = torch.empty([64, 32]);
    nn.init.xavierUniform_(x);
    close(variance(flat(x)), 2 / (64 + 32), 0.1);
  });

  test('loadStateDict copies values and rejects bad dicts without changing anything', () => {
    const a = new Net(),
      b = new Net();
    b.loadStateDict(a.stateDict());
    sameState(b.stateDict(), a.stateDict());
    const before = flat(b.conv.weight);
    const sd = new Map(a.stateDict());
    sd.delete('conv.bias');
    sd.set('extra', torch.ones([1]));
    sd.set('head.1.weight', torch.ones([2, 2]));
    assert.throws(
      () => b.loadStateDict(sd),
      (e: Error) =>
        e instanceof nn.StateDictError &&
        /missing keys: conv.bias/.test(e.message) &&
        /unexpected keys: extra/.test(e.message) &&
        /head.1.weight: checkpoint \[2, 2\] vs model \[3, 64\]/.test(e.message),
    );
    assert.deepEqual(flat(b.conv.weight), before);
    const partial = new Map([['conv.weight', torch.zeros([4, 1, 3, 3])]]);
    const r = b.loadStateDict(partial, { strict: false });
    assert.ok(r.missing.includes('conv.bias'));
    assert.ok(flat(b.conv.weight).every((v) => v === 0));
  });

  test('to(dtype) casts in place and keeps references valid', () => {
    const net = new Net();
    const w = net.conv.weight;
    net.to('float64');
    assert.equal(w.dtype, 'float64');
    assert.equal(net.norm.numBatchesTracked.dtype, 'int64');
    const y = net.forward(torch.randn([2, 1, 4, 4], { dtype: 'float64' }));
    assert.equal(y.dtype, 'float64');
    assert.ok(w.requiresGrad);
  });

  test('train/eval switch BatchNorm statistics and Dropout', () => {
    const bn = new nn.BatchNorm2d(2);
    bn.forward(
      torch.tensor([
        [[[1]], [[2]]],
        [[[3]], [[6]]],
      ]),
    );
    close(bn.runningMean, [0.2, 0.4]);
    close(bn.runningVar, [0.9 + 0.1 * 2, 0.9 + 0.1 * 8]);
    assert.equal(bn.numBatchesTracked.item(), 1);
    bn.eval();
    const y = bn.forward(torch.tensor([[[[0.2]], [[0.4]]]]));
    close(y, [0, 0], 1e-4);
    // BatchNorm1d: the same statistics over [N, C]; other shapes refused.
    const bn1 = new nn.BatchNorm1d(2);
    const z = bn1.forward(
      torch.tensor([
        [1, 2],
        [3, 6],
      ]),
    );
    close(z, [-1, -1, 1, 1], 1e-3);
    close(bn1.runningMean, [0.2, 0.4]);
    assert.throws(() => bn1.forward(torch.ones([2, 2, 1, 1])), /BatchNorm1d expects \[N, C\]/);
    const drop = new nn.Dropout(0.9).eval();
    assert.deepEqual(drop.forward(torch.ones([3])).toArray(), [1, 1, 1]);
  });

  test('MultiheadAttention equals its definition', () => {
    torch.manualSeed(1);
    const mha = new nn.MultiheadAttention(8, 2, { batchFirst: true });
    const x = torch.randn([3, 5, 8]);
    const y = mha.forward(x, x, x);
    const [wq, wk, wv] = mha.inProjWeight.chunk(3);
    const [bq, bk, bv] = mha.inProjBias!.chunk(3);
    const split = (t: torch.Tensor) => t.reshape(3, 5, 2, 4).transpose(1, 2);
    const q = split(torch.linear(x, wq!, bq)),
      k = split(torch.linear(x, wk!, bk)),
      v = split(torch.linear(x, wv!, bv));
    const att = torch.softmax(q.matmul(k.mT).div(2), -1).matmul(v).transpose(1, 2).reshape(3, 5, 8);
    close(y, flat(mha.outProj.forward(att)), 1e-5);
    const pad = torch.tensor([[false, false, false, true, true]]).expand(3, 5);
    const yMasked = mha.forward(x, x, x, { keyPaddingMask: pad });
    const keep = torch
      .tensor([[true, true, true, false, false]])
      .unsqueeze(1)
      .unsqueeze(1);
    const attM = torch
      .softmax(q.matmul(k.mT).div(2).maskedFill(keep.logicalNot(), -Infinity), -1)
      .matmul(v)
      .transpose(1, 2)
      .reshape(3, 5, 8);
    close(yMasked, flat(mha.outProj.forward(attM)), 1e-5);
    const seqFirst = new nn.MultiheadAttention(8, 2);
    seqFirst.loadStateDict(mha.stateDict());
    close(seqFirst.forward(x.transpose(0, 1), x.transpose(0, 1), x.transpose(0, 1)).transpose(0, 1), flat(y), 1e-5);
  });

  test('layers compute what they say', () => {
    const lin = new nn.Linear(2, 1);
    torch.noGrad(() => {
      lin.weight.copy_(torch.tensor([[2, 3]]));
      lin.bias!.fill_(1);
    });
    assert.deepEqual(lin.forward(torch.tensor([[1, 1]])).toArray(), [[6]]);
    const ct = new nn.ConvTranspose2d(2, 3, 4, { stride: 2, padding: 1 });
    assert.deepEqual(ct.forward(torch.ones([1, 2, 5, 5])).shape, [1, 3, 10, 10]);
    assert.deepEqual(new nn.LayerNorm(4).forward(torch.randn([2, 4])).shape, [2, 4]);
    assert.deepEqual(new nn.Upsample(2).forward(torch.ones([1, 1, 2, 2])).shape, [1, 1, 4, 4]);
    assert.throws(() => new nn.GroupNorm(3, 8), /not divisible/);
    assert.throws(() => new nn.ModuleList().at(0), /out of range/);
  });
});
