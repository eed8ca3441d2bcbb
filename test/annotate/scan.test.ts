// SCAN's clustering head and the neighbour mining under it, on cases with known answers.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { kmeans } from '../../src/annotate/kmeans.js';
import { nearestNeighbours } from '../../src/annotate/neighbours.js';
import { scanCluster } from '../../src/annotate/scan.js';
import { selfLabels } from '../../src/annotate/self-labels.js';
import { clusterQuality } from '../../src/eval/cluster-metrics.js';
import type { Features } from '../../src/features/features-file.js';
import * as torch from '../../src/torch/index.js';
import { close, flat } from '../helpers/check.js';

/** Points on the unit circle at the given angles (degrees). */
function circle(degrees: number[]): torch.Tensor {
  const r = Math.PI / 180;
  return torch.tensor(Float32Array.from(degrees.flatMap((d) => [Math.cos(d * r), Math.sin(d * r)]))).reshape(-1, 2);
}

/** A wide, sparse arc and a narrow, dense one with a gap between them, 200 points each. */
function arcs(): { x: torch.Tensor; labels: Int32Array } {
  const spread = (a: number, b: number) => Array.from({ length: 200 }, (_, i) => a + ((b - a) * i) / 199);
  return {
    x: circle([...spread(-60, 60), ...spread(75, 85)]),
    labels: Int32Array.from({ length: 400 }, (_, i) => (i < 200 ? 0 : 1)),
  };
}

describe('nearest neighbours', () => {
  test('cosine neighbours in order, the row itself excluded or first', () => {
    const x = circle([0, 10, 30, 70, 200]);
    assert.deepEqual(flat(nearestNeighbours(x, 2, { blockSize: 2 })), [1, 2, 0, 2, 1, 0, 2, 1, 3, 0]);
    assert.deepEqual(
      flat(nearestNeighbours(x, 2, { includeSelf: true, blockSize: 3 })),
      [0, 1, 1, 0, 2, 1, 3, 2, 4, 3],
    );
  });

  test('a duplicate row is a neighbour; the row itself is not, whatever the order of ties', () => {
    const x = circle([40, 40, 0]);
    const nn = flat(nearestNeighbours(x, 1));
    assert.deepEqual(nn, [1, 0, 0]);
  });

  test('more neighbours than other rows is refused', () => {
    const x = circle([0, 10, 20]);
    assert.throws(() => nearestNeighbours(x, 3), /3 neighbours asked of 3 rows \(the row itself excluded\)/);
    assert.throws(() => nearestNeighbours(x, 0), /positive integer/);
  });
});

describe('SCAN clustering head', () => {
  test('follows the gap between a wide arc and a narrow one, where k-means cuts the wide arc', () => {
    const { x, labels } = arcs();
    const km = kmeans(x, { k: 2, restarts: 3 });
    const sc = scanCluster(x, { k: 2, neighbours: 5, epochs: 300, batchSize: 64 });
    const kmNmi = clusterQuality(km.assignments, labels).nmi;
    assert.ok(kmNmi < 0.7, `k-means cuts the wide arc (NMI ${kmNmi})`);
    assert.equal(clusterQuality(sc.assignments, labels).nmi, 1);
    assert.deepEqual(sc.sizes, [200, 200]);
    assert.equal(sc.neighbourAgreement, 1);
    km.centroids.dispose();
    for (const t of [sc.centroids, sc.head.weight, sc.head.bias]) t.dispose();
  });

  test("the reported loss is the chosen head's, recomputed by hand over every neighbour, and the lowest", () => {
    const { x } = arcs();
    const nbrs = 4;
    const sc = scanCluster(x, { k: 3, neighbours: nbrs, epochs: 3, heads: 4, batchSize: 50, entropyWeight: 2 });
    const p = torch.tidy(() => torch.linear(torch.normalize(x, 2, 1), sc.head.weight, sc.head.bias).softmax(1));
    const probs = flat(p);
    const nn = flat(nearestNeighbours(x, nbrs));
    let consistency = 0;
    const mean = [0, 0, 0];
    for (let i = 0; i < 400; i++) {
      for (let c = 0; c < 3; c++) mean[c]! += probs[i * 3 + c]! / 400;
      for (let j = 0; j < nbrs; j++) {
        const n = nn[i * nbrs + j]!;
        let dot = 0;
        for (let c = 0; c < 3; c++) dot += probs[i * 3 + c]! * probs[n * 3 + c]!;
        consistency -= Math.log(dot) / (400 * nbrs);
      }
    }
    const entropy = -mean.reduce((s, m) => s + m * Math.log(m), 0);
    const chosen = sc.heads[sc.chosen]!;
    close(chosen.consistency, consistency, 1e-4);
    close(chosen.entropy, entropy, 1e-4);
    close(chosen.loss, consistency - 2 * entropy, 1e-4);
    assert.equal(Math.min(...sc.heads.map((h) => h.loss)), chosen.loss);
    // The assignments are the chosen head's argmax.
    assert.deepEqual(Array.from(sc.assignments), flat(p.argmax(1)));
    for (const t of [p, sc.centroids, sc.head.weight, sc.head.bias]) t.dispose();
  });

  test('same seed, same clusters; the centroids are the unit mean of each cluster', () => {
    const { x } = arcs();
    const o = { k: 2, neighbours: 5, epochs: 5, batchSize: 64, seed: 3 };
    const a = scanCluster(x, o);
    const b = scanCluster(x, o);
    assert.deepEqual(a.assignments, b.assignments);
    assert.deepEqual(
      a.heads.map((h) => h.loss),
      b.heads.map((h) => h.loss),
    );
    const c0 = torch.tidy(() => {
      const rows = torch
        .tensor(Int32Array.from([...a.assignments.keys()].filter((i) => a.assignments[i] === 0)))
        .long();
      return torch.normalize(x.indexSelect(0, rows).sum(0, { keepdim: true }), 2, 1);
    });
    close(a.centroids.narrow(0, 0, 1), flat(c0), 1e-5);
    for (const r of [a, b]) for (const t of [r.centroids, r.head.weight, r.head.bias]) t.dispose();
  });

  test('bad settings are refused with what was expected', () => {
    const x = circle([0, 10, 20, 30]);
    assert.throws(() => scanCluster(x, { k: 5 }), /k = 5 is larger than the number of points \(4\)/);
    assert.throws(() => scanCluster(x, { k: 2, neighbours: 4 }), /4 neighbours asked of 4 points/);
    assert.throws(() => scanCluster(x, { k: 2, neighbours: 2, heads: 0 }), /heads must be a positive integer/);
    assert.throws(() => scanCluster(x, { k: 2, neighbours: 2, entropyWeight: -1 }), /entropy weight must be >= 0/);
    assert.throws(() => scanCluster(x.flatten(), { k: 2 }), /expects features \[N, D\]/);
  });
});

describe('self-labels by SCAN', () => {
  const feats = (x: torch.Tensor): Features => ({
    features: x,
    patches: null,
    provenance: { extractor: 'test', config: '{}', dataset: 'arcs', datasetSize: x.shape[0]!, preprocessing: '{}' },
  });

  test('the condition file carries the head, which assigns every image as in training', () => {
    const { x } = arcs();
    const { annotations: ann, scan } = selfLabels('arcs.safetensors', feats(x), {
      k: 2,
      method: 'scan',
      scan: { neighbours: 5, epochs: 20, batchSize: 64 },
    });
    assert.ok(scan);
    assert.match(ann.meta.method!, /SCAN clustering head \(5 cosine neighbours, 5 heads, 20 epochs/);
    const path = join(mkdtempSync(join(tmpdir(), 'sg-scan-')), 'c.safetensors');
    saveAnnotations(path, ann);
    const { tensors } = torch.safetensors.loadFile(path);
    const w = tensors.get('head.weight')!;
    const b = tensors.get('head.bias')!;
    assert.deepEqual(w.shape, [2, 2]);
    const again = torch.tidy(() => flat(torch.linear(torch.normalize(x, 2, 1), w, b).argmax(1)));
    assert.deepEqual(again, Array.from(ann.assignments!));
    for (const t of tensors.values()) t.dispose();
  });

  test('SCAN with balanced clusters or a Euclidean metric is refused', () => {
    const { x } = arcs();
    assert.throws(() => selfLabels('a', feats(x), { k: 2, method: 'scan', balanced: true }), /k-means only/);
    assert.throws(() => selfLabels('a', feats(x), { k: 2, method: 'scan', metric: 'euclidean' }), /cosine/);
  });
});
