// k-means and Sinkhorn on cases with known answers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assignNearest, kmeans, sinkhornAssign, sinkhornLogPlan } from '../../src/annotate/index.js';
import { ari } from '../../src/eval/cluster-metrics.js';
import * as torch from '../../src/torch/index.js';
import { close, flat } from '../helpers/check.js';

function blobs(k: number, per: number, dim: number, spread: number, seed: number) {
  const g = new torch.Generator(seed);
  const centers = torch.randn([k, dim], { generator: g }).mul(10);
  const labels = Int32Array.from({ length: k * per }, (_, i) => Math.floor(i / per));
  const x = torch.tidy(() =>
    centers.index([torch.tensor(labels).long()]).add(torch.randn([k * per, dim], { generator: g }).mul(spread)),
  );
  return { x, labels, centers };
}

describe('k-means', () => {
  test('recovers well-separated Gaussian blobs (Euclidean and spherical) with no empty cluster', () => {
    const { x, labels } = blobs(8, 60, 16, 0.5, 1);
    for (const metric of ['euclidean', 'cosine'] as const) {
      const r = kmeans(x, { k: 8, metric, restarts: 3, seed: 2 });
      assert.ok(ari(r.assignments, labels) > 0.95, `${metric} ARI ${ari(r.assignments, labels)}`);
      assert.ok(
        r.sizes.every((s) => s > 0),
        'no empty cluster',
      );
      assert.deepEqual(r.centroids.shape, [8, 16]);
      if (metric === 'cosine') close(r.centroids.norm(2, 1), Array(8).fill(1), 1e-5);
    }
  });

  test("assignments are each point's nearest centroid; inertia is their total distance", () => {
    const { x } = blobs(4, 30, 5, 1, 3);
    const r = kmeans(x, { k: 4, metric: 'euclidean', seed: 0 });
    const d = torch.cdist(x, r.centroids).square();
    assert.deepEqual(Array.from(r.assignments), flat(d.argmin(1)));
    close(r.inertia, d.min(1).values.sum().item(), 1e-3);
  });

  test('never returns an empty cluster, even when k is close to the number of distinct points', () => {
    // 6 distinct points, each repeated: k = 6 must give one cluster per point.
    const base = torch.tensor([
      [0, 0],
      [10, 0],
      [0, 10],
      [10, 10],
      [20, 20],
      [-20, 5],
    ]);
    const x = base.repeat(5, 1);
    const r = kmeans(x, { k: 6, metric: 'euclidean', seed: 4, restarts: 1 });
    assert.ok(
      r.sizes.every((s) => s === 5),
      `sizes ${r.sizes}`,
    );
    close(r.inertia, 0, 1e-6);
    const many = kmeans(torch.randn([50, 3], { generator: new torch.Generator(0) }), {
      k: 40,
      metric: 'euclidean',
      seed: 1,
    });
    assert.ok(
      many.sizes.every((s) => s > 0),
      `sizes ${many.sizes}`,
    );
  });

  test('restarts keep the best inertia; seeds are reproducible; bad k is rejected', () => {
    const { x } = blobs(5, 20, 4, 3, 5);
    const one = kmeans(x, { k: 5, restarts: 1, seed: 9, metric: 'euclidean' });
    const many = kmeans(x, { k: 5, restarts: 5, seed: 9, metric: 'euclidean' });
    assert.ok(many.inertia <= one.inertia + 1e-6);
    assert.deepEqual(
      Array.from(kmeans(x, { k: 5, seed: 3 }).assignments),
      Array.from(kmeans(x, { k: 5, seed: 3 }).assignments),
    );
    assert.throws(() => kmeans(x, { k: 0 }), /positive integer/);
    assert.throws(() => kmeans(x, { k: 1000 }), /larger than the number of points/);
    assert.throws(() => kmeans(torch.ones([3]), { k: 1 }), /features \[N, D\]/);
  });

  test('Lloyd iterations run until converged and lower the inertia', () => {
    const x = torch.randn([400, 6], { generator: new torch.Generator(11) });
    const inertias: number[] = [];
    const r = kmeans(x, {
      k: 12,
      metric: 'euclidean',
      seed: 0,
      tol: 1e-6,
      onIteration: (i) => inertias.push(i.inertia),
    });
    assert.ok(r.iterations > 3, `only ${r.iterations} iterations`);
    assert.ok(
      inertias.every((v, i) => i === 0 || v <= inertias[i - 1]! + 1e-3),
      `inertia must not rise: ${inertias}`,
    );
    assert.ok(r.inertia < inertias[0]!);
    const capped = kmeans(x, { k: 12, metric: 'euclidean', seed: 0, maxIter: 2 });
    assert.equal(capped.iterations, 2);
  });

  test('blocked assignment equals the unblocked one', () => {
    const g = new torch.Generator(6);
    const x = torch.randn([100, 8], { generator: g }),
      c = torch.randn([7, 8], { generator: g });
    assert.deepEqual(flat(assignNearest(x, c, 'euclidean', 13).idx), flat(assignNearest(x, c, 'euclidean', 1000).idx));
  });
});

describe('Sinkhorn-Knopp', () => {
  test('the plan has balanced marginals', () => {
    const scores = torch.randn([60, 4], { generator: new torch.Generator(7) }).mul(3);
    const q = sinkhornLogPlan(scores, 0.5, 200).exp();
    close(q.sum(1), Array(60).fill(1 / 60), 1e-6);
    close(q.sum(0), Array(4).fill(1 / 4), 1e-6);
  });

  test('balanced assignment gives (nearly) equal cluster sizes where nearest-centroid does not', () => {
    const g = new torch.Generator(8);
    // Most points lie near centroid 0: nearest assignment is very unbalanced.
    const x = torch.normalize(
      torch.cat([
        torch
          .randn([90, 2], { generator: g })
          .mul(0.1)
          .add(torch.tensor([1, 0])),
        torch
          .randn([30, 2], { generator: g })
          .mul(0.1)
          .add(torch.tensor([0, 1])),
      ]),
      2,
      1,
    );
    const c = torch.normalize(
      torch.tensor([
        [1, 0],
        [0.7, 0.7],
        [0, 1],
      ]),
      2,
      1,
    );
    const nearest = flat(assignNearest(x, c, 'cosine').idx);
    const balanced = flat(sinkhornAssign(x, c, { epsilon: 0.05, iterations: 100 }));
    const count = (a: number[]) => [0, 1, 2].map((i) => a.filter((v) => v === i).length);
    assert.ok(Math.max(...count(nearest)) >= 80, `nearest ${count(nearest)}`);
    for (const n of count(balanced)) assert.ok(Math.abs(n - 40) <= 12, `balanced ${count(balanced)}`);
  });
});
