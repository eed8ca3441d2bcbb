// The reproduction experiment's runner on the smoke budget: the sampler study choosing by its rule, every
// row trained and evaluated, the sweep with two seeds per scale, the long-tail replicates, the report
// written with every row and no pending claim, and a second run skipping finished work; an evaluation
// removed (with its record) and redone gives the same numbers (resuming equals not stopping); a fresh root
// takes every evaluation from the record instead of training again.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FashionMnistExperiment } from '../../src/experiments/fashion-mnist.js';
import * as torch from '../../src/torch/index.js';
import { latestStep } from '../../src/train/checkpoint.js';

const quiet = () => {};

describe('experiment fashion-mnist', () => {
  test('smoke budget end to end, then resumed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-experiment-'));
    const o = { budget: 'smoke' as const, root: join(dir, 'root'), docs: join(dir, 'docs'), log: quiet };
    assert.equal(await new FashionMnistExperiment(o).run(), 0);
    const report = readFileSync(join(dir, 'docs', 'fashion-mnist.md'), 'utf8');
    const ids = [
      'none',
      'gt-labels',
      'self-k4',
      'self-k8',
      'self-scan-k4',
      'diffusion-k10',
      'ssl-feature',
      'random-k10',
      'lt-none',
      'lt-gt-labels',
      'lt-self-k4',
      'lt-self-k8',
      'lt-self-balanced-k4',
      'lt-self-scan-k4',
    ];
    for (const id of ids) {
      assert.match(report, new RegExp(`^\\| ${id} \\| .* \\| \\d+\\.\\d\\d \\| \\d+\\.\\d{3} \\|`, 'm'), id);
      assert.ok(existsSync(join(dir, 'docs', 'fashion-mnist', `${id}.png`)), `${id}.png`);
    }
    assert.doesNotMatch(report, /pending/);
    // SCAN rows keep their head in the condition file (the consistency judge assigns with it).
    const scanFile = torch.safetensors.loadFile(join(dir, 'root', 'annotations', 'ssl-backbone-scan-k4.safetensors'));
    assert.deepEqual(scanFile.tensors.get('head.weight')?.shape.slice(0, 1), [4]);
    assert.match(scanFile.metadata.method!, /^SCAN clustering head/);
    for (const t of scanFile.tensors.values()) t.dispose();
    assert.match(report, /SCAN there weighs its entropy term 1 \(5 on the balanced set\)/);
    // The sampler study: both samplers on both rows, and the choice is the lowest mean FD-evalnet.
    const rowsDir = join(dir, 'root', 'rows');
    const fdOf = (id: string, d: string) =>
      JSON.parse(readFileSync(join(rowsDir, id, 'eval', d, 'metrics.json'), 'utf8')).fd.evalnet as number;
    const meanFd = (d: string) => (fdOf('none', d) + fdOf('self-k4', d)) / 2;
    const [ddim, eta1] = ['ddim3-s2-n48-seed0', 'ddim3-eta1-s2-n48-seed0'];
    const choice = JSON.parse(readFileSync(join(dir, 'root', 'sampler-choice.json'), 'utf8'));
    assert.deepEqual(choice, meanFd(eta1) < meanFd(ddim) ? { sampler: 'ddim', eta: 1 } : { sampler: 'ddim', eta: 0 });
    const evalName = (scale: number, seed: number) => `ddim3${choice.eta ? '-eta1' : ''}-s${scale}-n48-seed${seed}`;
    assert.match(report, /## Sampler study[\s\S]*\| DDIM-3 \(eta 1\) \| self-k4 \| \d+\.\d\d \|/);
    assert.match(
      report,
      new RegExp(`evaluates every other number on this page: \\*\\*DDIM-3 \\(eta ${choice.eta}\\)\\*\\*`),
    );
    // The sweep: every scale evaluated with two seeds, shown as mean ± sd.
    assert.ok(existsSync(join(dir, 'docs', 'fashion-mnist', 'fd-vs-scale.svg')));
    const best = /## Guidance-scale sweep \((self-(?:scan-)?k(?:4|8))\)/.exec(report)?.[1];
    assert.ok(best);
    for (const s of [0, 2, 5])
      for (const seed of [0, 1])
        assert.ok(
          existsSync(join(rowsDir, best, 'eval', evalName(s, seed), 'metrics.json')),
          `sweep s${s} seed${seed}`,
        );
    assert.match(report, /\n\| 0 \| \d+\.\d\d ± \d+\.\d\d \|/);
    // The long-tail rows the claim compares, again with seed 1: their own run directories, trained with that seed.
    const ltBest = /^\| (lt-self-(?:balanced-|scan-)?k(?:4|8)) \| 1 \| \d/m.exec(report)?.[1];
    assert.ok(ltBest, 'best long-tailed self-label row with seed 1');
    for (const id of ['lt-gt-labels', ltBest]) {
      const cfg = JSON.parse(readFileSync(join(rowsDir, `${id}-seed1`, 'config.json'), 'utf8'));
      assert.equal(cfg.train.seed, 1);
      assert.ok(existsSync(join(rowsDir, `${id}-seed1`, 'eval', evalName(2, 1), 'metrics.json')));
    }
    assert.match(report, /2b\. .*FD-evalnet over 2 seeds/);
    const record = join(dir, 'docs', 'fashion-mnist', 'record');
    const timing = () => JSON.parse(readFileSync(join(record, 'timing.json'), 'utf8')) as Record<string, number>;
    const before = timing();

    const evalDir = join(rowsDir, 'self-k8', 'eval', evalName(2, 0));
    const stage = `eval self-k8 s2 ${choice.eta ? 'ddim-eta1' : 'ddim'}`;
    const first = JSON.parse(readFileSync(join(evalDir, 'metrics.json'), 'utf8'));
    rmSync(evalDir, { recursive: true });
    rmSync(join(record, 'self-k8', evalName(2, 0)), { recursive: true });
    assert.equal(await new FashionMnistExperiment(o).run(), 0);
    const after = timing();
    const redone = JSON.parse(readFileSync(join(evalDir, 'metrics.json'), 'utf8'));
    assert.deepEqual({ ...redone, seconds: null }, { ...first, seconds: null });
    for (const [name, sec] of Object.entries(before)) {
      if (name !== stage) assert.equal(after[name], sec, `${name} ran again`);
    }
    assert.ok(after[stage]! > before[stage]!);
    await assert.rejects(async () => new FashionMnistExperiment({ ...o, budget: 'small' }), /holds the 'smoke' budget/);

    // A fresh root with the docs' record (a later session): g and the judge are carried in the record, the
    // annotations rebuilt from them match, so every evaluation is taken from the record; only 'none' is
    // trained again (the diffusion-feature control reads its model, whose run is not carried once evaluated),
    // and every row's line of the page is the same.
    const rowLines = () =>
      readFileSync(join(dir, 'docs', 'fashion-mnist.md'), 'utf8')
        .split('\n')
        .filter((l) => ids.some((id) => l.startsWith(`| ${id} |`)));
    const lines = rowLines();
    assert.ok(lines.length >= ids.length);
    const timed = timing();
    assert.ok(timed.encoder! > 0 && timed.evalnet! > 0);
    assert.equal(await new FashionMnistExperiment({ ...o, root: join(dir, 'fresh') }).run(), 0);
    assert.deepEqual(rowLines(), lines);
    assert.equal(timing().encoder, timed.encoder, 'g is continued from the record, not trained again');
    assert.equal(timing().evalnet, timed.evalnet, 'the judge is continued from the record, not trained again');
    const trained = readdirSync(join(dir, 'fresh', 'rows')).filter(
      (id) => latestStep(join(dir, 'fresh', 'rows', id)) > 0,
    );
    assert.deepEqual(trained, ['none']);
  });
});
