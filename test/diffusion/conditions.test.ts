// Conditions: dropout rate and consistency, one-hot ids, condition files and their errors.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { dropConditions, labelCondition, loadConditionFile, oneHotVectors } from '../../src/diffusion/index.js';
import * as torch from '../../src/torch/index.js';
import { close, flat } from '../helpers/check.js';

const dir = mkdtempSync(join(tmpdir(), 'sg-cond-'));

describe('conditions', () => {
  test('condition dropout nulls about p of the samples, vector and maps together', () => {
    const n = 20000;
    const cond = torch.ones([n, 3]);
    const maps = torch.ones([n, 2, 2, 2]);
    const { cond: c, maps: m } = dropConditions(cond, maps, 0.1, new torch.Generator(0));
    const rowC = flat(c!.sum(1));
    const rowM = flat(m!.sum([1, 2, 3]));
    const dropped = rowC.filter((v) => v === 0).length / n;
    close(dropped, 0.1, 0.01 / 0.1);
    assert.ok(
      rowC.every((v, i) => (v === 0) === (rowM[i] === 0)),
      'vector and maps dropped together',
    );
    assert.ok(rowC.every((v) => v === 0 || v === 3));
    assert.equal(flat(dropConditions(cond, null, 0)!.cond!.sum())[0], 3 * n);
    assert.equal(flat(dropConditions(cond, null, 1)!.cond!.sum())[0], 0);
    assert.throws(() => dropConditions(cond, null, 1.5), /condition dropout/);
  });

  test('one-hot ids and ground-truth labels', () => {
    assert.deepEqual(oneHotVectors(Int32Array.from([2, 0]), 3).toArray(), [
      [0, 0, 1],
      [1, 0, 0],
    ]);
    assert.throws(() => oneHotVectors(Int32Array.from([3]), 3), /outside \[0, 3\)/);
    const c = labelCondition(Int32Array.from([1, 1, 0]), 2);
    assert.deepEqual(c.vectors!.shape, [3, 2]);
    assert.equal(c.numIds, 2);
  });

  test('condition files: assignments with k, vectors, maps, and their errors', () => {
    const good = join(dir, 'good.safetensors');
    torch.safetensors.saveFile(
      good,
      { assignments: torch.tensor([0, 4, 2], { dtype: 'int64' }), maps: torch.zeros([3, 1, 4, 4], { dtype: 'uint8' }) },
      { k: '5', dataset: 'x' },
    );
    const c = loadConditionFile(good, 3);
    assert.deepEqual(c.vectors!.shape, [3, 5]);
    assert.deepEqual(Array.from(c.ids!), [0, 4, 2]);
    assert.deepEqual(c.maps!.shape, [3, 1, 4, 4]);
    assert.throws(() => loadConditionFile(good, 4), /has 3 rows but the dataset has 4 images.*dataset=x/);
    const nok = join(dir, 'nok.safetensors');
    torch.safetensors.saveFile(nok, { assignments: torch.tensor([0, 1], { dtype: 'int64' }) });
    assert.throws(() => loadConditionFile(nok, 2), /metadata 'k'/);
    const empty = join(dir, 'empty.safetensors');
    torch.safetensors.saveFile(empty, { other: torch.ones([2]) });
    assert.throws(() => loadConditionFile(empty, 2), /none of 'assignments', 'vectors', 'maps'/);
    assert.throws(() => loadConditionFile(join(dir, 'missing.safetensors'), 2), /not found/);
    const vec = join(dir, 'vec.safetensors');
    torch.safetensors.saveFile(vec, { vectors: torch.ones([2, 7], { dtype: 'float64' }) });
    const v = loadConditionFile(vec, 2);
    assert.equal(v.vectors!.dtype, 'float32');
    assert.equal(v.ids, null);
  });
});
