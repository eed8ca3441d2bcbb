// The reproduction experiment's runner on the smoke budget: every row trained and evaluated, the report
// written with every row and no pending claim, and a second run skipping finished work; an evaluation
// removed and redone gives the same numbers (resuming equals not stopping).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { FashionMnistExperiment } from '../../src/experiment/fashion-mnist.js';

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
      'diffusion-k10',
      'ssl-feature',
      'random-k10',
      'lt-none',
      'lt-gt-labels',
    ];
    for (const id of ids) {
      assert.match(report, new RegExp(`^\\| ${id} \\| .* \\| \\d+\\.\\d\\d \\| \\d+\\.\\d{3} \\|`, 'm'), id);
      assert.ok(existsSync(join(dir, 'docs', 'fashion-mnist', `${id}.png`)), `${id}.png`);
    }
    assert.match(report, /^\| lt-self-k(4|8) \|/m);
    assert.doesNotMatch(report, /pending/);
    assert.ok(existsSync(join(dir, 'docs', 'fashion-mnist', 'fd-vs-scale.svg')));
    assert.match(report, /## Guidance-scale sweep \(self-k(4|8)\)\n\n\| s \|.*\n.*\n\| 0 \| \d/);
    // The rows the claims compare, again with seed 1: their own run directories, trained with that seed.
    for (const id of ['gt-labels', 'lt-gt-labels']) {
      assert.match(report, new RegExp(`^\\| ${id} \\| 1 \\| \\d+\\.\\d\\d \\|`, 'm'), `${id} seed 1`);
      const cfg = JSON.parse(readFileSync(join(dir, 'root', 'rows', `${id}-seed1`, 'config.json'), 'utf8'));
      assert.equal(cfg.train.seed, 1);
      assert.ok(existsSync(join(dir, 'root', 'rows', `${id}-seed1`, 'eval', 'ddim3-s2-n48-seed1', 'metrics.json')));
    }
    assert.match(report, /^\| (lt-)?self-k(4|8) \| 1 \| \d/m);
    const timing = () => JSON.parse(readFileSync(join(dir, 'root', 'timing.json'), 'utf8')) as Record<string, number>;
    const before = timing();

    const evalDir = join(dir, 'root', 'rows', 'self-k8', 'eval', 'ddim3-s2-n48-seed0');
    const first = JSON.parse(readFileSync(join(evalDir, 'metrics.json'), 'utf8'));
    rmSync(evalDir, { recursive: true });
    assert.equal(await new FashionMnistExperiment(o).run(), 0);
    const after = timing();
    const redone = JSON.parse(readFileSync(join(evalDir, 'metrics.json'), 'utf8'));
    assert.deepEqual({ ...redone, seconds: null }, { ...first, seconds: null });
    for (const [stage, s] of Object.entries(before)) {
      if (stage !== 'eval self-k8 s2') assert.equal(after[stage], s, `${stage} ran again`);
    }
    assert.ok(after['eval self-k8 s2']! > before['eval self-k8 s2']!);
    await assert.rejects(async () => new FashionMnistExperiment({ ...o, budget: 'small' }), /holds the 'smoke' budget/);
  });
});
