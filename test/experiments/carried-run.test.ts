// A training run carried in the record: stopped on one machine, carried, continued under another root, it
// ends with the same weights as a run never stopped; its paths follow the root; it is taken only with the
// same identity and inputs and only when it is further along than what the root holds.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { saveAnnotations } from '../../src/annotate/annotations.js';
import { loadDataset } from '../../src/data/spec.js';
import { DiffusionTrainer, type TrainConfigInput } from '../../src/diffusion/index.js';
import { relocateSafetensors, relocateText } from '../../src/experiments/carried-run.js';
import { ExperimentRecord, tensorFingerprint } from '../../src/experiments/record.js';
import { groundTruthAnnotations } from '../../src/pipelines/ground-truth.js';
import { latestCheckpoint, latestStep } from '../../src/train/checkpoint.js';
import * as torch from '../../src/torch/index.js';

const quiet = () => {};

test('relocateText moves paths under the root and leaves lookalike paths alone', () => {
  const text = JSON.stringify({ a: '/r/exp/x.safetensors', b: '/r/exp', c: '/r/exp2/y', d: 'q/r/exp/z' });
  const moved = JSON.parse(relocateText(text, '/r/exp', '/other root/$1')) as Record<string, string>;
  assert.deepEqual(moved, {
    a: '/other root/$1/x.safetensors',
    b: '/other root/$1',
    c: '/r/exp2/y',
    d: 'q/other root/$1/z',
  });
  assert.equal(relocateText('{"p":"C:\\\\r\\\\e\\\\f"}', 'C:\\r\\e', 'D:'), '{"p":"D:\\\\f"}');
});

test('relocateSafetensors rewrites the metadata and keeps the tensors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-carry-'));
  const t = torch.tensor([1, 2, 3, 4.5]);
  const src = join(dir, 'a.safetensors');
  torch.safetensors.saveFile(src, new Map([['w', t]]), { config: JSON.stringify({ path: '/root/a/cond.st' }) });
  const dst = join(dir, 'b.safetensors');
  const u = torch.tensor([7, 8]);
  const v = torch.tensor([[5]]);
  torch.safetensors.saveFile(
    join(dir, 'three.safetensors'),
    new Map([
      ['optim.m', u],
      ['w', t],
      ['z', v],
    ]),
    {},
  );
  u.dispose();
  v.dispose();
  relocateSafetensors(
    join(dir, 'three.safetensors'),
    join(dir, 'two.safetensors'),
    'x',
    'y',
    (k) => !k.startsWith('optim.'),
  );
  const two = torch.safetensors.loadFile(join(dir, 'two.safetensors'));
  assert.deepEqual([...two.tensors.keys()].sort(), ['w', 'z']);
  assert.deepEqual(Array.from(two.tensors.get('z')!.toTypedArray() as Float32Array), [5]);
  for (const x of two.tensors.values()) x.dispose();
  t.dispose();
  relocateSafetensors(src, dst, '/root/a', '/a much longer root/b');
  const { tensors, metadata } = torch.safetensors.loadFile(dst);
  assert.deepEqual(JSON.parse(metadata.config!), { path: '/a much longer root/b/cond.st' });
  assert.deepEqual(Array.from(tensors.get('w')!.toTypedArray() as Float32Array), [1, 2, 3, 4.5]);
  for (const x of tensors.values()) x.dispose();
  assert.equal(tensorFingerprint(dst), tensorFingerprint(src));
  writeFileSync(join(dir, 'bad.safetensors'), Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 1]));
  assert.throws(() => relocateSafetensors(join(dir, 'bad.safetensors'), dst, 'a', 'b'), /not a safetensors file/);
});

test('a run stopped, carried and continued under another root equals one never stopped', async () => {
  const base = mkdtempSync(join(tmpdir(), 'sg-carry-'));
  const ds = await loadDataset({ kind: 'fashion-scenes', limit: 64 });
  const labels = groundTruthAnnotations(ds, 'labels');
  ds.dispose();
  // Two roots, each with its own copy of the condition file the run's config names.
  const roots = ['machine-a/root', 'machine-b/elsewhere/root', 'straight'].map((r) => join(base, r));
  for (const r of roots) {
    mkdirSync(join(r, 'annotations'), { recursive: true });
    saveAnnotations(join(r, 'annotations', 'labels.safetensors'), labels);
  }
  labels.vectors?.dispose();
  const config = (root: string): TrainConfigInput => ({
    data: { kind: 'fashion-scenes', limit: 64 },
    condition: { kind: 'file', path: join(root, 'annotations', 'labels.safetensors') },
    model: { preset: 'tiny' },
    train: { steps: 8, batchSize: 8, lr: 1e-3, warmup: 2, checkpointEvery: 4, logEvery: 4, emaDecay: 0.9, seed: 1 },
  });
  const [a, b, s] = roots as [string, string, string];
  const straight = await DiffusionTrainer.open(join(s, 'run'), { config: config(s), log: quiet });
  await straight.train({ progress: false });
  straight.dispose();

  const logs: string[] = [];
  const record = new ExperimentRecord(join(base, 'docs', 'record'), { budget: 'smoke', seed: 1 }, (m) => logs.push(m));
  const first = await DiffusionTrainer.open(join(a, 'run'), { config: config(a), log: quiet });
  assert.equal((await first.train({ untilStep: 4, progress: false })).status, 'paused');
  first.dispose();
  record.keepRun('row', join(a, 'run'), { root: a, inputs: { condition: 'c1' } }, 'stopped');
  const carried = join(base, 'docs', 'record', 'carried', 'row');
  const names = (path: string) => {
    const { tensors } = torch.safetensors.loadFile(path);
    for (const x of tensors.values()) x.dispose();
    return [...new Set([...tensors.keys()].map((k) => k.split('.')[0]))].sort();
  };
  assert.deepEqual(names(join(carried, 'step-00000004.safetensors')), ['ema', 'model', 'optim', 'rng']);
  assert.deepEqual(readdirSync(carried).sort(), [
    'config.json',
    'entry.json',
    'extras',
    'metrics.jsonl',
    'step-00000004.safetensors',
  ]);
  assert.ok(!readFileSync(join(carried, 'config.json'), 'utf8').includes(a), 'no path of the machine it left');

  // Not taken with other inputs, or by a record of another identity.
  assert.equal(record.restoreRun('row', join(b, 'run'), { root: b, inputs: { condition: 'c2' } }), false);
  assert.match(logs.at(-1)!, /trained on another condition; not continuing it/);
  const other = new ExperimentRecord(join(base, 'docs', 'record'), { budget: 'smoke', seed: 2 });
  assert.equal(other.restoreRun('row', join(b, 'run'), { root: b, inputs: { condition: 'c1' } }), false);
  assert.ok(!existsSync(join(b, 'run')));

  assert.equal(record.restoreRun('row', join(b, 'run'), { root: b, inputs: { condition: 'c1' } }), true);
  assert.equal(latestStep(join(b, 'run')), 4);
  const resumed = await DiffusionTrainer.open(join(b, 'run'), { resume: true, log: quiet });
  assert.equal((await resumed.train({ progress: false })).status, 'done');
  resumed.dispose();
  const weights = (run: string) =>
    tensorFingerprint(latestCheckpoint(run)!, (k) => k.startsWith('model.') || k.startsWith('ema.'));
  assert.equal(weights(join(b, 'run')), weights(join(s, 'run')));
  // The checkpoint names the condition file of the root it is in now.
  const { metadata, tensors } = torch.safetensors.loadFile(latestCheckpoint(join(b, 'run'))!);
  for (const x of tensors.values()) x.dispose();
  assert.equal(
    (JSON.parse(metadata.config!) as { condition: { path: string } }).condition.path,
    join(b, 'annotations', 'labels.safetensors'),
  );
  // A root that holds as much or more keeps its own; the same step is not written again.
  assert.equal(record.restoreRun('row', join(b, 'run'), { root: b, inputs: { condition: 'c1' } }), false);
  record.keepRun('row', join(b, 'run'), { root: b, inputs: { condition: 'c1' } });
  // Finished: sampled from, not trained further, so carried without the optimizer's state.
  assert.deepEqual(names(join(carried, 'step-00000008.safetensors')), ['ema', 'model', 'rng']);
  const c = join(base, 'machine-c');
  assert.equal(record.restoreRun('row', join(c, 'run'), { root: c, inputs: { condition: 'c1' } }), true);
  assert.equal(weights(join(c, 'run')), weights(join(s, 'run')));
  assert.ok(!existsSync(join(carried, 'step-00000004.safetensors')), 'only the newest checkpoint is carried');
  record.dropRun('row');
  assert.ok(!existsSync(carried));
  assert.equal(record.restoreRun('row', join(a, 'run'), { root: a, inputs: { condition: 'c1' } }), false);
});

test('extras travel with the run, and a carried run missing its files is an error that names them', () => {
  const base = mkdtempSync(join(tmpdir(), 'sg-carry-'));
  const [a, b] = ['a', 'b'].map((r) => join(base, r)) as [string, string];
  mkdirSync(join(a, 'judge', 'checkpoints'), { recursive: true });
  writeFileSync(join(a, 'judge', 'config.json'), JSON.stringify({ data: join(a, 'x') }));
  const t = torch.tensor([1]);
  torch.safetensors.saveFile(join(a, 'judge', 'checkpoints', 'step-00000010.safetensors'), new Map([['model.w', t]]), {
    format: 'x',
    step: '10',
  });
  t.dispose();
  writeFileSync(
    join(a, 'judge.json'),
    JSON.stringify({ checkpoint: join(a, 'judge', 'checkpoints', 'step-00000010.safetensors'), mAP: 0.5 }),
  );
  const record = new ExperimentRecord(join(base, 'record'), { seed: 0 });
  record.keepRun('judge', join(a, 'judge'), { root: a, extras: ['judge.json'] });
  mkdirSync(join(b, 'judge', 'eval'), { recursive: true });
  writeFileSync(join(b, 'judge', 'eval', 'metrics.json'), '{}');
  assert.equal(record.restoreRun('judge', join(b, 'judge'), { root: b }), true);
  assert.ok(existsSync(join(b, 'judge', 'eval', 'metrics.json')), "the folder's other files stay");
  assert.deepEqual(JSON.parse(readFileSync(join(b, 'judge.json'), 'utf8')), {
    checkpoint: join(b, 'judge', 'checkpoints', 'step-00000010.safetensors'),
    mAP: 0.5,
  });
  assert.deepEqual(JSON.parse(readFileSync(join(b, 'judge', 'config.json'), 'utf8')), { data: join(b, 'x') });
  const c = join(base, 'c');
  rmSync(join(base, 'record', 'carried', 'judge', 'step-00000010.safetensors'));
  assert.throws(() => record.restoreRun('judge', join(c, 'judge'), { root: c }), /lacks step-00000010\.safetensors/);
  assert.ok(!existsSync(join(c, 'judge')), 'nothing half-restored');
});
