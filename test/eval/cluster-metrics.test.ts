// Cluster quality against hand-computed cases.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ari,
  clusterSizes,
  hungarianAccuracy,
  linearSumAssignment,
  nmi,
  purity,
} from '../../src/eval/cluster-metrics.js';
import { close } from '../helpers/check.js';

describe('cluster metrics', () => {
  test('perfect and permuted partitions score 1', () => {
    const labels = [0, 0, 1, 1, 2, 2];
    const clusters = [2, 2, 0, 0, 1, 1];
    close(nmi(clusters, labels), 1, 1e-12);
    close(ari(clusters, labels), 1, 1e-12);
    close(hungarianAccuracy(clusters, labels), 1, 1e-12);
    close(purity(clusters, labels), 1, 1e-12);
  });

  test('hand-computed values', () => {
    // labels  a a a b b b ; clusters 0 0 1 1 1 1
    const labels = [0, 0, 0, 1, 1, 1];
    const clusters = [0, 0, 1, 1, 1, 1];
    // Contingency [[2,0],[1,3]]. MI = sum p_ij log(p_ij/(p_i p_j)).
    const n = 6;
    const mi =
      (2 / n) * Math.log(2 / n / ((2 / n) * (3 / n))) +
      (1 / n) * Math.log(1 / n / ((4 / n) * (3 / n))) +
      (3 / n) * Math.log(3 / n / ((4 / n) * (3 / n)));
    const hc = -((2 / 6) * Math.log(2 / 6) + (4 / 6) * Math.log(4 / 6));
    const hl = Math.log(2);
    close(nmi(clusters, labels), mi / ((hc + hl) / 2), 1e-12);
    // ARI: index = C(2,2)+C(1,2)+C(3,2) = 1+0+3 = 4; rows C(2,2)+C(4,2) = 7; cols 3+3 = 6; expected 7*6/15 = 2.8; max 6.5
    close(ari(clusters, labels), (4 - 2.8) / (6.5 - 2.8), 1e-12);
    close(hungarianAccuracy(clusters, labels), 5 / 6, 1e-12);
    close(purity(clusters, labels), 5 / 6, 1e-12);
  });

  test('over-clustering: accuracy matches one cluster per class, purity many to one', () => {
    const labels = [0, 0, 0, 0, 1, 1];
    const clusters = [0, 0, 1, 1, 2, 2];
    close(hungarianAccuracy(clusters, labels), 4 / 6, 1e-12);
    close(purity(clusters, labels), 1, 1e-12);
    close(ari([0, 1, 2, 3], [0, 0, 0, 0]), 0, 1e-12);
  });

  test('Hungarian assignment finds the optimum on a known matrix', () => {
    const cost = [
      [4, 1, 3],
      [2, 0, 5],
      [3, 2, 2],
    ];
    const m = linearSumAssignment(cost);
    assert.deepEqual(m, [1, 0, 2]); // 1 + 2 + 2 = 5 is optimal
    const rect = linearSumAssignment([
      [1, 9],
      [9, 1],
      [5, 5],
    ]);
    assert.deepEqual(rect, [0, 1, -1]);
  });

  test('cluster sizes and errors', () => {
    const s = clusterSizes([0, 0, 2], 4);
    assert.deepEqual(s.sizes, [2, 0, 1, 0]);
    assert.equal(s.empty, 2);
    assert.throws(() => nmi([0], [0, 1]), /1 cluster ids for 2 labels/);
  });
});
