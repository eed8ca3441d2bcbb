// Frechet distance and PRDC against closed forms and constructed cases.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { featureStats, frechetDistance } from '../../src/eval/frechet.js';
import { prdc } from '../../src/eval/prdc.js';
import * as torch from '../../src/torch/index.js';
import { close } from '../helpers/check.js';

describe('Frechet distance', () => {
  test('a set against itself is 0', () => {
    const x = torch.randn([500, 8], { generator: new torch.Generator(0) });
    const s = featureStats(x);
    close(frechetDistance(s, s), 0, 1e-9);
  });

  test('two Gaussians given directly match the closed form', () => {
    // Diagonal covariances: FD = |mu1 - mu2|^2 + sum (sqrt(a_i) - sqrt(b_i))^2.
    const a = {
      mu: torch.tensor([0, 1, 2], { dtype: 'float64' }),
      sigma: torch.tensor([1, 4, 9], { dtype: 'float64' }).diagEmbed(),
      n: 100,
    };
    const b = {
      mu: torch.tensor([1, 1, 0], { dtype: 'float64' }),
      sigma: torch.tensor([4, 1, 0], { dtype: 'float64' }).diagEmbed(),
      n: 100,
    };
    const expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0) ** 2;
    close(frechetDistance(a, b), expected, 1e-9);
    // A full covariance: rotate both by the same orthogonal matrix; FD is unchanged.
    const q = torch.linalg.qr(torch.randn([3, 3], { dtype: 'float64', generator: new torch.Generator(1) })).Q;
    const rot = (s: typeof a) => ({ mu: q.matmul(s.mu), sigma: q.matmul(s.sigma).matmul(q.t()), n: s.n });
    close(frechetDistance(rot(a), rot(b)), expected, 1e-9);
  });

  test('sample estimates approach the closed form', () => {
    const g = new torch.Generator(2);
    const x = torch.randn([20000, 2], { dtype: 'float64', generator: g });
    const y = torch
      .randn([20000, 2], { dtype: 'float64', generator: g })
      .mul(torch.tensor([2, 1], { dtype: 'float64' }))
      .add(torch.tensor([3, 0], { dtype: 'float64' }));
    close(frechetDistance(featureStats(x), featureStats(y)), 9 + 1, 0.05);
  });
});

describe('precision, recall, density, coverage', () => {
  test('identical sets: precision, recall and coverage 1; density (k + 1) / k', () => {
    // Each point lies in its own ball and, summed over points, in k others' (each ball holds k others).
    const x = torch.randn([300, 4], { generator: new torch.Generator(3) });
    const r = prdc(x, x, 5, 64);
    close([r.precision, r.recall, r.coverage], [1, 1, 1], 1e-12);
    close(r.density, 6 / 5, 1e-12);
  });

  test('far apart sets score 0; a fake set inside one mode of two has full precision and half coverage', () => {
    const g = new torch.Generator(4);
    const a = torch.randn([200, 2], { generator: g });
    const far = prdc(a, a.add(100));
    assert.deepEqual([far.precision, far.recall, far.density, far.coverage], [0, 0, 0, 0]);
    assert.equal(far.recalled.length, 200);
    assert.ok(far.recalled.every((v) => v === 0));
    const real = torch.cat([torch.randn([200, 2], { generator: g }), torch.randn([200, 2], { generator: g }).add(50)]);
    const fake = torch.randn([200, 2], { generator: g });
    const r = prdc(real, fake);
    assert.ok(r.precision > 0.95, `precision ${r.precision}`);
    assert.ok(r.coverage > 0.4 && r.coverage <= 0.5, `coverage ${r.coverage}`);
    assert.ok(r.recall > 0.4 && r.recall <= 0.5, `recall ${r.recall}`);
    // the recalled real points are those of the mode the fakes came from
    assert.equal(
      r.recalled.reduce((s, v) => s + v, 0),
      r.recall * 400,
    );
    assert.ok(r.recalled.subarray(200).every((v) => v === 0));
  });

  test('density counts ball memberships: a fake point at the centre of a tight real cluster', () => {
    // Real points on a unit circle (radius to 5th neighbour covers the centre), one fake at the centre.
    const angles = Array.from({ length: 12 }, (_, i) => (2 * Math.PI * i) / 12);
    const real = torch.tensor(angles.map((t) => [Math.cos(t), Math.sin(t)]));
    const fake = torch.tensor([
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    const r = prdc(real, fake, 5);
    close(r.precision, 1);
    close(r.density, 12 / 5, 1e-6);
  });
});
