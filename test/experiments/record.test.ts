// The experiment record: fingerprints that see the tensors and nothing else, and an evaluation restored
// only when identity and inputs match, never from a partial entry or outside the record's folder.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ExperimentRecord, tensorFingerprint } from '../../src/experiments/record.js';
import * as torch from '../../src/torch/index.js';

function save(path: string, values: number[], meta: Record<string, string>): void {
  const t = torch.tensor(values);
  torch.safetensors.saveFile(path, new Map([['w', t]]), meta);
  t.dispose();
}

test('tensorFingerprint: the same tensors under other metadata agree; one value changed does not', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-record-'));
  save(join(dir, 'a.safetensors'), [1, 2, 3], { path: '/root/one' });
  save(join(dir, 'b.safetensors'), [1, 2, 3], { path: '/elsewhere/two', extra: 'x' });
  save(join(dir, 'c.safetensors'), [1, 2, 3.0001], { path: '/root/one' });
  const [a, b, c] = ['a', 'b', 'c'].map((n) => tensorFingerprint(join(dir, `${n}.safetensors`)));
  assert.equal(a, b);
  assert.notEqual(a, c);
  assert.match(a!, /^[0-9a-f]{16}$/);
  assert.notEqual(
    tensorFingerprint(join(dir, 'a.safetensors'), () => false),
    a,
    'a filter changes what is hashed',
  );
  writeFileSync(join(dir, 'short.safetensors'), Buffer.from([255, 0, 0, 0, 0, 0, 0, 0, 123]));
  assert.throws(() => tensorFingerprint(join(dir, 'short.safetensors')), /cannot fingerprint .*short\.safetensors/);
});

test('ExperimentRecord: keep, then restore only what matches identity and inputs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-record-'));
  const out = join(dir, 'eval');
  mkdirSync(out);
  writeFileSync(join(out, 'metrics.json'), '{"fd":1}');
  writeFileSync(join(out, 'samples.png'), 'png');
  writeFileSync(join(out, 'samples.safetensors'), 'big');
  const logs: string[] = [];
  const rec = new ExperimentRecord(join(dir, 'record'), { budget: 'small', seed: 0 }, (m) => logs.push(m));
  assert.throws(() => rec.keep('x', join(dir, 'record'), {}), /no such file|holds no metrics\.json/);
  rec.keep('row/s2', out, { judge: 'j1', g: 'g1' });
  assert.ok(rec.has('row/s2'));
  assert.ok(!existsSync(join(dir, 'record', 'row', 's2', 'samples.safetensors')), 'samples stay in the root');

  const back = (inputs: Record<string, string>, r = rec) => {
    rmSync(join(dir, 'back'), { recursive: true, force: true });
    return r.restore('row/s2', join(dir, 'back'), inputs);
  };
  assert.equal(back({ judge: 'j1', g: 'g1' }), true);
  assert.equal(readFileSync(join(dir, 'back', 'metrics.json'), 'utf8'), '{"fd":1}');
  assert.ok(existsSync(join(dir, 'back', 'samples.png')));
  assert.equal(back({ judge: 'j2', g: 'g1' }), false);
  assert.match(logs.at(-1)!, /measured against another judge; measuring it again/);
  assert.equal(
    back({ judge: 'j1', g: 'g1' }, new ExperimentRecord(join(dir, 'record'), { budget: 'small', seed: 1 })),
    false,
  );
  assert.equal(rec.restore('row/other', join(dir, 'back'), {}), false);
  // An entry whose files went missing is measured again rather than restored in part.
  rmSync(join(dir, 'record', 'row', 's2', 'samples.png'));
  assert.equal(back({ judge: 'j1', g: 'g1' }), false);
  assert.match(logs.at(-1)!, /lacks samples\.png/);
  assert.throws(() => rec.has('../outside'), /not a relative folder name/);
  assert.throws(() => rec.has('/abs'), /not a relative folder name/);
});
