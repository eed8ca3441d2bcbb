// Optimizers against independent scalar implementations, clipping, schedules, EMA, exact resume.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as nn from '../../src/nn/index.js';
import * as optim from '../../src/optim/index.js';
import * as torch from '../../src/torch/index.js';
import { close, sameState } from '../helpers/check.js';

function setGrads(ps: torch.Tensor[], gs: number[][]): void {
  ps.forEach((p, i) => {
    p.grad = torch.tensor(gs[i]!, { dtype: p.dtype });
  });
}

describe('optimizers', () => {
  test('AdamW matches the textbook update step by step', () => {
    const p = torch.tensor([1, -2], { dtype: 'float64', requiresGrad: true });
    const opt = new optim.AdamW([p], { lr: 0.1, weightDecay: 0.01 });
    const ref = [1, -2],
      m = [0, 0],
      v = [0, 0];
    const grads = [
      [0.5, -1],
      [0.2, 0.3],
      [-0.7, 0.1],
    ];
    grads.forEach((g, s) => {
      setGrads([p], [g]);
      opt.step();
      const t = s + 1;
      for (let i = 0; i < 2; i++) {
        ref[i]! *= 1 - 0.1 * 0.01;
        m[i] = 0.9 * m[i]! + 0.1 * g[i]!;
        v[i] = 0.999 * v[i]! + 0.001 * g[i]! ** 2;
        const mh = m[i]! / (1 - 0.9 ** t),
          vh = v[i]! / (1 - 0.999 ** t);
        ref[i]! -= (0.1 * mh) / (Math.sqrt(vh) + 1e-8);
      }
      close(p, ref, 1e-12, `step ${t}`);
    });
  });

  test('Adam couples weight decay into the gradient', () => {
    const p = torch.tensor([1], { dtype: 'float64', requiresGrad: true });
    const opt = new optim.Adam([p], { lr: 0.01, weightDecay: 0.5 });
    setGrads([p], [[0.2]]);
    opt.step();
    const g = 0.2 + 0.5 * 1;
    close(p, [1 - (0.01 * g) / (Math.abs(g) + 1e-8)], 1e-12);
  });

  test('SGD with momentum, dampening and Nesterov', () => {
    const p = torch.tensor([1], { dtype: 'float64', requiresGrad: true });
    const opt = new optim.SGD([p], { lr: 0.1, momentum: 0.9 });
    setGrads([p], [[1]]);
    opt.step(); // buf = 1
    close(p, [0.9]);
    setGrads([p], [[1]]);
    opt.step(); // buf = 0.9 + 1
    close(p, [0.9 - 0.19], 1e-12);
    const q = torch.tensor([1], { dtype: 'float64', requiresGrad: true });
    const nes = new optim.SGD([q], { lr: 0.1, momentum: 0.5, nesterov: true, weightDecay: 0.1 });
    setGrads([q], [[1]]);
    nes.step(); // g = 1.1; buf = 1.1; d = g + 0.5 buf = 1.65
    close(q, [1 - 0.165], 1e-12);
    assert.throws(() => new optim.SGD([q], { lr: 0.1, nesterov: true }), /Nesterov/);
  });

  test('parameters without gradients are skipped; groups keep their own lr', () => {
    const a = torch.tensor([1], { requiresGrad: true }),
      b = torch.tensor([1], { requiresGrad: true });
    const opt = new optim.SGD([{ params: [a] }, { params: [b], hyper: { lr: 1 } }], { lr: 0.1 });
    setGrads([a], [[1]]);
    opt.step();
    close(a, [0.9]);
    close(b, [1]);
    setGrads([a, b], [[1], [1]]);
    opt.step();
    close(b, [0]);
    assert.throws(() => new optim.SGD([{ params: [a] }, { params: [a] }], { lr: 1 }), /more than one group/);
  });

  test('gradient clipping by global norm', () => {
    const a = torch.tensor([3], { requiresGrad: true }),
      b = torch.tensor([0], { requiresGrad: true });
    setGrads([a, b], [[3], [4]]);
    const n = optim.clipGradNorm_([a, b], 1);
    close(n, 5);
    close(a.grad!, [0.6], 1e-5);
    close(b.grad!, [0.8], 1e-5);
    setGrads([a, b], [[0.3], [0.4]]);
    optim.clipGradNorm_([a, b], 1);
    close(a.grad!, [0.3]);
  });

  test('schedules', () => {
    const w = optim.linearWarmup(4);
    assert.deepEqual([0, 1, 3, 10].map(w), [0.25, 0.5, 1, 1]);
    const c = optim.warmupCosine(2, 12, 0.1);
    close([c(0), c(1), c(2), c(7), c(12), c(50)], [0.5, 1, 1, 0.55, 0.1, 0.1], 1e-12);
    const p = torch.tensor([1], { requiresGrad: true });
    const opt = new optim.AdamW([p], { lr: 1 });
    const s = new optim.LRScheduler(opt, 2, w);
    close(opt.lr, 0.5);
    s.step();
    close(opt.lr, 1);
  });

  test('EMA follows the warm-up formula and swaps weights', () => {
    const lin = new nn.Linear(1, 1, false);
    torch.noGrad(() => lin.weight.fill_(0));
    const ema = new optim.EMA(lin, { decay: 0.9 });
    let ref = 0;
    for (let n = 0; n < 5; n++) {
      const target = n + 1;
      torch.noGrad(() => lin.weight.fill_(target));
      const d = Math.min(0.9, (1 + n) / (10 + n));
      assert.equal(ema.currentDecay(), d);
      ema.update(lin);
      ref = d * ref + (1 - d) * target;
    }
    close(ema.stateDict().tensors.get('weight')!, [ref], 1e-6);
    const inside = ema.withAveraged(lin, () => lin.weight.item());
    close(inside, ref, 1e-6);
    assert.equal(lin.weight.item(), 5);
  });
});

describe('resume', () => {
  function build(seed: number) {
    torch.manualSeed(seed);
    const model = new nn.Sequential(new nn.Linear(3, 16), new nn.SiLU(), new nn.Linear(16, 1));
    const opt = new optim.AdamW(model.parameters(), { lr: 1e-2, weightDecay: 0.01 });
    const sched = new optim.LRScheduler(opt, 1e-2, optim.warmupCosine(3, 20));
    const ema = new optim.EMA(model, { decay: 0.99 });
    const gen = new torch.Generator(99);
    return { model, opt, sched, ema, gen };
  }
  type Run = ReturnType<typeof build>;
  function train(r: Run, steps: number): void {
    for (let i = 0; i < steps; i++) {
      torch.tidy(() => {
        const x = torch.randn([8, 3], { generator: r.gen });
        const y = x.sum(1, { keepdim: true }).sin();
        const loss = torch.mseLoss(r.model.forward(torch.dropout(x, 0.1, true)), y);
        r.opt.zeroGrad();
        loss.backward();
        optim.clipGradNorm_(r.model.parameters(), 1);
        r.opt.step();
        r.sched.step();
        r.ema.update(r.model);
      });
    }
  }
  function save(r: Run, path: string): void {
    const tensors = new Map<string, torch.Tensor>();
    for (const [k, t] of r.model.stateDict()) tensors.set(`model.${k}`, t);
    const os = r.opt.stateDict();
    for (const [k, t] of os.tensors) tensors.set(`optim.${k}`, t);
    for (const [k, t] of r.ema.stateDict().tensors) tensors.set(`ema.${k}`, t);
    tensors.set('rng.data', r.gen.getState());
    tensors.set('rng.global', torch.defaultGenerator().getState());
    torch.safetensors.saveFile(path, tensors, {
      optim: JSON.stringify(os.meta),
      sched: JSON.stringify(r.sched.stateDict()),
      ema: String(r.ema.numUpdates),
    });
  }
  function load(r: Run, path: string): void {
    const { tensors, metadata } = torch.safetensors.loadFile(path);
    const pick = (prefix: string) =>
      new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
    r.model.loadStateDict(pick('model.'));
    r.opt.loadStateDict({ tensors: pick('optim.'), meta: JSON.parse(metadata.optim!) });
    r.sched.loadStateDict(JSON.parse(metadata.sched!));
    r.ema.loadStateDict({ tensors: pick('ema.'), numUpdates: Number(metadata.ema) });
    r.gen.setState(tensors.get('rng.data')!);
    torch.defaultGenerator().setState(tensors.get('rng.global')!);
  }

  test('10 steps + save/load into fresh objects + 10 steps equals 20 straight steps, bit for bit', () => {
    const straight = build(5);
    train(straight, 20);
    const first = build(5);
    train(first, 10);
    const path = join(mkdtempSync(join(tmpdir(), 'sg-resume-')), 'ckpt.safetensors');
    save(first, path);
    const resumed = build(1234);
    load(resumed, path);
    train(resumed, 10);
    sameState(resumed.model.stateDict(), straight.model.stateDict());
    sameState(resumed.ema.stateDict().tensors, straight.ema.stateDict().tensors, 'ema ');
    assert.equal(resumed.opt.lr, straight.opt.lr);
  });

  test('optimizer state for another model is rejected with a reason', () => {
    const a = build(1);
    train(a, 1);
    const other = new optim.AdamW([torch.ones([2], { requiresGrad: true })]);
    assert.throws(() => other.loadStateDict(a.opt.stateDict()), /4 parameters in 1 groups; this optimizer has 1 in 1/);
    const sgd = new optim.SGD(a.model.parameters(), { lr: 1 });
    assert.throws(() => sgd.loadStateDict(a.opt.stateDict()), /for AdamW, not SGD/);
  });
});
