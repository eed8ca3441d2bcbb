// The fashion-scenes experiment end to end on the smoke budget: every stage runs, the report has every
// row and the claims, a second invocation reruns nothing and writes the same report, and a fresh root takes
// the recorded evaluations instead of training again.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { FashionScenesExperiment } from '../../src/experiments/fashion-scenes.js';

test('fashion-scenes smoke budget: all rows, the sweep, the shifted-box control, resumable', async () => {
  const root = mkdtempSync(join(tmpdir(), 'sg-fs-'));
  const docs = join(root, 'docs');
  const run = (rows?: string[]) =>
    new FashionScenesExperiment({ budget: 'smoke', root: join(root, 'exp'), docs, rows, log: () => {} }).run();
  // --rows: only the rows named, in its order; the report lists what is evaluated, in the report's order.
  await assert.rejects(run(['self-boxes', 'boxes']), /no row 'boxes'; the rows are none, gt-labels,/);
  assert.equal(await run(['self-boxes', 'none']), 0);
  const partial = readFileSync(join(docs, 'fashion-scenes.md'), 'utf8');
  assert.match(partial, /^\| none \|[^\n]*\n\| self-boxes \|/m);
  assert.doesNotMatch(partial, /^\| gt-labels \|/m);
  assert.doesNotMatch(partial, /Shifted-box control|Guidance scale/);
  assert.ok(!existsSync(join(root, 'exp', 'runs', 'gt-labels')));
  assert.equal(await run(), 0);
  const report = readFileSync(join(docs, 'fashion-scenes.md'), 'utf8');
  for (const id of [
    'none',
    'gt-labels',
    'self-labels',
    'gt-boxes',
    'self-boxes',
    'gt-masks',
    'self-masks-kmeans',
    'self-masks-stego',
  ])
    assert.match(report, new RegExp(`^\\| ${id} \\|`, 'm'), id);
  assert.match(report, /\| self-boxes \| .* \| CorLoc [01]\.\d{3} \|/);
  assert.match(report, /\| self-masks-stego \| .* \| mIoU [01]\.\d{3}, fg IoU [01]\.\d{3} \|/);
  assert.match(report, /## Shifted-box control\n\nEvery self-box moved 3 px/);
  assert.match(report, /self-boxes followed \(foreground box IoU >= 0\.6 and >= 3x shuffled\)/);
  assert.match(report, /## Layouts and samples[\s\S]*!\[self-boxes\]\(fashion-scenes\/self-boxes\.png\)/);
  assert.ok(existsSync(join(docs, 'fashion-scenes', 'self-masks-stego.png')));
  assert.match(
    readFileSync(join(docs, 'fashion-scenes', 'sweep.svg'), 'utf8'),
    /^<svg [\s\S]*foreground IoU[\s\S]*<\/svg>/,
  );
  // g is a new root's default, the ViT: LOST read its keys, the masks its tokens.
  assert.match(report, /g: a ViT trained by DINO \+ iBOT \(LOST on its last keys, the masks on its tokens\), 3 steps/);
  assert.ok(existsSync(join(root, 'exp', 'features-keys.safetensors')));
  assert.ok(existsSync(join(root, 'exp', 'features-tokens.safetensors')));
  assert.throws(
    () => new FashionScenesExperiment({ budget: 'smoke', root: join(root, 'exp'), docs, g: 'resnet' }),
    /was made with the vit g; use another --root for --g resnet/,
  );
  // Judged by the canvas judge, trained on the canvases' class sets: its mAP, FD-judge, the presence check.
  assert.match(
    report,
    /The judge: an evaluation network trained 10 steps on the training canvases' hidden class sets \(mAP [01]\.\d{3} on/,
  );
  assert.match(report, /\| FD-judge \| FD-canvas \|/);
  assert.match(report, /^\| gt-labels \|.*\| [01]\.\d{2} \/ [01]\.\d{2} \([01]\.\d{2} \/ [01]\.\d{2}\) \|/m);
  assert.match(report, /- self-labels: the classes asked for \(self-labels matched to classes\) are found in/);
  // Evaluated with the budget's sampler (DDPM), named for it.
  assert.match(report, /16 samples DDPM-2 at s = 3/);
  const metrics = join(root, 'exp', 'eval', 'self-boxes-s3-ddpm-judge', 'metrics.json');
  const before = statSync(metrics).mtimeMs;
  assert.equal(await run(), 0);
  assert.equal(statSync(metrics).mtimeMs, before, 'nothing is evaluated again');
  assert.equal(readFileSync(join(docs, 'fashion-scenes.md'), 'utf8'), report);

  // A fresh root (a later session, another machine) with the docs' record: the shared stages are rebuilt,
  // every evaluation whose g, judge and condition fingerprints match is taken from the record, no row is
  // trained, and the page is the same but for the root it names.
  // Evaluations on disk that the record lacks (a root measured before the record existed) are recorded.
  const record = join(docs, 'fashion-scenes', 'record');
  rmSync(record, { recursive: true });
  assert.equal(await run(), 0);
  assert.equal(statSync(metrics).mtimeMs, before, 'nothing is evaluated again');
  assert.equal(
    readdirSync(record).length,
    8 + 2 + 1 + 1,
    'the rows, the other sweep scales, the shifted control, the carried runs',
  );
  // The stages the evaluations are measured against are carried (STEGO's head only when it trains, which
  // this root did before the record was removed); the rows' runs no longer are.
  assert.deepEqual(readdirSync(join(record, 'carried')).sort(), ['encoder', 'judge']);
  const logs: string[] = [];
  const fresh = (name: string) =>
    new FashionScenesExperiment({ budget: 'smoke', root: join(root, name), docs, log: (m) => logs.push(m) }).run();
  const page = () => readFileSync(join(docs, 'fashion-scenes.md'), 'utf8').replace(/\(root [^)]*\)/, '(root)');
  const recorded = page();
  assert.equal(await fresh('exp2'), 0);
  assert.ok(!existsSync(join(root, 'exp2', 'runs')), 'no row trained again');
  assert.ok(
    !logs.some((m) => /training the (DINO|SimCLR|canvas judge)/.test(m)),
    'g and the judge are continued from the record, not trained',
  );
  assert.ok(logs.some((m) => /continuing encoder from the run carried in the record/.test(m)));
  assert.equal(page(), recorded);
  // An evaluation measured against another judge is measured again, and only that one.
  const entry = join(record, 'none-s3-ddpm-judge', 'entry.json');
  const e = JSON.parse(readFileSync(entry, 'utf8')) as { inputs: Record<string, string> };
  writeFileSync(entry, JSON.stringify({ ...e, inputs: { ...e.inputs, judge: 'step 10 0000000000000000' } }));
  assert.equal(await fresh('exp3'), 0);
  assert.deepEqual(readdirSync(join(root, 'exp3', 'runs')), ['none']);
  assert.equal(JSON.parse(readFileSync(entry, 'utf8')).inputs.judge, e.inputs.judge, 'recorded again');
});
