// The image-level experiment on the colour objects, smoke budget: every row trains and evaluates on 32 px
// colour images (from a synthetic stamps folder, so that the test needs no package), with no long-tailed
// rows (the data is unbalanced by nature) and no sampler study; the page is the dataset's own, and a root
// keeps the dataset it was started with.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import sharp from 'sharp';
import { FashionMnistExperiment } from '../../src/experiments/fashion-mnist.js';
import { stampsFolder } from '../helpers/stamps.js';

test('colour-objects smoke budget: image-level rows on colour images, no long tail', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-co-'));
  const o = {
    budget: 'smoke' as const,
    dataset: 'colour-objects' as const,
    stamps: { dir: await stampsFolder(), exclude: [] },
    root: join(dir, 'root'),
    docs: join(dir, 'docs'),
    log: () => {},
  };
  assert.equal(await new FashionMnistExperiment(o).run(), 0);
  const report = readFileSync(join(dir, 'docs', 'colour-objects.md'), 'utf8');
  assert.ok(!existsSync(join(dir, 'docs', 'fashion-mnist.md')));
  assert.match(report, /^# Self-guided diffusion on the colour objects: the reproduction table \(budget `smoke`\)/);
  assert.match(report, /## Training set \(384 images\), its natural class counts/);
  for (const id of ['none', 'gt-labels', 'self-k3', 'self-k6', 'self-scan-k3'])
    assert.match(report, new RegExp(`^\\| ${id} \\| .* \\| \\d+\\.\\d\\d \\| \\d+\\.\\d{3} \\|`, 'm'), id);
  // The synthetic stamps have two categories with 30 stamps each (a third has too few).
  assert.match(report, /^\| gt-labels \| ground-truth labels \(2 classes\) \|/m);
  assert.doesNotMatch(report, /lt-|Long-tailed training set|Sampler study|pending/);
  assert.match(report, /2b\. Self-labels on a long-tailed set: no long-tailed rows on this page/);
  assert.match(report, /evaluation network trained on the ground-truth labels of the colour objects/);
  assert.match(report, /48 samples with DDPM-3 at guidance scale/);
  assert.match(report, /experiment colour-objects --budget smoke/);
  // The grids are colour images.
  const grid = await sharp(join(dir, 'docs', 'colour-objects', 'gt-labels.png')).metadata();
  assert.equal(grid.channels, 3);
  const plan = JSON.parse(readFileSync(join(o.root, 'plan.json'), 'utf8'));
  assert.equal(plan.dataset, 'colour-objects');
  assert.deepEqual(plan.stamps, o.stamps);
  assert.throws(
    () => new FashionMnistExperiment({ ...o, dataset: 'fashion-mnist' }),
    /holds colour-objects; use another --root for fashion-mnist/,
  );
});
