// Autograd against central finite differences in float64, one case per differentiable op family.
import { describe, test } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { gradcheck, randn64 } from '../helpers/check.js';

describe('gradients match finite differences (float64)', () => {
  test('arithmetic with broadcasting', () => {
    const a = randn64([2, 3], 1),
      b = randn64([3], 2);
    gradcheck('add', (x, y) => x.add(y, 2), [a, b]);
    gradcheck('sub', (x, y) => x.sub(y), [a, b]);
    gradcheck('mul', (x, y) => x.mul(y), [a, b]);
    gradcheck('div', (x, y) => x.div(y.abs().add(1)), [a, b]);
    gradcheck('pow', (x) => x.abs().add(0.5).pow(2.5), [a]);
    gradcheck('pow tensor', (x, y) => x.abs().add(0.5).pow(y), [a, b]);
    gradcheck('maximum', (x, y) => x.maximum(y), [a, randn64([2, 3], 9)]);
    gradcheck('clamp', (x) => x.clamp(-0.5, 0.5), [a]);
    gradcheck('where', (x, y) => torch.where(x.gt(0), x, y.mul(3)), [a, randn64([2, 3], 10)]);
  });

  test('unary math', () => {
    const a = randn64([5], 3);
    const pos = a.abs().add(0.2);
    for (const [name, f] of [
      ['exp', (x: torch.Tensor) => x.exp()],
      ['sin', (x: torch.Tensor) => x.sin()],
      ['cos', (x: torch.Tensor) => x.cos()],
      ['tanh', (x: torch.Tensor) => x.tanh()],
      ['sigmoid', (x: torch.Tensor) => x.sigmoid()],
      ['abs', (x: torch.Tensor) => x.abs()],
      ['erf', (x: torch.Tensor) => x.erf()],
      ['square', (x: torch.Tensor) => x.square()],
      ['neg', (x: torch.Tensor) => x.neg()],
    ] as const)
      gradcheck(name, f, [a]);
    gradcheck('log', (x) => x.log(), [pos]);
    gradcheck('sqrt', (x) => x.sqrt(), [pos]);
    gradcheck('rsqrt', (x) => x.rsqrt(), [pos]);
    gradcheck('reciprocal', (x) => x.reciprocal(), [pos]);
    gradcheck('log1p', (x) => x.log1p(), [pos]);
  });

  test('reductions', () => {
    const a = randn64([3, 4], 4);
    gradcheck('sum dim', (x) => x.sum(1), [a]);
    gradcheck('mean keepdim', (x) => x.mean([0, 1], { keepdim: true }), [a]);
    gradcheck('var', (x) => x.var(1), [a]);
    gradcheck('std all', (x) => x.std(), [a]);
    gradcheck('logsumexp', (x) => x.logsumexp(1), [a]);
    gradcheck('norm', (x) => x.norm(2, 1), [a]);
    gradcheck('max dim', (x) => x.max(1).values, [a]);
    gradcheck('amax', (x) => x.amax(0), [a]);
    gradcheck('prod', (x) => x.prod(1), [a]);
    gradcheck('cumsum', (x) => x.cumsum(1), [a]);
    gradcheck('cumprod', (x) => x.cumprod(1), [a]);
  });

  test('matrix products', () => {
    const a = randn64([2, 3, 4], 5),
      b = randn64([2, 4, 2], 6);
    gradcheck('bmm', (x, y) => x.bmm(y), [a, b]);
    gradcheck('matmul broadcast', (x, y) => x.matmul(y), [a, randn64([4, 3], 7)]);
    gradcheck('einsum', (x, y) => torch.einsum('bij,bjk->bik', x, y), [a, b]);
    gradcheck('linear', (x, w, bias) => torch.linear(x, w, bias), [
      randn64([3, 4], 8),
      randn64([2, 4], 9),
      randn64([2], 10),
    ]);
    gradcheck('cdist', (x, y) => torch.cdist(x, y), [randn64([4, 3], 11), randn64([5, 3], 12)]);
  });

  test('convolutions', () => {
    gradcheck('conv2d', (x, w, b) => torch.conv2d(x, w, b, { stride: 2, padding: 1 }), [
      randn64([1, 2, 5, 5], 13),
      randn64([3, 2, 3, 3], 14),
      randn64([3], 15),
    ]);
    gradcheck('conv2d groups dilation', (x, w) => torch.conv2d(x, w, null, { groups: 2, dilation: 2, padding: 2 }), [
      randn64([1, 4, 5, 5], 16),
      randn64([2, 2, 3, 3], 17),
    ]);
    gradcheck('conv1d', (x, w) => torch.conv1d(x, w, null, { padding: 1 }), [
      randn64([2, 2, 6], 18),
      randn64([3, 2, 3], 19),
    ]);
    gradcheck(
      'conv_transpose2d',
      (x, w, b) => torch.convTranspose2d(x, w, b, { stride: 2, padding: 1, outputPadding: 1 }),
      [randn64([1, 2, 3, 3], 20), randn64([2, 3, 3, 3], 21), randn64([3], 22)],
    );
  });

  test('pooling and resampling', () => {
    const x = randn64([1, 2, 4, 4], 23);
    gradcheck('avg_pool2d', (v) => torch.avgPool2d(v, 2), [x]);
    gradcheck('max_pool2d', (v) => torch.maxPool2d(v, 2), [x]);
    gradcheck('adaptive_avg_pool2d', (v) => torch.adaptiveAvgPool2d(v, [3, 3]), [x]);
    gradcheck('nearest x2', (v) => torch.interpolate(v, { scaleFactor: 2 }), [x]);
    gradcheck('bilinear', (v) => torch.interpolate(v, { size: [6, 5], mode: 'bilinear' }), [x]);
    gradcheck('pad reflect', (v) => torch.pad(v, [1, 1, 2, 0], 'reflect'), [x]);
    gradcheck('pad constant', (v) => torch.pad(v, [1, 2, 0, 1], 'constant', 0.5), [x]);
  });

  test('normalisation', () => {
    const x = randn64([2, 4, 3, 3], 24),
      w = randn64([4], 25),
      b = randn64([4], 26);
    gradcheck('group_norm', (v, ww, bb) => torch.groupNorm(v, 2, ww, bb), [x, w, b]);
    gradcheck('layer_norm', (v, ww, bb) => torch.layerNorm(v, [3], ww.narrow(0, 0, 3), bb.narrow(0, 0, 3)), [x, w, b]);
    gradcheck(
      'batch_norm train',
      (v, ww, bb) => torch.batchNorm(v, null, null, { weight: ww, bias: bb, training: true }),
      [x, w, b],
    );
  });

  test('activations and attention', () => {
    const a = randn64([2, 5], 27);
    gradcheck('relu', (x) => torch.relu(x), [a]);
    gradcheck('gelu', (x) => torch.gelu(x), [a]);
    gradcheck('gelu tanh', (x) => torch.gelu(x, 'tanh'), [a]);
    gradcheck('silu', (x) => torch.silu(x), [a]);
    gradcheck('softplus', (x) => torch.softplus(x), [a]);
    gradcheck('leaky_relu', (x) => torch.leakyRelu(x, 0.1), [a]);
    gradcheck('softmax', (x) => torch.softmax(x, 1), [a]);
    gradcheck('log_softmax', (x) => torch.logSoftmax(x, 0), [a]);
    gradcheck('normalize', (x) => torch.normalize(x, 2, 1), [a]);
    gradcheck('sdpa', (q, k, v) => torch.scaledDotProductAttention(q, k, v), [
      randn64([1, 2, 3, 4], 28),
      randn64([1, 2, 5, 4], 29),
      randn64([1, 2, 5, 4], 30),
    ]);
  });

  test('shape and indexing ops', () => {
    const a = randn64([2, 3, 4], 31);
    const idx = torch.tensor([2, 0], { dtype: 'int64' });
    gradcheck('permute+reshape', (x) => x.permute(2, 0, 1).reshape(4, 6), [a]);
    gradcheck('cat/stack', (x, y) => torch.stack([torch.cat([x, y], 1), torch.cat([y, x], 1)]), [
      a,
      randn64([2, 3, 4], 32),
    ]);
    gradcheck('index_select', (x) => x.indexSelect(1, idx), [a]);
    gradcheck(
      'gather',
      (x) =>
        x.gather(
          2,
          torch.tensor(
            [
              [
                [0, 3],
                [1, 1],
                [2, 0],
              ],
              [
                [3, 3],
                [0, 1],
                [2, 2],
              ],
            ],
            { dtype: 'int64' },
          ),
        ),
      [a],
    );
    gradcheck('advanced index', (x) => x.index([null, idx]), [a]);
    gradcheck('slice step', (x) => x.slice(2, 0, null, 2), [a]);
    gradcheck('expand/repeat', (x) => x.narrow(0, 0, 1).expand(3, 3, 4).repeat(1, 2, 1), [a]);
    gradcheck('masked_fill', (x) => x.maskedFill(x.gt(0), 0), [a]);
    gradcheck('split/chunk', (x) => x.chunk(2, 2)[1]!.mul(x.split(2, 2)[0]!), [a]);
    gradcheck('embedding', (w) => torch.embedding(torch.tensor([1, 0, 1], { dtype: 'int64' }), w), [
      randn64([3, 4], 33),
    ]);
    gradcheck('scatter_add', (x, s) => x.scatterAdd(1, torch.tensor([[0, 0, 2]], { dtype: 'int64' }), s), [
      randn64([1, 3], 34),
      randn64([1, 3], 35),
    ]);
  });

  test('losses', () => {
    const logits = randn64([4, 3], 36);
    const target = torch.tensor([0, 2, 1, 2], { dtype: 'int64' });
    gradcheck('mse', (x, y) => torch.mseLoss(x, y), [logits, randn64([4, 3], 37)]);
    gradcheck('l1', (x, y) => torch.l1Loss(x, y.add(3)), [logits, randn64([4, 3], 37)]);
    gradcheck('cross_entropy', (x) => torch.crossEntropy(x, target), [logits]);
    gradcheck('cross_entropy smoothing', (x) => torch.crossEntropy(x, target, { labelSmoothing: 0.1 }), [logits]);
    gradcheck('nll', (x) => torch.nllLoss(torch.logSoftmax(x, 1), target), [logits]);
    gradcheck(
      'bce',
      (x) =>
        torch.binaryCrossEntropy(
          x.sigmoid(),
          torch.tensor(
            [
              [1, 0, 1],
              [0, 0, 1],
              [1, 1, 0],
              [0, 1, 0],
            ],
            { dtype: 'float64' },
          ),
        ),
      [logits],
    );
    gradcheck(
      'bce logits',
      (x) => torch.binaryCrossEntropyWithLogits(x, torch.full([4, 3], 0.3, { dtype: 'float64' })),
      [logits],
    );
  });

  test('linear algebra', () => {
    const m = randn64([3, 3], 38);
    const spd = (x: torch.Tensor) => x.matmul(x.mT).add(torch.eye(3, 3, { dtype: 'float64' }));
    gradcheck('inv', (x) => torch.linalg.inv(spd(x)), [m]);
    gradcheck('det', (x) => torch.linalg.det(x), [m]);
    gradcheck('cholesky', (x) => torch.linalg.cholesky(spd(x)), [m]);
    gradcheck('eigh eigenvalues', (x) => torch.linalg.eigh(spd(x)).eigenvalues, [m]);
    gradcheck('svd singular values', (x) => torch.linalg.svd(x, false).S, [m]);
    gradcheck('solve', (a, b) => torch.linalg.solve(spd(a), b), [m, randn64([3, 2], 39)]);
  });
});
