// evaluate()'s stages one by one: sampling from drawn conditions (and the shifted-layout refusal),
// sample features, Frechet distances against a known answer, precision/recall with per-class recall,
// label consistency, and layout following with diversity on a box-guided model.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { loadDataset } from '../../src/data/spec.js';
import { buildConditions } from '../../src/diffusion/conditions.js';
import { loadModel } from '../../src/diffusion/pipeline.js';
import { DiffusionTrainer } from '../../src/diffusion/trainer.js';
import type { TrainConfigInput } from '../../src/diffusion/config.js';
import {
  consistencyStage,
  distanceStage,
  featureStage,
  layoutStage,
  perClassRecall,
  precisionRecallStage,
  sampleStage,
  type SampleSettings,
} from '../../src/eval/evaluate.js';
import { EvalNetFeatures, trainEvalNet } from '../../src/eval/evalnet.js';
import { featureStats, disposeStats } from '../../src/eval/frechet.js';
import { groundTruthAnnotations } from '../../src/pipelines/ground-truth.js';
import * as torch from '../../src/torch/index.js';

const quiet = () => {};
const fm = { kind: 'fashion-mnist' as const, limit: 200 };
const settings: SampleSettings = { n: 12, scale: 2, sampler: 'ddim', steps: 3, eta: 0, seed: 0, batchSize: 12 };

async function trainTiny(dir: string, config: Omit<TrainConfigInput, 'model' | 'train'>): Promise<void> {
  const t = await DiffusionTrainer.open(dir, {
    config: { ...config, model: { preset: 'tiny' }, train: { steps: 2, batchSize: 8, warmup: 1, checkpointEvery: 2 } },
    log: quiet,
  });
  await t.train({ progress: false });
  t.dispose();
}

describe("evaluate's stages", () => {
  let dir = '';
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sg-eval-stages-'));
    await trainEvalNet(join(dir, 'evalnet'), {
      config: { data: fm, train: { steps: 5, batchSize: 32 } },
      progress: false,
      log: quiet,
    });
    await trainTiny(join(dir, 'label'), { data: fm, condition: { kind: 'label' } });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('sample, features, consistency: n images from drawn conditions; a shift needs a layout model', async () => {
    const m = loadModel(join(dir, 'label'));
    const ds = await loadDataset(m.config.data);
    const c = buildConditions(m.config.condition, ds);
    const evalnet = new EvalNetFeatures(join(dir, 'evalnet'));
    try {
      const { drawn, samples, seconds } = sampleStage(m, c, settings);
      assert.deepEqual(samples.shape, [12, 1, 32, 32]);
      assert.equal(drawn!.rows.length, 12);
      assert.ok(seconds > 0);
      const again = sampleStage(m, c, settings);
      assert.equal(
        samples.sub(again.samples).abs().max().item(),
        0,
        'the same seed draws the same conditions and noise',
      );
      const f = featureStage(evalnet, samples);
      assert.equal(f.features.shape[0], 12);
      assert.equal(f.logits.shape[1], 10);
      const cons = await consistencyStage(c, evalnet, samples, drawn!.rows, 0);
      assert.ok(cons && cons.value >= 0 && cons.value <= 1, JSON.stringify(cons));
      assert.throws(
        () => sampleStage(m, c, settings, 4),
        /--shift-layouts applies to box- and mask-guided models only/,
      );
      for (const t of [samples, again.samples, f.features, f.logits, drawn!.cond, again.drawn!.cond]) t?.dispose();
    } finally {
      evalnet.dispose();
      c.vectors?.dispose();
      ds.dispose();
      m.dispose();
    }
  });

  test('distances: zero between a set and itself, the squared mean shift between translated sets', () => {
    const x = torch.randn([400, 4], { generator: new torch.Generator(1) });
    const real = featureStats(x);
    assert.ok(Math.abs(distanceStage(real, x)) < 1e-6);
    const moved = x.add(torch.tensor(new Float32Array([1, 2, 0, 0])));
    assert.ok(Math.abs(distanceStage(real, moved) - 5) < 1e-3);
    disposeStats(real);
    x.dispose();
    moved.dispose();
  });

  test('precision/recall: samples equal to the real rows drawn are all precise and recalled; per-class recall', async () => {
    const ds = await loadDataset(fm);
    try {
      const feats = torch.randn([ds.length, 3], { generator: new torch.Generator(2) });
      const rows = precisionRecallStage(ds, feats, torch.zeros([20, 3]), 3, 0).rows;
      const fake = feats.indexSelect(0, torch.tensor(rows).long());
      const pr = precisionRecallStage(ds, feats, fake, 3, 0);
      assert.deepEqual(pr.rows, rows, 'the rows are a fixed function of the seed');
      assert.equal(pr.precision, 1);
      assert.equal(pr.recall, 1);
      assert.equal(
        pr.perClassRecall!.reduce((s, c) => s + c.realImages, 0),
        20,
      );
      for (const t of [feats, fake]) t.dispose();
    } finally {
      ds.dispose();
    }
    const byClass = perClassRecall(
      { labels: Int32Array.from([0, 1, 0, 1, 2]), numClasses: 3, classNames: null },
      [0, 1, 2, 3],
      [1, 0, 1, 1],
    );
    assert.deepEqual(
      byClass!.map((c) => [c.realImages, c.recall]),
      [
        [2, 1],
        [2, 0.5],
        [0, Number.NaN],
      ],
    );
    assert.equal(perClassRecall({ labels: null, numClasses: null, classNames: null }, [0], [1]), null);
  });

  test('layout: a box-guided model is scored against its boxes, shuffled boxes and real canvases', async () => {
    const scenes = { kind: 'fashion-scenes' as const, count: 40, cache: join(dir, 'scenes') };
    const ds = await loadDataset(scenes);
    const boxes = join(dir, 'gt-boxes.safetensors');
    const ann = groundTruthAnnotations(ds, 'boxes');
    saveAnnotations(boxes, ann);
    ann.maps?.dispose();
    await trainTiny(join(dir, 'boxes'), { data: scenes, condition: { kind: 'file', path: boxes } });
    const m = loadModel(join(dir, 'boxes'));
    const c = buildConditions(m.config.condition, ds);
    const evalnet = new EvalNetFeatures(join(dir, 'evalnet'));
    try {
      const s = { ...settings, n: 8 };
      const { drawn, samples } = sampleStage(m, c, s);
      const l = await layoutStage(m, drawn!, samples, c, ds, evalnet, s, 0, quiet);
      assert.equal(l.kind, 'boxes');
      for (const v of [l.foreground.iou, l.foreground.chanceIou, l.foreground.realIou]) assert.ok(v >= 0 && v <= 1);
      assert.ok(l.foreground.realIou > 0.5, 'real canvases fill their own boxes');
      assert.deepEqual([l.diversity!.groups, l.diversity!.per], [8, 8]);
      const shifted = sampleStage(m, c, s, 4);
      assert.ok(shifted.drawn!.maps!.sub(drawn!.maps!).abs().sum().item() > 0, 'the layouts moved');
      for (const t of [samples, drawn!.cond, drawn!.maps, shifted.samples, shifted.drawn!.cond, shifted.drawn!.maps])
        t?.dispose();
    } finally {
      evalnet.dispose();
      c.vectors?.dispose();
      c.maps?.dispose();
      ds.dispose();
      m.dispose();
    }
  });
});
