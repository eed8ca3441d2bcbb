// Op values against hand-computed results and closed forms.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { close, flat } from '../helpers/check.js';

describe('creation and conversion', () => {
  test('nested arrays, typed arrays, dtypes and back', () => {
    const a = torch.tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    assert.deepEqual(a.shape, [2, 3]);
    assert.equal(a.dtype, 'float32');
    assert.deepEqual(a.toArray(), [
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const i = torch.tensor(new Int32Array([7, 8]));
    assert.equal(i.dtype, 'int32');
    assert.deepEqual(torch.tensor([true, false]).toArray(), [true, false]);
    assert.equal(torch.tensor([1n, 2n]).dtype, 'int64');
    const d = torch.tensor([1.5, 2.5], { dtype: 'float64' });
    assert.ok(d.toTypedArray() instanceof Float64Array);
    assert.deepEqual(d.to('int64').toArray(), [1, 2]);
    assert.equal(torch.tensor(new Float32Array(6), { shape: [2, 3] }).ndim, 2);
    assert.equal(torch.scalarTensor(3).item(), 3);
    assert.deepEqual(torch.tensor([[1, 2]], { dtype: 'uint8' }).toArray(), [[1, 2]]);
  });

  test('filled, ranges and eye', () => {
    assert.deepEqual(torch.zeros([2, 2]).toArray(), [
      [0, 0],
      [0, 0],
    ]);
    assert.deepEqual(torch.ones(3, { dtype: 'int64' }).toArray(), [1, 1, 1]);
    assert.deepEqual(torch.full([2], 7).toArray(), [7, 7]);
    assert.deepEqual(torch.arange(5).toArray(), [0, 1, 2, 3, 4]);
    assert.deepEqual(torch.arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
    close(torch.linspace(0, 1, 5), [0, 0.25, 0.5, 0.75, 1]);
    assert.deepEqual(torch.eye(2, 3).toArray(), [
      [1, 0, 0],
      [0, 1, 0],
    ]);
    assert.deepEqual(torch.zerosLike(torch.ones([1, 2], { dtype: 'float64' })).dtype, 'float64');
  });

  test('random draws have the right range and moments', () => {
    const g = new torch.Generator(1);
    const u = flat(torch.rand([20000], { generator: g }));
    assert.ok(u.every((x) => x >= 0 && x < 1));
    close(u.reduce((a, b) => a + b) / u.length, 0.5, 0.02);
    const n = torch.randn([20000], { generator: g });
    close(n.mean().item(), 0, 0.03);
    close(n.std().item(), 1, 0.03);
    const r = flat(torch.randint(3, 7, [1000], { generator: g }));
    assert.ok(r.every((x) => x >= 3 && x < 7 && Number.isInteger(x)));
    assert.deepEqual(
      flat(torch.randperm(50, { generator: g })).sort((a, b) => a - b),
      [...Array(50).keys()],
    );
  });
});

describe('elementwise and broadcasting', () => {
  test('arithmetic', () => {
    const a = torch.tensor([
      [1, 2],
      [3, 4],
    ]);
    const b = torch.tensor([10, 20]);
    assert.deepEqual(a.add(b).toArray(), [
      [11, 22],
      [13, 24],
    ]);
    assert.deepEqual(a.sub(1).toArray(), [
      [0, 1],
      [2, 3],
    ]);
    assert.deepEqual(a.mul(b).toArray(), [
      [10, 40],
      [30, 80],
    ]);
    assert.deepEqual(a.div(2).toArray(), [
      [0.5, 1],
      [1.5, 2],
    ]);
    assert.deepEqual(a.pow(2).toArray(), [
      [1, 4],
      [9, 16],
    ]);
    assert.deepEqual(a.rsub(10).toArray(), [
      [9, 8],
      [7, 6],
    ]);
    assert.deepEqual(torch.tensor([7, -7], { dtype: 'int64' }).div(2, 'floor').toArray(), [3, -4]);
    assert.deepEqual(torch.tensor([5, 7], { dtype: 'int64' }).remainder(3).toArray(), [2, 1]);
    assert.equal(torch.tensor([5], { dtype: 'int64' }).add(1).dtype, 'int64');
    assert.deepEqual(a.clamp(2, 3).toArray(), [
      [2, 2],
      [3, 3],
    ]);
  });

  test('comparison and logic', () => {
    const a = torch.tensor([1, 2, 3]);
    assert.deepEqual(a.gt(1).toArray(), [false, true, true]);
    assert.deepEqual(a.eq(torch.tensor([1, 0, 3])).toArray(), [true, false, true]);
    assert.deepEqual(a.le(2).logicalAnd(a.ge(2)).toArray(), [false, true, false]);
    assert.deepEqual(torch.where(a.gt(1), a, 0).toArray(), [0, 2, 3]);
    assert.deepEqual(torch.tensor([0, NaN]).isnan().toArray(), [false, true]);
  });

  test('unary math', () => {
    close(torch.tensor([0, 1]).exp(), [1, Math.E]);
    close(torch.tensor([1, Math.E]).log(), [0, 1]);
    close(torch.tensor([4, 9]).sqrt(), [2, 3]);
    close(torch.tensor([4]).rsqrt(), [0.5]);
    close(torch.tensor([0, Math.PI / 2]).sin(), [0, 1]);
    close(torch.tensor([-2, 0, 3]).sign(), [-1, 0, 1]);
    close(torch.tensor([0]).sigmoid(), [0.5]);
    close(torch.tensor([-1.5, 1.5]).abs(), [1.5, 1.5]);
    close(torch.tensor([-1, 0, 2]).relu(), [0, 0, 2]);
    close(torch.silu(torch.tensor([1])), [1 / (1 + Math.exp(-1))]);
    close(torch.gelu(torch.tensor([1])), [0.8413447460685429], 1e-6);
  });
});

describe('reductions', () => {
  const a = torch.tensor([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  test('sum, mean, var, std over dims', () => {
    assert.equal(a.sum().item(), 21);
    assert.deepEqual(a.sum(0).toArray(), [5, 7, 9]);
    assert.deepEqual(a.sum(1, { keepdim: true }).shape, [2, 1]);
    close(a.mean(1), [2, 5]);
    close(a.var(1), [1, 1]);
    close(a.var(1, { correction: 0 }), [2 / 3, 2 / 3]);
    close(a.std(), Math.sqrt(3.5));
  });
  test('max/min/argmax, logsumexp, norm, prod, cumsum', () => {
    assert.equal(a.max().item(), 6);
    const m = a.max(1);
    assert.deepEqual(m.values.toArray(), [3, 6]);
    assert.deepEqual(m.indices.toArray(), [2, 2]);
    assert.deepEqual(a.min(0).indices.toArray(), [0, 0, 0]);
    assert.equal(a.argmax().item(), 5);
    assert.deepEqual(a.argmin(1).toArray(), [0, 0]);
    close(torch.tensor([0, 0]).logsumexp(0), Math.log(2));
    close(torch.tensor([3, 4]).norm(), 5);
    close(torch.tensor([3, -4]).norm(1), 7);
    assert.deepEqual(a.prod(1).toArray(), [6, 120]);
    assert.deepEqual(a.cumsum(1).toArray(), [
      [1, 3, 6],
      [4, 9, 15],
    ]);
    assert.deepEqual(a.cumprod(1).toArray(), [
      [1, 2, 6],
      [4, 20, 120],
    ]);
    assert.equal(a.gt(0).all().item(), 1);
    assert.equal(a.gt(5).any().item(), 1);
  });
});

describe('linear algebra', () => {
  test('matmul, bmm, einsum', () => {
    const a = torch.tensor([
      [1, 2],
      [3, 4],
    ]);
    const b = torch.tensor([
      [5, 6],
      [7, 8],
    ]);
    assert.deepEqual(a.matmul(b).toArray(), [
      [19, 22],
      [43, 50],
    ]);
    assert.deepEqual(
      torch
        .stack([a, b])
        .bmm(torch.stack([b, a]))
        .select(0, 1)
        .toArray(),
      [
        [23, 34],
        [31, 46],
      ],
    );
    assert.deepEqual(torch.einsum('ij,jk->ik', a, b).toArray(), [
      [19, 22],
      [43, 50],
    ]);
    assert.deepEqual(torch.einsum('ii->', a).item(), 5);
    assert.deepEqual(a.t().toArray(), [
      [1, 3],
      [2, 4],
    ]);
  });
  test('decompositions in float64', () => {
    const s = torch.tensor(
      [
        [4, 2],
        [2, 3],
      ],
      { dtype: 'float64' },
    );
    const { eigenvalues, eigenvectors } = torch.linalg.eigh(s);
    close(eigenvalues, [(7 - Math.sqrt(17)) / 2, (7 + Math.sqrt(17)) / 2], 1e-12);
    const rebuilt = eigenvectors.matmul(torch.diagEmbed(eigenvalues)).matmul(eigenvectors.mT);
    close(rebuilt, [4, 2, 2, 3], 1e-12);
    close(torch.linalg.det(s), 8, 1e-12);
    close(torch.linalg.inv(s), [3 / 8, -2 / 8, -2 / 8, 4 / 8], 1e-12);
    const l = torch.linalg.cholesky(s);
    close(l, [2, 0, 1, Math.sqrt(2)], 1e-12);
    const { U, S, Vh } = torch.linalg.svd(
      torch.tensor(
        [
          [3, 0],
          [0, -2],
        ],
        { dtype: 'float64' },
      ),
    );
    close(S, [3, 2], 1e-12);
    close(U.matmul(torch.diagEmbed(S)).matmul(Vh), [3, 0, 0, -2], 1e-12);
    close(torch.linalg.solve(s, torch.tensor([[2], [1]], { dtype: 'float64' })), [0.5, 0], 1e-12);
  });
  test('cdist', () => {
    const x = torch.tensor([
      [0, 0],
      [1, 1],
    ]);
    const y = torch.tensor([[3, 4]]);
    close(torch.cdist(x, y), [5, Math.sqrt(13)]);
  });
});

describe('neural-network functions', () => {
  test('conv2d by hand', () => {
    const x = torch.arange(16).reshape(1, 1, 4, 4);
    const w = torch.ones([1, 1, 2, 2]);
    assert.deepEqual(torch.conv2d(x, w, torch.tensor([1]), { stride: 2 }).toArray(), [
      [
        [
          [11, 19],
          [43, 51],
        ],
      ],
    ]);
    assert.deepEqual(torch.conv2d(x, w, null, { padding: 1 }).shape, [1, 1, 5, 5]);
    const dw = torch.conv2d(torch.ones([1, 2, 3, 3]), torch.ones([2, 1, 3, 3]), null, { groups: 2 });
    assert.deepEqual(dw.toArray(), [[[[9]], [[9]]]]);
    assert.deepEqual(torch.conv1d(torch.tensor([[[1, 2, 3]]]), torch.tensor([[[1, -1]]])).toArray(), [[[-1, -1]]]);
  });
  test('conv_transpose2d inverts the shape of a strided conv', () => {
    const y = torch.convTranspose2d(torch.ones([1, 1, 2, 2]), torch.ones([1, 1, 2, 2]), null, { stride: 2 });
    assert.deepEqual(y.toArray(), [
      [
        [
          [1, 1, 1, 1],
          [1, 1, 1, 1],
          [1, 1, 1, 1],
          [1, 1, 1, 1],
        ],
      ],
    ]);
  });
  test('pooling and interpolation', () => {
    const x = torch.arange(16).reshape(1, 1, 4, 4);
    assert.deepEqual(torch.maxPool2d(x, 2).toArray(), [
      [
        [
          [5, 7],
          [13, 15],
        ],
      ],
    ]);
    assert.deepEqual(torch.avgPool2d(x, 2).toArray(), [
      [
        [
          [2.5, 4.5],
          [10.5, 12.5],
        ],
      ],
    ]);
    assert.deepEqual(torch.adaptiveAvgPool2d(x, 1).toArray(), [[[[7.5]]]]);
    assert.deepEqual(torch.interpolate(torch.tensor([[[[1, 2]]]]), { scaleFactor: 2 }).toArray(), [
      [
        [
          [1, 1, 2, 2],
          [1, 1, 2, 2],
        ],
      ],
    ]);
    close(
      torch.interpolate(torch.tensor([[[[0, 1]]]]), { size: [1, 3], mode: 'bilinear', alignCorners: true }),
      [0, 0.5, 1],
    );
    assert.deepEqual(torch.pad(torch.tensor([[1, 2]]), [1, 0], 'constant', 9).toArray(), [[9, 1, 2]]);
  });
  test('normalisation matches its definition', () => {
    const x = torch.tensor([
      [
        [
          [1, 2],
          [3, 4],
        ],
        [
          [5, 6],
          [7, 8],
        ],
      ],
    ]);
    const gn = torch.groupNorm(x, 1);
    const v = flat(x);
    const mean = 4.5;
    const std = Math.sqrt(v.reduce((s, q) => s + (q - mean) ** 2, 0) / 8 + 1e-5);
    close(
      gn,
      v.map((q) => (q - mean) / std),
      1e-5,
    );
    close(torch.layerNorm(torch.tensor([[1, 3]]), [2]), [-1, 1], 1e-4);
    const bn = torch.batchNorm(
      torch.tensor([
        [[[1]], [[2]]],
        [[[3]], [[6]]],
      ]),
      null,
      null,
      { training: true },
    );
    close(bn, [-1, -1, 1, 1], 1e-4);
  });
  test('softmax, log_softmax, one_hot, embedding', () => {
    close(torch.softmax(torch.tensor([0, Math.log(3)]), 0), [0.25, 0.75]);
    close(torch.logSoftmax(torch.tensor([0, 0]), 0), [-Math.LN2, -Math.LN2]);
    assert.deepEqual(torch.oneHot(torch.tensor([2, 0], { dtype: 'int64' }), 3).toArray(), [
      [0, 0, 1],
      [1, 0, 0],
    ]);
    assert.deepEqual(
      torch
        .embedding(
          torch.tensor([1], { dtype: 'int64' }),
          torch.tensor([
            [1, 2],
            [3, 4],
          ]),
        )
        .toArray(),
      [[3, 4]],
    );
  });
  test('attention equals its composite form, masks included', () => {
    const g = new torch.Generator(4);
    const q = torch.randn([2, 3, 4], { generator: g }),
      k = torch.randn([2, 5, 4], { generator: g }),
      v = torch.randn([2, 5, 6], { generator: g });
    const ref = torch.softmax(q.matmul(k.mT).div(2), -1).matmul(v);
    close(torch.scaledDotProductAttention(q, k, v), flat(ref), 1e-5);
    const mask = torch.tensor([[true, true, false, true, false]]).expand(3, 5);
    const refMasked = torch.softmax(q.matmul(k.mT).div(2).maskedFill(mask.logicalNot(), -Infinity), -1).matmul(v);
    close(torch.scaledDotProductAttention(q, k, v, { attnMask: mask }), flat(refMasked), 1e-5);
    const refScaled = torch.softmax(q.matmul(k.mT).mul(0.1), -1).matmul(v);
    close(torch.scaledDotProductAttention(q, k, v, { scale: 0.1 }), flat(refScaled), 1e-5);
  });
  test('dropout keeps the expectation and zeroes about p', () => {
    torch.manualSeed(0);
    const y = torch.dropout(torch.ones([10000]), 0.3, true);
    const v = flat(y);
    close(v.filter((q) => q === 0).length / v.length, 0.3, 0.03);
    close(y.mean().item(), 1, 0.03);
    assert.deepEqual(torch.dropout(torch.ones([3]), 0.5, false).toArray(), [1, 1, 1]);
  });
  test('losses against closed forms', () => {
    close(torch.mseLoss(torch.tensor([1, 2]), torch.tensor([0, 0])), 2.5);
    close(torch.mseLoss(torch.tensor([1, 2]), torch.tensor([0, 0]), 'sum'), 5);
    const logits = torch.tensor([[0, Math.log(3)]]);
    close(torch.crossEntropy(logits, torch.tensor([1], { dtype: 'int64' })), -Math.log(0.75));
    close(torch.crossEntropy(logits, torch.tensor([[0.5, 0.5]])), -(Math.log(0.25) + Math.log(0.75)) / 2, 1e-5);
    close(torch.nllLoss(torch.tensor([[-1, -2]]), torch.tensor([1], { dtype: 'int64' })), 2);
    close(torch.binaryCrossEntropy(torch.tensor([0.8]), torch.tensor([1])), -Math.log(0.8));
    close(torch.binaryCrossEntropyWithLogits(torch.tensor([0]), torch.tensor([1])), Math.LN2);
  });
});

describe('shape, indexing and sorting', () => {
  const a = torch.arange(6).reshape(2, 3);
  test('views and joins', () => {
    assert.deepEqual(a.t().contiguous().view(6).toArray(), [0, 3, 1, 4, 2, 5]);
    assert.deepEqual(a.permute(1, 0).shape, [3, 2]);
    assert.deepEqual(a.unsqueeze(0).squeeze(0).shape, [2, 3]);
    assert.deepEqual(a.flatten().shape, [6]);
    assert.deepEqual(a.narrow(1, 1, 2).toArray(), [
      [1, 2],
      [4, 5],
    ]);
    assert.deepEqual(a.slice(1, -2).toArray(), [
      [1, 2],
      [4, 5],
    ]);
    assert.deepEqual(a.select(0, 1).toArray(), [3, 4, 5]);
    assert.deepEqual(torch.cat([a, a], 0).shape, [4, 3]);
    assert.deepEqual(torch.stack([a, a], 2).shape, [2, 3, 2]);
    assert.deepEqual(
      a.split([1, 2], 1).map((t) => t.shape),
      [
        [2, 1],
        [2, 2],
      ],
    );
    assert.deepEqual(a.chunk(3, 1).length, 3);
    assert.deepEqual(torch.tensor([1, 2]).expand(2, 2).toArray(), [
      [1, 2],
      [1, 2],
    ]);
    assert.deepEqual(torch.tensor([1, 2]).repeat(2).toArray(), [1, 2, 1, 2]);
    assert.deepEqual(a.flip(1).toArray(), [
      [2, 1, 0],
      [5, 4, 3],
    ]);
  });
  test('gather, scatter, index, masks', () => {
    const idx = torch.tensor(
      [
        [2, 0],
        [1, 1],
      ],
      { dtype: 'int64' },
    );
    assert.deepEqual(a.gather(1, idx).toArray(), [
      [2, 0],
      [4, 4],
    ]);
    assert.deepEqual(torch.zeros([2, 3]).scatter(1, idx, 1).toArray(), [
      [1, 0, 1],
      [0, 1, 0],
    ]);
    assert.deepEqual(
      torch
        .zeros([3])
        .scatterAdd(0, torch.tensor([0, 0, 2], { dtype: 'int64' }), torch.tensor([1, 2, 3]))
        .toArray(),
      [3, 0, 3],
    );
    assert.deepEqual(a.indexSelect(1, torch.tensor([2, 0], { dtype: 'int64' })).toArray(), [
      [2, 0],
      [5, 3],
    ]);
    assert.deepEqual(
      a.index([torch.tensor([1, 0], { dtype: 'int64' }), torch.tensor([0, 2], { dtype: 'int64' })]).toArray(),
      [3, 2],
    );
    assert.deepEqual(a.maskedFill(a.gt(3), -1).toArray(), [
      [0, 1, 2],
      [3, -1, -1],
    ]);
    assert.deepEqual(a.maskedSelect(a.ge(4)).toArray(), [4, 5]);
    const z = torch.zeros([3]).indexPut_([torch.tensor([0, 0], { dtype: 'int64' })], torch.tensor([1, 2]), true);
    assert.deepEqual(z.toArray(), [3, 0, 0]);
  });
  test('sort and topk', () => {
    const v = torch.tensor([3, 1, 2]);
    assert.deepEqual(v.sort().values.toArray(), [1, 2, 3]);
    assert.deepEqual(v.sort(0, true).indices.toArray(), [0, 2, 1]);
    assert.deepEqual(v.argsort().toArray(), [1, 2, 0]);
    const t = v.topk(2);
    assert.deepEqual(t.values.toArray(), [3, 2]);
    assert.deepEqual(v.topk(1, -1, false).indices.toArray(), [1]);
  });
  test('in-place ops mutate and return the same tensor', () => {
    const x = torch.tensor([1, 2]);
    assert.equal(x.add_(1).mul_(2), x);
    assert.deepEqual(x.toArray(), [4, 6]);
    x.addcmul_(torch.tensor([1, 1]), torch.tensor([2, 3]), 0.5);
    assert.deepEqual(x.toArray(), [5, 7.5]);
    x.lerp_(torch.tensor([7, 7.5]), 0.5);
    assert.deepEqual(x.toArray(), [6, 7.5]);
    x.clamp_(null, 7).sub_(1).div_(2);
    assert.deepEqual(x.toArray(), [2.5, 3]);
    assert.deepEqual(x.zero_().fill_(4).toArray(), [4, 4]);
  });
});

describe('multi-tensor (foreach) updates', () => {
  test('match their per-tensor definitions', () => {
    const xs = [torch.tensor([1, 2]), torch.tensor([3])];
    const ys = [torch.tensor([10, 20]), torch.tensor([30])];
    torch.foreach.add_(xs, ys, 0.5);
    assert.deepEqual(
      xs.map((x) => x.toArray()),
      [[6, 12], [18]],
    );
    torch.foreach.mul_(xs, 2);
    torch.foreach.addcdiv_(xs, ys, ys, 1);
    assert.deepEqual(
      xs.map((x) => x.toArray()),
      [[13, 25], [37]],
    );
    close(torch.foreach.norm([torch.tensor([3, 4])])[0]!, 5);
    assert.deepEqual(torch.foreach.sqrt([torch.tensor([4])])[0]!.toArray(), [2]);
  });
});
