// Condition consistency and the Inception-Score analogue against known answers, and the self-label judge
// on a fake generator that returns real images of known clusters.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { buildAnnotations, saveAnnotations } from '../../src/annotate/annotations.js';
import { kmeans } from '../../src/annotate/kmeans.js';
import { loadDataset } from '../../src/data/spec.js';
import { loadConditionFile } from '../../src/diffusion/conditions.js';
import { agreement, inceptionScore, selfLabelJudge } from '../../src/eval/consistency.js';
import { extractorFromProvenance } from '../../src/eval/rebuild-extractor.js';
import { extractFeatures } from '../../src/features/extract.js';
import { PixelsPca } from '../../src/features/pixels-pca.js';
import * as torch from '../../src/torch/index.js';
import { Rng } from '../../src/util/rng.js';

describe('agreement', () => {
  test('rate, chance from the marginals, and per-id rates', () => {
    // targets 0,0,1,1 ; predictions 0,1,1,1: 3 of 4 agree; p_t = (.5,.5), p_p = (.25,.75) -> chance .5
    const a = agreement(Int32Array.from([0, 0, 1, 1]), Int32Array.from([0, 1, 1, 1]), 2);
    assert.equal(a.rate, 0.75);
    assert.equal(a.chance, 0.5 * 0.25 + 0.5 * 0.75);
    assert.deepEqual(a.perId, [
      { id: 0, n: 2, rate: 0.5 },
      { id: 1, n: 2, rate: 1 },
    ]);
    // predictions independent of the targets agree at about the chance level
    const rng = new Rng(3);
    const t = Int32Array.from({ length: 20000 }, () => rng.int(5)),
      p = Int32Array.from({ length: 20000 }, () => rng.int(5));
    const r = agreement(t, p, 5);
    assert.ok(Math.abs(r.rate - r.chance) < 0.01, `${r.rate} vs ${r.chance}`);
    assert.ok(Math.abs(r.chance - 0.2) < 0.005);
  });

  test('bad inputs are errors', () => {
    assert.throws(() => agreement(Int32Array.from([0]), Int32Array.from([0, 1]), 2), /1 targets but 2 predictions/);
    assert.throws(() => agreement(Int32Array.from([0, 2]), Int32Array.from([0, 1]), 2), /outside \[0, 2\)/);
    assert.throws(() => agreement(new Int32Array(0), new Int32Array(0), 2), /empty/);
  });
});

describe('IS-evalnet', () => {
  test('confident and balanced over K classes gives K; one class gives 1; uniform predictions give 1', () => {
    const big = 30;
    const logits = torch.eye(4).mul(big).repeat(5, 1); // 20 images, each class 5 times, near one-hot
    assert.ok(Math.abs(inceptionScore(logits) - 4) < 1e-6);
    const one = torch.tensor(
      Float64Array.from({ length: 40 }, (_, i) => (i % 4 === 0 ? big : 0)),
      { shape: [10, 4] },
    );
    assert.ok(Math.abs(inceptionScore(one) - 1) < 1e-6);
    assert.ok(Math.abs(inceptionScore(torch.zeros([10, 4])) - 1) < 1e-12);
  });

  test('a hand-computed case', () => {
    // p(y|x) = [.5,.5] and [1,0] (limit): p(y) = [.75,.25]; KLs: .5ln(.5/.75)+.5ln(.5/.25) and ln(1/.75)
    const logits = torch.tensor(Float64Array.from([0, 0, 40, 0]), { shape: [2, 2] });
    const kl1 = 0.5 * Math.log(0.5 / 0.75) + 0.5 * Math.log(0.5 / 0.25),
      kl2 = Math.log(1 / 0.75);
    assert.ok(Math.abs(inceptionScore(logits) - Math.exp((kl1 + kl2) / 2)) < 1e-9);
  });
});

describe('self-label consistency', () => {
  test('a fake generator returning real images of the drawn rows is assigned back to their clusters; mismatched images are not', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-consistency-'));
    const spec = { kind: 'fashion-mnist' as const, split: 'train' as const, limit: 600 };
    const ds = await loadDataset(spec);
    const featPath = join(dir, 'pca.safetensors');
    const f = extractFeatures(ds, new PixelsPca({ components: 16 }), {
      out: featPath,
      progress: false,
      extraProvenance: { dataSpec: JSON.stringify(spec) },
    });
    const km = kmeans(f.features, { k: 6, restarts: 1, seed: 0 });
    const condPath = join(dir, 'labels.safetensors');
    saveAnnotations(
      condPath,
      buildAnnotations(
        { kind: 'onehot', assignments: km.assignments, centroids: km.centroids, k: 6 },
        { features: featPath, method: 'k-means (cosine)', metric: 'cosine' },
      ),
    );
    const cond = loadConditionFile(condPath, ds.length);
    const judge = await selfLabelJudge(cond);
    assert.ok(judge && judge.kind === 'self-label');
    const rows = new Rng(1).permutation(ds.length).slice(0, 200);
    const real = ds.images(rows);
    const same = judge.score(real, rows);
    assert.equal(same.value, 1);
    assert.ok(same.chance > 0.1 && same.chance < 0.3, `chance ${same.chance}`);
    // images of another cluster than the one they were "generated for"
    const other = Int32Array.from(rows, (r) => {
      const c = km.assignments[r]!;
      return km.assignments.findIndex((a) => a !== c);
    });
    assert.equal(judge.score(ds.images(other), rows).value, 0);
    judge.dispose();
  });

  test('rebuilding g refuses unknown extractors and changed checkpoints', async () => {
    await assert.rejects(
      extractorFromProvenance({ extractor: 'mystery', config: '{}' }),
      /cannot rebuild feature extractor 'mystery'/,
    );
    await assert.rejects(
      extractorFromProvenance({
        extractor: 'ssl-encoder',
        config: JSON.stringify({ checkpoint: '/nonexistent/x.safetensors' }),
      }),
      /is gone/,
    );
    const dir = mkdtempSync(join(tmpdir(), 'sg-rebuild-'));
    const p = join(dir, 'enc.pt');
    (await import('node:fs')).writeFileSync(p, 'not the same bytes');
    await assert.rejects(
      extractorFromProvenance({
        extractor: 'torchscript',
        config: JSON.stringify({ path: p }),
        checkpointHash: 'ab'.repeat(32),
      }),
      /changed since the features were extracted/,
    );
  });
});
