// The annotation view against cases with known answers: the hidden labels themselves (NMI and accuracy 1,
// sizes the label counts), relabelled (still 1), the hidden masks and boxes of scenes (IoU 1), the hidden
// class sets (exact), a dataset of another size refused, and statistics alone without a dataset.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { loadFashionMnist } from '../../src/data/fashion-mnist.js';
import { generateScenes } from '../../src/data/scenes.js';
import { sceneBoxes } from '../../src/data/scene-annotations.js';
import { labelSetAgreement, writeAnnotationView } from '../../src/eval/annotation-view.js';
import { groundTruthAnnotations } from '../../src/pipelines/ground-truth.js';
import * as torch from '../../src/torch/index.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'sg-view-'));

describe('annotation view', () => {
  test('self-labels equal to the hidden labels: sizes are the label counts, NMI and accuracy 1', async () => {
    const ds = loadFashionMnist({ split: 'test', limit: 64 });
    const dir = tmp();
    try {
      const file = join(dir, 'ids.safetensors');
      // The labels relabelled by a permutation: the same partition, so agreement stays perfect.
      const perm = [3, 7, 1, 0, 9, 2, 8, 4, 6, 5];
      const ids = Int32Array.from(ds.labels!, (l) => perm[l]!);
      saveAnnotations(file, { assignments: ids, k: 10, centroids: null, vectors: null, kind: 'onehot', meta: {} });
      const v = await writeAnnotationView(file, ds, join(dir, 'view'), { perId: 5 });
      const want = new Array<number>(10).fill(0);
      for (const c of ids) want[c]!++;
      assert.deepEqual(v.ids, { count: 10, sizes: want, multiLabel: false });
      assert.ok(Math.abs(v.quality.labels!.nmi - 1) < 1e-9);
      assert.equal(v.quality.labels!.accuracy, 1);
      assert.equal(v.quality.labelsOf, 'image');
      assert.equal(v.images, 64);
      const nonEmpty = want.filter((s) => s > 0).length;
      assert.equal(v.pictures.length, nonEmpty + 1, 'an overview and one picture per id with images');
      for (const p of v.pictures) assert.ok(existsSync(join(dir, 'view', p.file)), p.file);
      assert.ok(existsSync(join(dir, 'view', 'view.json')));

      const random = join(dir, 'random.safetensors');
      const r = Int32Array.from({ length: 64 }, (_, i) => (i * 7) % 3);
      saveAnnotations(random, { assignments: r, k: 3, centroids: null, vectors: null, kind: 'random', meta: {} });
      const rv = await writeAnnotationView(random, ds, join(dir, 'view-random'));
      assert.ok(rv.quality.labels!.nmi < 0.3, `unrelated ids: NMI ${rv.quality.labels!.nmi}`);

      const few = ds.subset([0, 1, 2]);
      await assert.rejects(
        writeAnnotationView(file, few, join(dir, 'view-few')),
        /annotates 64 images but the dataset/,
      );
      few.dispose();

      const bare = await writeAnnotationView(file, null, join(dir, 'view-bare'));
      assert.deepEqual([bare.dataset, bare.pictures.length, bare.quality], [null, 0, {}]);
      assert.deepEqual(bare.ids!.sizes, want, 'statistics need no dataset');
    } finally {
      ds.dispose();
    }
  });

  test('scenes: the hidden masks, boxes and class sets agree with themselves exactly', async () => {
    const ds = generateScenes({ count: 24, split: 'test', seed: 2 });
    const dir = tmp();
    try {
      const masks = groundTruthAnnotations(ds, 'masks');
      saveAnnotations(join(dir, 'masks.safetensors'), masks);
      const mv = await writeAnnotationView(join(dir, 'masks.safetensors'), ds, join(dir, 'vm'));
      assert.equal(mv.quality.masks!.mIoU, 1);
      assert.equal(mv.quality.masks!.foregroundIoU, 1);
      assert.equal(mv.segments!.background, 0, 'the border segment is the background');
      assert.ok(Math.abs(mv.segments!.share.reduce((a, b) => a + b, 0) - 1) < 1e-9);

      const labels = groundTruthAnnotations(ds, 'labels');
      saveAnnotations(join(dir, 'labels.safetensors'), labels);
      const lv = await writeAnnotationView(join(dir, 'labels.safetensors'), ds, join(dir, 'vl'));
      assert.equal(lv.ids!.multiLabel, true);
      assert.deepEqual([lv.quality.labelSets!.exactSet, lv.quality.labelSets!.jaccard], [1, 1]);

      // The main (largest) box with its class: one self-label per image, judged against that object's class.
      const main = groundTruthAnnotations(ds, 'boxes');
      saveAnnotations(join(dir, 'main.safetensors'), main);
      const gv = await writeAnnotationView(join(dir, 'main.safetensors'), ds, join(dir, 'vg'));
      assert.equal(gv.quality.labelsOf, 'main object');
      assert.ok(Math.abs(gv.quality.labels!.nmi - 1) < 1e-9);
      assert.ok(gv.quality.boxes!.iou < 1, 'one box of several');
      main.maps?.dispose();

      // A box map of every hidden box: the box areas are the hidden ones exactly.
      const S = ds.size;
      const map = new Uint8Array(ds.length * S * S);
      sceneBoxes(ds.scene!).forEach((list, i) => {
        for (const [x0, y0, x1, y1] of list)
          for (let y = y0!; y < y1!; y++) map.fill(1, i * S * S + y * S + x0!, i * S * S + y * S + x1!);
      });
      const maps = torch.tensor(map, { shape: [ds.length, 1, S, S] });
      saveAnnotations(join(dir, 'boxes.safetensors'), {
        assignments: new Int32Array(ds.length),
        k: 1,
        centroids: null,
        vectors: null,
        maps,
        kind: 'boxes',
        meta: {},
      });
      maps.dispose();
      const bv = await writeAnnotationView(join(dir, 'boxes.safetensors'), ds, join(dir, 'vb'));
      assert.equal(bv.quality.boxes!.iou, 1);
      assert.ok(bv.boxes!.coverage > 0 && bv.boxes!.coverage < 1);
      for (const t of [masks.vectors, masks.segments, labels.vectors]) t?.dispose();
    } finally {
      ds.dispose();
    }
  });

  test('label sets: ids matched to classes by co-occurrence, then exact sets and Jaccard', () => {
    // ids 0 -> class 1, 1 -> class 0; the third image misses one class.
    const r = labelSetAgreement([[0], [1], [0, 1], [1]], [[1], [0], [1], [0]], 2, 2);
    assert.deepEqual(r.matching, [1, 0]);
    assert.equal(r.exactSet, 3 / 4);
    assert.equal(r.jaccard, (1 + 1 + 0.5 + 1) / 4);
  });
});
