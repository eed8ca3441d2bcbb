// TorchScript: a small module traced in PyTorch (test/fixtures/make_fixtures.py) loads and runs.
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { close } from '../helpers/check.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

describe('TorchScript modules', () => {
  test('a scripted feature extractor gives the outputs PyTorch recorded', () => {
    const m = torch.ScriptModule.load(join(fixtures, 'tiny_encoder.pt'));
    const expected = torch.safetensors.loadFile(join(fixtures, 'tiny_encoder_io.safetensors')).tensors;
    const out = m.forward(expected.get('input')!) as torch.Tensor[];
    assert.equal(out.length, 2);
    const [feat, patches] = out as [torch.Tensor, torch.Tensor];
    assert.deepEqual(feat.shape, [2, 8]);
    assert.deepEqual(patches.shape, [2, 8, 4, 4]);
    close(feat, Array.from(expected.get('feature')!.toTypedArray() as Float32Array), 1e-5);
    close(patches, Array.from(expected.get('patches')!.toTypedArray() as Float32Array), 1e-5);
    assert.ok(m.namedParameters().size >= 2);
  });

  test('calling a missing method or a missing file is a clear error', () => {
    const m = torch.ScriptModule.load(join(fixtures, 'tiny_encoder.pt'));
    assert.throws(() => m.call('nope', torch.ones([1])), /no method 'nope'/);
    assert.throws(() => torch.ScriptModule.load(join(fixtures, 'missing.pt')), /not found/);
    assert.throws(
      () => torch.ScriptModule.load(join(fixtures, 'tiny_encoder_io.safetensors')),
      /loading TorchScript module/,
    );
    assert.throws(() => m.forward(torch.ones([1, 2])), /TorchScript forward/);
  });
});
