// Deterministic lifetimes: scopes free intermediates, disposed tensors fail loudly, counts stay flat.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { native } from '../../src/torch/native.js';

describe('memory scopes', () => {
  test('tidy frees what it does not return and keeps what it returns', () => {
    const before = torch.liveTensors();
    let inner: torch.Tensor | undefined;
    const out = torch.tidy(() => {
      inner = torch.ones([3]).mul(2);
      return { a: inner.add(1), list: [inner.sub(1)] };
    });
    assert.equal(inner!.isDisposed, true);
    assert.deepEqual(out.a.toArray(), [3, 3, 3]);
    assert.deepEqual(out.list[0]!.toArray(), [1, 1, 1]);
    assert.equal(torch.liveTensors(), before + 2);
    out.a.dispose();
    out.list[0]!.dispose();
    assert.equal(torch.liveTensors(), before);
  });

  test('nested scopes hand results outwards; keep opts out', () => {
    const before = torch.liveTensors();
    let kept: torch.Tensor | undefined;
    torch.tidy(() => {
      const mid = torch.tidy(() => torch.zeros([2]).add(1));
      kept = torch.keep(mid.mul(3));
      assert.equal(mid.isDisposed, false);
    });
    assert.deepEqual(kept!.toArray(), [3, 3]);
    kept!.dispose();
    assert.equal(torch.liveTensors(), before);
  });

  test('a throwing scope still frees everything and rethrows', () => {
    const before = torch.liveTensors();
    assert.throws(
      () =>
        torch.tidy(() => {
          torch.ones([4]).add(1);
          throw new Error('boom');
        }),
      /boom/,
    );
    assert.equal(torch.liveTensors(), before);
    assert.equal(torch.scopeDepth(), 0);
  });

  test('tidy refuses async functions instead of leaking', () => {
    assert.throws(() => torch.tidy(() => Promise.resolve(1) as unknown as number), /synchronous/);
  });

  test('a disposed tensor used again throws a clear Error', () => {
    const t = torch.ones([2]);
    t.dispose();
    t.dispose(); // idempotent
    assert.throws(() => t.add(1), /disposed/);
    assert.throws(() => t.shape, /disposed/);
    assert.throws(() => torch.cat([torch.ones([1]), t]), /disposed/);
    assert.equal(t.toString(), 'Tensor(disposed)');
  });

  test('using-style disposal via Symbol.dispose', () => {
    const before = torch.liveTensors();
    {
      const t = torch.ones([5]);
      t[Symbol.dispose]();
    }
    assert.equal(torch.liveTensors(), before);
  });

  test('live tensors stay flat over many autograd steps', () => {
    const w = torch.keep(torch.randn([8, 8], { requiresGrad: true }));
    const step = () =>
      torch.tidy(() => {
        const loss = torch.randn([4, 8]).matmul(w).tanh().square().mean();
        loss.backward();
        torch.noGrad(() => w.sub_(w.grad!.mul(0.1)));
        w.grad = null;
        return loss.item();
      });
    for (let i = 0; i < 5; i++) step();
    const base = torch.liveTensors();
    for (let i = 0; i < 300; i++) step();
    assert.equal(torch.liveTensors(), base);
    w.dispose();
  });
});

describe('autograd controls', () => {
  test('backward with a gradient argument, grad accumulation, detach, noGrad', () => {
    const x = torch.tensor([1, 2, 3], { requiresGrad: true });
    const y = x.mul(x);
    y.backward(torch.tensor([1, 0.5, 0]));
    assert.deepEqual(x.grad!.toArray(), [2, 2, 0]);
    x.mul(3).sum().backward();
    assert.deepEqual(x.grad!.toArray(), [5, 5, 3]);
    x.grad = null;
    assert.equal(x.grad, null);
    assert.equal(x.isLeaf, true);
    assert.equal(y.isLeaf, false);
    assert.equal(y.gradFn, 'MulBackward0');
    assert.equal(x.detach().requiresGrad, false);
    const z = torch.noGrad(() => x.mul(2));
    assert.equal(z.requiresGrad, false);
    assert.equal(torch.isGradEnabled(), true);
    torch.noGrad(() => assert.equal(torch.enableGrad(() => x.mul(2)).requiresGrad, true));
  });

  test('backward of a non-scalar without a gradient is an error, not a crash', () => {
    const x = torch.ones([2], { requiresGrad: true });
    assert.throws(() => x.mul(2).backward(), /backward.*(scalar|implicitly)/i);
  });

  test('multi-root backward', () => {
    const x = torch.tensor([1, 2], { requiresGrad: true });
    torch.backward([x.sum(), x.mul(2).sum()]);
    assert.deepEqual(x.grad!.toArray(), [3, 3]);
  });
});

describe('randomness', () => {
  test('same seed, same bits; generator state round-trips', () => {
    torch.manualSeed(42);
    const a = Array.from(torch.randn([16]).toTypedArray() as Float32Array);
    torch.manualSeed(42);
    const b = Array.from(torch.randn([16]).toTypedArray() as Float32Array);
    assert.deepEqual(a, b);
    const g = new torch.Generator(7);
    const state = g.getState();
    const c = torch.rand([8], { generator: g }).toArray();
    torch.rand([3], { generator: g });
    g.setState(state);
    assert.deepEqual(torch.rand([8], { generator: g }).toArray(), c);
    const g2 = new torch.Generator(7);
    assert.deepEqual(torch.rand([8], { generator: g2 }).toArray(), c);
    assert.notDeepEqual(torch.rand([8], { generator: new torch.Generator(8) }).toArray(), c);
  });

  test('the global generator state can be saved and restored', () => {
    const g = torch.defaultGenerator();
    const s = g.getState();
    const a = torch.randn([4]).toArray();
    g.setState(s);
    assert.deepEqual(torch.randn([4]).toArray(), a);
  });
});

describe('bytes reported to V8', () => {
  // Reporting every activation made V8 run full collections several times per forward pass; only
  // tensors that no scope owns are reported, since only they wait for the collector.
  test('tensors inside a scope report nothing; a tensor that leaves every scope reports its bytes until disposed', () => {
    const base = native.reportedBytes();
    torch.tidy(() => {
      torch.zeros([1000]).add(1);
      assert.equal(native.reportedBytes(), base);
    });
    const loose = torch.zeros([1000]);
    assert.equal(native.reportedBytes(), base + 4000);
    const returned = torch.tidy(() => torch.ones([500]));
    assert.equal(native.reportedBytes(), base + 6000);
    const kept = torch.tidy(() => torch.keep(torch.ones([250])));
    assert.equal(native.reportedBytes(), base + 7000);
    for (const t of [loose, returned, kept]) t.dispose();
    assert.equal(native.reportedBytes(), base);
  });
});
