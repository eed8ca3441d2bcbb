// DINO's pieces against hand computations (the loss, its gradient by finite differences, the centre and
// teacher updates, the schedules), and the trainer: it resumes exactly (teacher and centre included),
// its features are the teacher's, and data parallelism is refused with the reason.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { lostNormalizeFor } from '../../src/annotate/lost.js';
import { SslEncoderFeatures } from '../../src/features/index.js';
import { teacherState, viewRank } from '../../src/features/ssl/encoder-trainer.js';
import type { SmallResNet } from '../../src/features/ssl/resnet.js';
import {
  dinoLoss,
  targetEntropy,
  teacherMomentum,
  teacherTemperature,
  updateCenter,
  updateTeacher,
} from '../../src/features/ssl/dino.js';
import * as nn from '../../src/nn/index.js';
import * as torch from '../../src/torch/index.js';
import { loadCheckpoint } from '../../src/train/checkpoint.js';
import { flat, sameState } from '../helpers/check.js';
import { straightAndResumed } from '../helpers/encoder-resume.js';

const softmax = (xs: number[]) => {
  const m = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
};

/** The loss by hand: 2 global views, `v` views in all, B rows, K outputs. */
function byHand(student: number[][], teacher: number[][], center: number[], tS: number, tT: number, b: number): number {
  const v = student.length / b;
  let total = 0,
    terms = 0;
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < v; j++) {
      if (i === j) continue;
      let ce = 0;
      for (let r = 0; r < b; r++) {
        const t = softmax(teacher[i * b + r]!.map((x, k) => (x - center[k]!) / tT));
        const s = softmax(student[j * b + r]!.map((x) => x / tS));
        ce -= t.reduce((a, p, k) => a + p * Math.log(s[k]!), 0);
      }
      total += ce / b;
      terms++;
    }
  return total / terms;
}

describe('DINO', () => {
  const S = [
    [0.3, -0.2, 0.5],
    [0.1, 0.4, -0.6],
    [-0.5, 0.2, 0.1],
    [0.7, -0.1, 0.0],
    [0.2, 0.2, -0.3],
    [-0.4, 0.6, 0.3],
  ]; // 3 views of B = 2
  const T = [
    [0.5, -0.5, 0.1],
    [0.0, 0.3, 0.2],
    [-0.2, 0.4, 0.6],
    [0.3, 0.1, -0.4],
  ]; // 2 global views
  const C = [0.1, -0.05, 0.02];

  test('the loss is the mean cross-entropy of teacher and student views, i != j', () => {
    const got = dinoLoss(torch.tensor(S), torch.tensor(T), torch.tensor(C), { studentTemp: 0.1, teacherTemp: 0.04 });
    assert.ok(Math.abs(got.item() - byHand(S, T, C, 0.1, 0.04, 2)) < 1e-5, `${got.item()}`);
  });

  test('its gradient reaches the student only, and matches finite differences', () => {
    const s = torch.tensor(S, { dtype: 'float64' }).requiresGrad_(true);
    const t = torch.tensor(T, { dtype: 'float64' }).requiresGrad_(true);
    const loss = dinoLoss(s, t, torch.tensor(C, { dtype: 'float64' }), { studentTemp: 0.1, teacherTemp: 0.04 });
    loss.backward();
    assert.equal(t.grad, null, 'no gradient into the teacher');
    const g = flat(s.grad!);
    const eps = 1e-6;
    for (const [r, k] of [
      [0, 0],
      [3, 2],
      [5, 1],
    ] as const) {
      const up = S.map((row) => [...row]),
        down = S.map((row) => [...row]);
      up[r]![k]! += eps;
      down[r]![k]! -= eps;
      const fd = (byHand(up, T, C, 0.1, 0.04, 2) - byHand(down, T, C, 0.1, 0.04, 2)) / (2 * eps);
      assert.ok(Math.abs(fd - g[r * 3 + k]!) < 1e-5, `d/ds[${r},${k}]: ${g[r * 3 + k]} vs ${fd}`);
    }
  });

  test('centre and teacher are moving averages; the schedules have their ends', () => {
    const c = torch.tensor([1, 1, 1]).float();
    updateCenter(c, torch.tensor(T).float(), 0.9);
    const mean = [0, 1, 2].map((k) => T.reduce((a, r) => a + r[k]!, 0) / 4);
    flat(c).forEach((x, k) => assert.ok(Math.abs(x - (0.9 + 0.1 * mean[k]!)) < 1e-6));
    const student = new nn.Linear(2, 2),
      teacher = new nn.Linear(2, 2);
    const before = flat(teacher.weight);
    const sw = flat(student.weight);
    updateTeacher(teacher, student, 0.75);
    flat(teacher.weight).forEach((x, i) => assert.ok(Math.abs(x - (0.75 * before[i]! + 0.25 * sw[i]!)) < 1e-6));
    assert.equal(teacherMomentum(0.996, 0, 100), 0.996);
    assert.ok(Math.abs(teacherMomentum(0.996, 100, 100) - 1) < 1e-12);
    assert.ok(Math.abs(teacherMomentum(0.996, 50, 100) - 0.998) < 1e-9);
    assert.equal(teacherTemperature(0.04, 0.07, 10, 0), 0.04);
    assert.ok(Math.abs(teacherTemperature(0.04, 0.07, 10, 5) - 0.055) < 1e-12);
    assert.equal(teacherTemperature(0.04, 0.07, 10, 30), 0.07);
  });

  test("the targets' entropy: log K when centring leaves nothing, 0 for a sharp target, over the last dimension", () => {
    const k = 8;
    const scores = torch.ones([2, 3, k]).mul(0.7);
    assert.ok(Math.abs(targetEntropy(scores, torch.ones([k]).mul(0.7), 0.04) - Math.log(k)) < 1e-5);
    const sharp = torch.tensor([1, 0, 0, 0, 0, 0, 0, 0], { shape: [1, k] });
    assert.ok(targetEntropy(sharp, torch.zeros([k]), 0.04) < 1e-6);
  });

  test("the view rank: 0 when every view's partner is its nearest, a third for one closer row in four", () => {
    const a = torch.eye(4);
    assert.equal(viewRank(a, a), 0);
    // b's rows reversed: each row of a has one row of b (its mirror) closer than its partner.
    const b = torch.eye(4).flip([0]);
    assert.ok(Math.abs(viewRank(a, b) - 1 / 3) < 1e-9);
    const g = new torch.Generator(4);
    const r = viewRank(torch.randn([400, 16], { generator: g }), torch.randn([400, 16], { generator: g }));
    assert.ok(Math.abs(r - 0.5) < 0.05, `unrelated views rank at chance: ${r}`);
  });

  test('the DINO trainer resumes exactly, teacher and centre included; its features are the teacher’s', async () => {
    const cfg = {
      data: { kind: 'fashion-mnist' as const, limit: 128 },
      model: {
        widths: [8, 16],
        objective: 'dino' as const,
        dino: { outDim: 32, hidden: 32, bottleneck: 16, localCrops: 2 },
      },
      train: { steps: 4, batchSize: 16, warmup: 1, checkpointEvery: 2, seed: 1 },
    };
    const { straight: a, resumed: b2, straightDir: adir } = await straightAndResumed(cfg, 2);
    sameState(b2.model.stateDict(), a.model.stateDict());
    sameState(b2.teacher!.stateDict(), a.teacher!.stateDict(), 'teacher ');
    assert.deepEqual(flat(b2.center!), flat(a.center!));
    assert.notDeepEqual(flat(a.center!), new Array(32).fill(0), 'the centre moved');
    const stemWeight = (m: { backbone: unknown }) =>
      flat((m.backbone as SmallResNet).stem.stateDict().get('0.weight')!);
    const teacherW = stemWeight(a.teacher!);
    const studentW = stemWeight(a.model);
    assert.notDeepEqual(teacherW, studentW);
    a.dispose();
    b2.dispose();
    const enc = new SslEncoderFeatures(adir);
    assert.deepEqual(stemWeight(enc.model), teacherW);
    assert.equal(lostNormalizeFor(enc.provenance()), 'layernorm', "a ResNet's ReLU maps are layer-normed");
    assert.equal(lostNormalizeFor({ config: 'not json' }), 'layernorm');
    enc.dispose();
    const ck = loadCheckpoint(
      join(adir, 'checkpoints', 'step-00000004.safetensors'),
      'selfguided-encoder-checkpoint/1',
    );
    assert.ok(teacherState(ck.ema).size > 0 && ck.ema.has('center'));
    ck.dispose();
  });
});
