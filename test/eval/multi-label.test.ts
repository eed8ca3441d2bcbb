// The canvas judge: average precision and mAP against known answers (the hidden class sets scored against
// themselves give 1, shuffled ones the prevalence), the presence check, and the multi-label evaluation
// network learning the class sets of fashion-scenes and resuming exactly.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generateScenes } from '../../src/data/scenes.js';
import { loadDataset } from '../../src/data/spec.js';
import {
  canvasMAP,
  datasetClassSets,
  evalnetOutputs,
  judgeForeground,
  loadEvalNet,
  trainEvalNet,
} from '../../src/eval/evalnet.js';
import { averagePrecision, classSets, meanAveragePrecision, presenceCheck } from '../../src/eval/multi-label.js';
import { EvalNet } from '../../src/eval/evalnet.js';
import { presenceStage, requestedClassSets } from '../../src/eval/presence.js';
import type { ConditionSet } from '../../src/diffusion/conditions.js';
import * as torch from '../../src/torch/index.js';
import { DiffusionTrainer } from '../../src/diffusion/trainer.js';
import { evaluate } from '../../src/eval/evaluate.js';
import { groundTruthAnnotations } from '../../src/pipelines/ground-truth.js';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { presenceLine } from '../../src/eval/format.js';
import { Rng } from '../../src/util/rng.js';
import { sameState } from '../helpers/check.js';

const quiet = () => {};

describe('multi-label measures', () => {
  test('average precision: perfect ranking 1, a known mixed ranking, ties earn no credit, no positive NaN', () => {
    assert.equal(averagePrecision([0.9, 0.8, 0.1], [1, 1, 0]), 1);
    // Positives at ranks 1 and 3: (1/1 + 2/3) / 2.
    assert.ok(Math.abs(averagePrecision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) - 5 / 6) < 1e-12);
    assert.equal(averagePrecision([0.5, 0.5, 0.5, 0.5], [1, 0, 0, 0]), 0.25, 'constant scores earn the prevalence');
    assert.ok(Number.isNaN(averagePrecision([0.3, 0.2], [0, 0])));
    assert.throws(() => averagePrecision([1, 2], [1]), /2 scores for 1 truths/);
  });

  test("the scenes' hidden class sets: scored against themselves mAP 1, shuffled at chance", () => {
    const ds = generateScenes({ count: 2000, seed: 1 });
    const truth = datasetClassSets(ds, 10);
    ds.dispose();
    assert.equal(meanAveragePrecision(truth, truth, 10).mAP, 1);
    const perm = new Rng(3).permutation(2000);
    const shuffled = new Uint8Array(truth.length);
    perm.forEach((j, i) => shuffled.set(truth.subarray(j * 10, j * 10 + 10), i * 10));
    const prevalence = Array.from({ length: 10 }, (_, c) => {
      let n = 0;
      for (let i = 0; i < 2000; i++) n += truth[i * 10 + c]!;
      return n / 2000;
    });
    const chance = prevalence.reduce((a, b) => a + b, 0) / 10;
    const r = meanAveragePrecision(shuffled, truth, 10);
    assert.ok(Math.abs(r.mAP - chance) < 0.03, `shuffled mAP ${r.mAP} vs prevalence ${chance}`);
    // The same holds for continuous scores: a noisy copy of the truth ranks near perfectly.
    const rng = new Rng(4);
    const noisy = Float32Array.from(truth, (t) => t + 0.4 * rng.next());
    assert.equal(meanAveragePrecision(noisy, truth, 10).mAP, 1);
  });

  test('class sets from padded class lists; an out-of-range class is an error', () => {
    assert.deepEqual([...classSets([2, 0, -1, 1, 1, -1], 2, 3, 3)], [1, 0, 1, 0, 1, 0]);
    assert.throws(() => classSets([5], 1, 1, 3), /class 5 of image 0/);
  });

  test('presence: the requests themselves are all found, their complements none, shuffles in between', () => {
    const req = [1, 0, 1, 0, 1, 0, 0, 0, 1];
    assert.deepEqual(presenceCheck(req, req, 3), { present: 1, absent: 1, exact: 1 });
    const opposite = req.map((v) => 1 - v);
    assert.deepEqual(presenceCheck(opposite, req, 3), { present: 0, absent: 0, exact: 0 });
    // Image 1 asks for class 1 and the judge finds 1 and 2: present 1, one false find among 5 not asked.
    const probs = [0.9, 0.1, 0.8, 0.2, 0.7, 0.6, 0.1, 0.3, 0.9];
    assert.deepEqual(presenceCheck(probs, req, 3), { present: 1, absent: 4 / 5, exact: 2 / 3 });
  });
});

describe('the canvas judge (a multi-label evaluation network)', () => {
  test('learns the class sets of fashion-scenes above chance; resume equals an uninterrupted run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-judge-'));
    const cache = join(dir, 'data');
    const config = {
      data: { kind: 'fashion-scenes' as const, count: 500, cache },
      test: { kind: 'fashion-scenes' as const, split: 'test' as const, count: 300, cache },
      train: { steps: 40, batchSize: 64, checkpointEvery: 20, foreground: true },
    };
    const r = await trainEvalNet(join(dir, 'a'), { config, progress: false, log: quiet });
    const test = await loadDataset(config.test);
    const truth = datasetClassSets(test, 10);
    const chance = meanAveragePrecision(new Float32Array(truth.length), truth, 10).mAP;
    assert.ok(r.testMAP! > chance + 0.08, `test mAP ${r.testMAP} vs chance ${chance}`);
    assert.equal(r.testAccuracy, null);
    // The foreground head learns the hidden masks (on black canvases a near-trivial task, but one it must learn).
    assert.ok(r.testForegroundIoU! > 0.6, `foreground IoU ${r.testForegroundIoU}`);
    const loaded = loadEvalNet(join(dir, 'a'));
    assert.equal(loaded.net.multiLabel, true);
    assert.equal(loaded.net.foreground, true);
    const four = test.images([0, 1, 2, 3]);
    assert.equal(judgeForeground(loaded.net, four).length, 4 * 48 * 48);
    four.dispose();
    assert.equal(loaded.classNames!.length, 10);
    assert.ok(Math.abs(canvasMAP(loaded.net, test).mAP - r.testMAP!) < 1e-9);
    test.dispose();
    // Resume, on a short run: 2 steps, stopped, 2 more equal 4 uninterrupted.
    const short = { ...config, train: { steps: 4, batchSize: 16, checkpointEvery: 2, foreground: true } };
    await trainEvalNet(join(dir, 'c'), { config: short, progress: false, log: quiet });
    await trainEvalNet(join(dir, 'b'), { config: short, untilStep: 2, progress: false, log: quiet });
    await trainEvalNet(join(dir, 'b'), { resume: true, progress: false, log: quiet });
    sameState(loadEvalNet(join(dir, 'b')).net.stateDict(), loadEvalNet(join(dir, 'c')).net.stateDict());
  });

  test('a dataset without class sets is refused with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-judge-'));
    await assert.rejects(
      trainEvalNet(dir, {
        config: { data: { kind: 'fashion-mnist', limit: 100 }, train: { steps: 2, target: 'classes' } },
        progress: false,
        log: quiet,
      }),
      /canvas judge needs hidden class sets/,
    );
  });
});

describe('the presence stage', () => {
  const ds = generateScenes({ count: 300, seed: 2 });
  const truth = datasetClassSets(ds, 10);
  const setsOf = (rows: Uint8Array, d: number) =>
    Array.from({ length: rows.length / d }, (_, i) =>
      [...rows.subarray(i * d, (i + 1) * d).keys()].filter((c) => rows[i * d + c]),
    );
  const conditionOf = (v: Float32Array, d: number, meta: Record<string, string>): ConditionSet => ({
    vectors: torch.tensor(v, { shape: [v.length / d, d] }),
    maps: null,
    ids: null,
    numIds: null,
    oneHot: false,
    source: 'test',
    meta,
  });

  test('ground-truth requests are the hidden class sets; self-label ids that rename the classes are matched back', () => {
    const gt = conditionOf(Float32Array.from(truth), 10, { kind: 'ground-truth' });
    assert.deepEqual(requestedClassSets(gt, ds, 10), setsOf(truth, 10));
    // Self-labels over 12 ids: class c is id (c * 7 + 3) mod 12; ids 1 and 5 never occur.
    const renamed = new Float32Array(300 * 12);
    for (let i = 0; i < 300; i++)
      for (let c = 0; c < 10; c++) if (truth[i * 10 + c]) renamed[i * 12 + ((c * 7 + 3) % 12)] = 1;
    const self = conditionOf(renamed, 12, { kind: 'n-hot' });
    assert.deepEqual(
      requestedClassSets(self, ds, 10)!.map((s) => s.sort((a, b) => a - b)),
      setsOf(truth, 10),
    );
    const continuous = conditionOf(
      Float32Array.from({ length: 300 * 4 }, (_, i) => (i % 7) / 7),
      4,
      {},
    );
    assert.equal(requestedClassSets(continuous, ds, 10), null, 'continuous vectors are not class sets');
  });

  test('the real canvases as samples score exactly as the real column; a single-label network is not asked', () => {
    const net = new EvalNet(1, 10, { multiLabel: true });
    const rows = Int32Array.from({ length: 120 }, (_, i) => (i * 37) % 300);
    const samples = ds.images(rows);
    const gt = conditionOf(Float32Array.from(truth), 10, { kind: 'ground-truth' });
    const logits = evalnetOutputs(net, samples).logits;
    const p = presenceStage(net, gt, ds, logits, rows, 0)!;
    assert.equal(p.via, 'ground-truth classes');
    assert.deepEqual(p.samples, p.real);
    assert.equal(presenceStage(new EvalNet(1, 10), gt, ds, logits, rows, 0), null);
    samples.dispose();
  });
});

describe('evaluate with the canvas judge', () => {
  test("label sets get the presence check, a per-class confidence and no IS; layouts the judge's foreground", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-judge-eval-'));
    const data = { kind: 'fashion-scenes' as const, count: 64, cache: join(dir, 'data') };
    await trainEvalNet(join(dir, 'judge'), {
      config: { data, train: { steps: 3, batchSize: 16, foreground: true } },
      progress: false,
      log: quiet,
    });
    /** A tiny model guided by the scenes' ground truth of a kind, evaluated by the judge. */
    const guidedBy = async (kind: 'labels' | 'boxes', out?: string) => {
      const ds = await loadDataset(data);
      const a = groundTruthAnnotations(ds, kind);
      saveAnnotations(join(dir, `${kind}.safetensors`), a);
      for (const x of [a.vectors, a.maps]) x?.dispose();
      ds.dispose();
      const t = await DiffusionTrainer.open(join(dir, kind), {
        config: {
          data,
          condition: { kind: 'file', path: join(dir, `${kind}.safetensors`) },
          model: { preset: 'tiny' },
          train: { steps: 2, batchSize: 8, warmup: 1, checkpointEvery: 2 },
        },
        log: quiet,
      });
      await t.train({ progress: false });
      t.dispose();
      return evaluate({
        checkpoint: join(dir, kind),
        evalnet: join(dir, 'judge'),
        n: 16,
        scale: 2,
        sampler: 'ddim',
        steps: 2,
        batchSize: 8,
        cacheDir: join(dir, 'cache'),
        out,
        log: quiet,
      });
    };
    const m = await guidedBy('labels', join(dir, 'eval'));
    assert.ok(m.presence, 'presence measured');
    assert.equal(m.presence.via, 'ground-truth classes');
    for (const p of [m.presence.samples, m.presence.shuffled, m.presence.real])
      for (const v of [p.present, p.absent, p.exact]) assert.ok(v >= 0 && v <= 1, JSON.stringify(p));
    assert.ok(Number.isNaN(m.isEvalnet));
    assert.ok(m.confidence >= 0.5 && m.confidence <= 1, `confidence ${m.confidence}`);
    assert.match(
      presenceLine(m.presence),
      /^classes asked for \(ground-truth classes\), by the canvas judge: samples present/,
    );
    const written = JSON.parse(readFileSync(join(dir, 'eval', 'metrics.json'), 'utf8'));
    assert.deepEqual(written.presence, m.presence);

    // A box-guided model: the judge's foreground head, not a brightness threshold, reads the samples' foreground.
    const mb = await guidedBy('boxes');
    assert.match(mb.layout!.method, /^foreground \(the judge's foreground head, probability above 1\/2\) bounding box/);
    assert.ok(mb.layout!.foreground.realIou >= 0 && mb.layout!.foreground.realIou <= 1);
  });
});
