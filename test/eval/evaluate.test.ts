// `evaluate` end to end on a tiny checkpoint in seconds: every metric present and in range, the real
// features cached and reused with the same numbers, label consistency for a label-guided model, and
// the files it writes.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { DiffusionTrainer } from '../../src/diffusion/trainer.js';
import { evaluate, METRICS_HEADER, metricsRow, type EvalMetrics } from '../../src/eval/evaluate.js';
import { trainEvalNet } from '../../src/eval/evalnet.js';
import * as torch from '../../src/torch/index.js';

const quiet = () => {};
const data = { kind: 'fashion-mnist' as const, limit: 300 };

async function fixtures(dir: string) {
  await trainEvalNet(join(dir, 'evalnet'), {
    config: { data, train: { steps: 20, batchSize: 64 } },
    progress: false,
    log: quiet,
  });
  const t = await DiffusionTrainer.open(join(dir, 'model'), {
    config: {
      data,
      condition: { kind: 'label' },
      model: { preset: 'tiny' },
      train: { steps: 3, batchSize: 8, warmup: 1, checkpointEvery: 3 },
    },
    log: quiet,
  });
  await t.train({ progress: false });
  t.dispose();
}

describe('evaluate', () => {
  test('a label-guided tiny checkpoint: metrics, cache, determinism, files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-evaluate-'));
    await fixtures(dir);
    const o = {
      checkpoint: join(dir, 'model'),
      evalnet: join(dir, 'evalnet'),
      n: 24,
      scale: 2,
      sampler: 'ddim' as const,
      steps: 2,
      seed: 3,
      batchSize: 8,
      cacheDir: join(dir, 'cache'),
      log: quiet,
    };
    const a = await evaluate({ ...o, out: join(dir, 'eval') });
    const cached = readdirSync(join(dir, 'cache')).sort();
    assert.equal(cached.length, 2, cached.join(', '));
    assert.match(cached[0]!, /^real-evalnet-[0-9a-f]{16}\.safetensors$/);
    assert.equal(a.n, 24);
    assert.equal(a.realImages, 300);
    assert.ok(a.fd.evalnet > 0 && Number.isFinite(a.fd.evalnet));
    for (const k of ['precision', 'recall', 'density', 'coverage'] as const)
      assert.ok(a[k] >= 0 && a[k] <= (k === 'density' ? 24 / 5 + 1 : 1), `${k} ${a[k]}`);
    assert.ok(a.isEvalnet >= 1 && a.isEvalnet <= 10);
    assert.ok(a.confidence >= 0.1 && a.confidence <= 1, `confidence ${a.confidence}`);
    assert.equal(a.eta, 0);
    assert.equal(a.consistency?.kind, 'evalnet-label');
    assert.ok(a.consistency!.value >= 0 && a.consistency!.value <= 1 && a.consistency!.chance > 0);
    assert.equal(a.perClassRecall!.length, 10);
    assert.equal(
      a.perClassRecall!.reduce((s, c) => s + c.realImages, 0),
      24,
    );
    // the same options give the same numbers, with the real features read from the cache
    const b = await evaluate(o);
    assert.deepEqual({ ...b, seconds: null, checkpoint: null }, { ...a, seconds: null, checkpoint: null });
    const written = JSON.parse(readFileSync(join(dir, 'eval', 'metrics.json'), 'utf8')) as EvalMetrics;
    assert.equal(written.fd.evalnet, a.fd.evalnet);
    assert.ok(existsSync(join(dir, 'eval', 'samples.png')));
    const { tensors } = torch.safetensors.loadFile(join(dir, 'eval', 'samples.safetensors'));
    assert.deepEqual(tensors.get('images')!.shape, [24, 1, 32, 32]);
    assert.equal(tensors.get('images')!.dtype, 'uint8');
    assert.deepEqual(tensors.get('rows')!.shape, [24]);
    // Stopped between the samples and the metrics (here: the grid cannot be written), the folder keeps
    // no metrics.json from before beside samples it does not describe.
    rmSync(join(dir, 'eval', 'samples.png'));
    mkdirSync(join(dir, 'eval', 'samples.png'));
    await assert.rejects(evaluate({ ...o, seed: 4, out: join(dir, 'eval') }));
    assert.ok(!existsSync(join(dir, 'eval', 'metrics.json')), 'the old metrics are gone with the old samples');
    const row = metricsRow('tiny', a);
    assert.equal(row.split('|').length, METRICS_HEADER.split('\n')[0]!.split('|').length);
    assert.match(row, /^\| tiny \| 24 \| ddim-2 \| 2 \| \d+\.\d\d \|/);
  });

  test('bad requests fail before any sampling', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-evaluate-'));
    await assert.rejects(
      evaluate({
        checkpoint: join(dir, 'none'),
        evalnet: join(dir, 'none'),
        n: 3,
        scale: 1,
        sampler: 'ddim',
        steps: 2,
        cacheDir: dir,
      }),
      /--n must be an integer above k = 5/,
    );
    await assert.rejects(
      evaluate({
        checkpoint: join(dir, 'none'),
        evalnet: join(dir, 'none'),
        n: 30,
        scale: 1,
        sampler: 'ddim',
        steps: 2,
        cacheDir: dir,
      }),
      /no checkpoint|not found|does not exist/i,
    );
  });
});
