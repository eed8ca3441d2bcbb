// The evaluation network learns the labels, resumes exactly, and yields features for FD-evalnet.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { loadFashionMnist } from '../../src/data/index.js';
import { EvalNetFeatures, loadEvalNet, trainEvalNet } from '../../src/eval/evalnet.js';
import { featureStats, frechetDistance } from '../../src/eval/frechet.js';
import { extractFeatures } from '../../src/features/extract.js';
import { close, flat, sameState } from '../helpers/check.js';

const quiet = () => {};
const config = {
  data: { kind: 'fashion-mnist', limit: 1000 },
  test: { kind: 'fashion-mnist', split: 'test', limit: 500 },
  train: { steps: 60, batchSize: 64, checkpointEvery: 30 },
};

describe('evaluation network', () => {
  test('learns the classes well above chance; resume equals an uninterrupted run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-evalnet-'));
    const r = await trainEvalNet(join(dir, 'a'), { config, progress: false, log: quiet });
    assert.equal(r.step, 60);
    assert.ok(r.testAccuracy! > 0.4, `test accuracy ${r.testAccuracy}`);
    const paused = await trainEvalNet(join(dir, 'b'), { config, untilStep: 30, progress: false, log: quiet });
    assert.equal(paused.step, 30);
    assert.equal(paused.testAccuracy, null);
    await trainEvalNet(join(dir, 'b'), { resume: true, progress: false, log: quiet });
    const a = loadEvalNet(join(dir, 'a')).net,
      b = loadEvalNet(join(dir, 'b')).net;
    sameState(b.stateDict(), a.stateDict());
  });

  test('penultimate features feed the Frechet distance', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sg-evalnet-')), 'run');
    await trainEvalNet(dir, {
      config: { ...config, train: { ...config.train, steps: 5 } },
      progress: false,
      log: quiet,
    });
    const ds = loadFashionMnist({ limit: 200 });
    const f = extractFeatures(ds, new EvalNetFeatures(dir), { progress: false });
    assert.deepEqual(f.features.shape, [200, 128]);
    const again = extractFeatures(ds, new EvalNetFeatures(dir), { progress: false, batchSize: 50 });
    close(again.features, flat(f.features), 1e-5);
    close(frechetDistance(featureStats(f.features), featureStats(again.features)), 0, 1e-6);
  });
});
