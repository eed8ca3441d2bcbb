// The trainer: resume equals an uninterrupted run, signals checkpoint and stop, non-finite losses stop
// with the last good checkpoint kept, and run directories are guarded.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { DiffusionTrainer, loadModel, NonFiniteLossError, type TrainConfigInput } from '../../src/diffusion/index.js';
import * as torch from '../../src/torch/index.js';
import { flat, sameState } from '../helpers/check.js';

const quiet = () => {};
const base = (): TrainConfigInput => ({
  data: { kind: 'fashion-mnist', limit: 256 },
  condition: { kind: 'label' },
  model: { preset: 'tiny', dropout: 0.1 },
  train: {
    steps: 20,
    batchSize: 8,
    lr: 1e-3,
    warmup: 5,
    checkpointEvery: 5,
    logEvery: 5,
    emaDecay: 0.99,
    hflip: true,
    seed: 3,
  },
});
const tmp = () => mkdtempSync(join(tmpdir(), 'sg-train-'));

describe('diffusion trainer', () => {
  test('10 steps + resume + 10 steps gives the same weights as 20 straight steps', async () => {
    const a = join(tmp(), 'straight');
    const straight = await DiffusionTrainer.open(a, { config: base(), log: quiet });
    await straight.train({ progress: false });
    const b = join(tmp(), 'split');
    const first = await DiffusionTrainer.open(b, { config: base(), log: quiet });
    const r1 = await first.train({ untilStep: 10, progress: false });
    assert.equal(r1.status, 'paused');
    first.dispose();
    const second = await DiffusionTrainer.open(b, { resume: true, log: quiet });
    assert.equal(second.step, 10);
    const r2 = await second.train({ progress: false });
    assert.equal(r2.status, 'done');
    sameState(second.model.stateDict(), straight.model.stateDict());
    sameState(second.ema.stateDict().tensors, straight.ema.stateDict().tensors, 'ema ');
    const metrics = readFileSync(join(b, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(
      metrics.map((m) => m.step),
      [5, 10, 15, 20],
    );
    assert.ok(metrics.every((m) => m.loss > 0 && m.lr > 0 && m.grad_norm > 0 && m.images_per_s > 0));
    assert.equal(listCheckpoints(b).length, 2, 'keeps the newest 2 checkpoints');
    straight.dispose();
    second.dispose();
  });

  test('with previews on, a run killed after a checkpoint and resumed ends bit-exact, its log each step once', async () => {
    const cfg = { ...base(), train: { ...base().train, logEvery: 2 } };
    const a = join(tmp(), 'straight');
    const straight = await DiffusionTrainer.open(a, { config: cfg, log: quiet });
    await straight.train({ progress: false, previewEvery: 4 });
    straight.dispose();
    const b = join(tmp(), 'killed');
    const first = await DiffusionTrainer.open(b, { config: cfg, log: quiet });
    await first.train({ untilStep: 14, progress: false, previewEvery: 4 });
    first.dispose();
    // As if killed before step 14's checkpoint: the log and the previews went past the checkpoint at 10.
    rmSync(join(b, 'checkpoints', 'step-00000014.safetensors'), { force: true });
    const second = await DiffusionTrainer.open(b, { resume: true, log: quiet });
    assert.equal(second.step, 10);
    assert.deepEqual(
      readdirSync(join(b, 'previews')),
      ['step-00000004.png', 'step-00000008.png'],
      'previews past the checkpoint are dropped',
    );
    await second.train({ progress: false, previewEvery: 4 });
    second.dispose();
    const end = (dir: string) => torch.safetensors.loadFile(join(dir, 'checkpoints', 'step-00000020.safetensors'));
    const x = end(a);
    const y = end(b);
    assert.deepEqual([...y.tensors.keys()].sort(), [...x.tensors.keys()].sort());
    const same = (p: torch.Tensor, q: torch.Tensor) =>
      Buffer.from(p.toTypedArray().buffer).equals(Buffer.from(q.toTypedArray().buffer));
    const differ = [...x.tensors].filter(([k, t]) => !same(t, y.tensors.get(k)!)).map(([k]) => k);
    assert.deepEqual(differ, [], 'weights, EMA, optimizer and random states all equal');
    const steps = (dir: string) =>
      readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { step: number }).step);
    assert.deepEqual(steps(b), steps(a), 'each step once, in order');
    assert.deepEqual(readdirSync(join(b, 'previews')), readdirSync(join(a, 'previews')));
  });

  test('a checkpoint samples with its EMA weights, the same images for the same seed', async () => {
    const dir = join(tmp(), 'run');
    const t = await DiffusionTrainer.open(dir, {
      config: { ...base(), train: { ...base().train, steps: 3 } },
      log: quiet,
    });
    await t.train({ progress: false });
    t.dispose();
    const { generate, idConditions } = await import('../../src/diffusion/index.js');
    const m = loadModel(dir);
    assert.equal(m.step, 3);
    assert.equal(m.conditions.numIds, 10);
    const cond = idConditions([0, 9], 10);
    const a = flat(generate(m, { n: 2, cond, scale: 2, sampler: 'ddim', steps: 3, seed: 1 }));
    const b = flat(generate(m, { n: 2, cond, scale: 2, sampler: 'ddim', steps: 3, seed: 1 }));
    assert.deepEqual(a, b);
    assert.throws(() => generate(m, { n: 2, cond: null, scale: 2, sampler: 'ddim', steps: 3, seed: 1 }), /conditional/);
    for (const batchSize of [0, 1.5])
      assert.throws(
        () => generate(m, { n: 2, cond, scale: 2, sampler: 'ddim', steps: 3, seed: 1, batchSize }),
        /batchSize must be a positive integer/,
      );
    m.dispose();
  });

  test('a non-finite loss stops the run and keeps the last good checkpoint', async () => {
    const dir = join(tmp(), 'nan');
    const file = join(dir, '..', 'nan-cond.safetensors');
    const vectors = torch.ones([64, 4]);
    vectors.select(0, 5).fill_(NaN);
    torch.safetensors.saveFile(file, { vectors });
    const cfg: TrainConfigInput = {
      data: { kind: 'fashion-mnist', limit: 64 },
      condition: { kind: 'file', path: file },
      model: { preset: 'tiny' },
      train: { steps: 50, batchSize: 64, checkpointEvery: 1, seed: 0 },
    };
    const t = await DiffusionTrainer.open(dir, { config: cfg, log: quiet });
    await assert.rejects(
      t.train({ progress: false }),
      (e: Error) =>
        e instanceof NonFiniteLossError &&
        /loss is NaN at step 1/.test(e.message) &&
        /Last good checkpoint: none/.test(e.message),
    );
    t.dispose();
    assert.deepEqual(listCheckpoints(dir), []);
  });

  test('run directories: a new run refuses existing checkpoints; resume needs a config', async () => {
    const dir = join(tmp(), 'guard');
    const t = await DiffusionTrainer.open(dir, {
      config: { ...base(), train: { ...base().train, steps: 1 } },
      log: quiet,
    });
    await t.train({ progress: false });
    t.dispose();
    await assert.rejects(
      DiffusionTrainer.open(dir, { config: base(), log: quiet }),
      /already has checkpoints; pass --resume/,
    );
    await assert.rejects(
      DiffusionTrainer.open(join(tmp(), 'none'), { resume: true, log: quiet }),
      /config.json does not exist/,
    );
    await assert.rejects(
      DiffusionTrainer.open(join(tmp(), 'bad'), {
        config: { ...base(), train: { steps: -1 } } as TrainConfigInput,
        log: quiet,
      }),
      /invalid config: train.steps/,
    );
    await assert.rejects(
      DiffusionTrainer.open(join(tmp(), 'nolabels'), {
        config: { ...base(), data: { kind: 'folder', path: '/nonexistent-dir' } },
        log: quiet,
      }),
      /cannot read image folder/,
    );
  });

  test('SIGINT stops after the current step with a checkpoint; --resume continues', async () => {
    const dir = join(tmp(), 'sigint');
    const args = [
      'bin/selfguided.mjs',
      'train',
      '--data-dir',
      '/usr/share/datasets/fashion-mnist',
      '--limit',
      '128',
      '--preset',
      'tiny',
      '--condition',
      'label',
      '--steps',
      '100000',
      '--batch',
      '8',
      '--log-every',
      '1',
      '--checkpoint-every',
      '100000',
      '--run-dir',
      dir,
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const metrics = join(dir, 'metrics.jsonl');
    while (!existsSync(metrics) || readFileSync(metrics, 'utf8').split('\n').length < 4)
      await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted at step \d+; checkpoint .*Continue with: selfguided train --run-dir .* --resume/);
    const files = readdirSync(join(dir, 'checkpoints'));
    assert.equal(files.length, 1);
    const step = Number(/step-(\d+)/.exec(files[0]!)![1]);
    assert.ok(step >= 3);
    const t = await DiffusionTrainer.open(dir, { resume: true, steps: step + 2, log: quiet });
    assert.equal(t.step, step);
    const r = await t.train({ progress: false });
    assert.equal(r.step, step + 2);
    t.dispose();
  });
});
