// The spatial experiment on the colour canvases, smoke budget: every stage runs on 64 px colour canvases
// (from a synthetic stamps folder, so that the test needs no package and decodes in a moment), the judge
// learns the foreground as well as the class sets, and the layout columns read the samples' foreground with
// it (a brightness threshold cannot find objects on colour backgrounds).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FashionScenesExperiment } from '../../src/experiments/fashion-scenes.js';
import { stampsFolder } from '../helpers/stamps.js';

// The rows that differ on colour (the presence check, LOST and STEGO on colour canvases, layouts read by the
// judge); the fashion-scenes smoke test covers every row, the sweep and the shifted-box control.
test('colour-scenes smoke budget: label, box and mask rows, judged with the foreground head', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sg-cs-'));
  const docs = join(root, 'docs');
  const exp = join(root, 'exp');
  const stamps = { dir: await stampsFolder(), exclude: [] };
  const run = () =>
    new FashionScenesExperiment({
      budget: 'smoke',
      dataset: 'colour-scenes',
      stamps,
      root: exp,
      docs,
      rows: ['gt-labels', 'self-boxes', 'self-masks-stego'],
      log: () => {},
    }).run();
  assert.equal(await run(), 0);
  const report = readFileSync(join(docs, 'colour-scenes.md'), 'utf8');
  assert.match(report, /^# colour-scenes: box- and pixel-level self-guidance \(smoke budget\)/);
  assert.match(report, /experiment colour-scenes --budget smoke/);
  for (const id of ['gt-labels', 'self-boxes', 'self-masks-stego'])
    assert.match(report, new RegExp(`^\\| ${id} \\|`, 'm'), id);
  assert.match(report, /^\| gt-labels \|.*\| [01]\.\d{2} \/ [01]\.\d{2} \([01]\.\d{2} \/ [01]\.\d{2}\) \|/m);
  assert.match(report, /it also learned the hidden masks' foreground/);
  const judge = JSON.parse(readFileSync(join(exp, 'judge.json'), 'utf8'));
  assert.ok(judge.testForegroundIoU >= 0 && judge.testForegroundIoU <= 1);
  const m = JSON.parse(readFileSync(join(exp, 'eval', 'self-boxes-s3-ddpm-judge', 'metrics.json'), 'utf8'));
  assert.match(m.layout.method, /the judge's foreground head/);
  assert.equal(m.dataset, 'colour-scenes/train');
  assert.ok(existsSync(join(docs, 'colour-scenes', 'self-masks-stego.png')));
  assert.deepEqual(
    JSON.parse(readFileSync(join(exp, 'plan.json'), 'utf8')).stamps,
    stamps,
    'the root keeps its stamps',
  );
  assert.throws(
    () => new FashionScenesExperiment({ budget: 'smoke', dataset: 'fashion-scenes', root: exp, docs }),
    /holds colour-scenes; use another --root for fashion-scenes/,
  );
});
