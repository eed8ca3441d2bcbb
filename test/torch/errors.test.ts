// Bad input becomes a JS Error carrying the op, the shapes and libtorch's reason; nothing aborts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import * as torch from '../../src/torch/index.js';

describe('errors', () => {
  test('shape mismatch names the op and the input shapes', () => {
    const a = torch.ones([2, 3]),
      b = torch.ones([4, 5]);
    assert.throws(
      () => a.matmul(b),
      (e: Error) => /aten::matmul/.test(e.message) && /\[2, 3\]/.test(e.message) && /\[4, 5\]/.test(e.message),
    );
    assert.throws(() => a.add(torch.ones([3, 2])), /size of tensor a \(3\) must match/);
    assert.throws(
      () => torch.conv2d(torch.ones([1, 3, 8, 8]), torch.ones([4, 2, 3, 3])),
      /conv2d.*\[1, 3, 8, 8\].*\[4, 2, 3, 3\]/s,
    );
    assert.throws(() => a.view(7), /shape '\[7\]' is invalid/);
  });

  test('dtype mistakes', () => {
    assert.throws(() => torch.crossEntropy(torch.ones([2, 3]), torch.ones([2])), /cross_entropy/);
    assert.throws(() => torch.ones([2]).to('float128' as torch.DType), /unknown dtype 'float128'/);
    assert.throws(() => torch.embedding(torch.ones([2]), torch.ones([3, 2])), /embedding/);
    assert.throws(() => torch.tensor([1.5], { dtype: 'int64' }), /not an integer/);
  });

  test('device mistakes', () => {
    if (torch.cuda.isAvailable()) return;
    assert.throws(() => torch.ones([2], { device: 'cuda' }), /zeros|ones|CUDA|cuda/);
    assert.throws(() => torch.ones([2]).to('cuda'), /CUDA|cuda/);
  });

  test('device names are checked against the machine before any work', () => {
    assert.equal(torch.parseDevice('cpu'), 'cpu');
    for (const bad of ['gpu', 'CUDA', 'cuda:', 'cuda:x', 'cuda:-1', 'mps'])
      assert.throws(() => torch.parseDevice(bad), /unknown device .* \(use cpu, cuda or cuda:N\)/, bad);
    if (torch.cuda.isAvailable()) {
      assert.equal(torch.parseDevice('cuda:0'), 'cuda:0');
      assert.throws(() => torch.parseDevice(`cuda:${torch.cuda.deviceCount()}`), /this machine has \d+ CUDA device/);
    } else {
      assert.throws(() => torch.parseDevice('cuda'), /device 'cuda': no CUDA device is available here/);
      assert.throws(() => torch.parseDevice('cuda:1'), /no CUDA device is available here/);
    }
  });

  test('bad arguments are rejected at the edge', () => {
    assert.throws(() => torch.zeros([2, -1]), /non-negative integers/);
    assert.throws(() => torch.tensor([[1, 2], [3]]), /ragged/);
    assert.throws(() => torch.ones([2]).reshape(1.5 as number), /expects an integer/);
    assert.throws(() => torch.interpolate(torch.ones([1, 1, 2, 2]), {}), /exactly one of size and scaleFactor/);
    assert.throws(() => torch.dropout(torch.ones([2]), 2), /p must be in \[0, 1\]/);
    assert.throws(() => torch.mseLoss(torch.ones([2]), torch.ones([2]), 'avg' as 'mean'), /reduction/);
    assert.throws(() => new torch.Op('no_such_op').index, /no operator aten::no_such_op/);
    assert.throws(() => torch.manualSeed(-1), /seed/);
  });

  test('the process survives many errors', () => {
    for (let i = 0; i < 200; i++) assert.throws(() => torch.ones([i + 1]).matmul(torch.ones([i + 2])));
    assert.equal(torch.ones([2]).sum().item(), 2);
  });

  test('a missing libtorch gives a clear message from the build', () => {
    const r = spawnSync(process.execPath, ['scripts/build-native.mjs'], {
      env: { ...process.env, LIBTORCH: '/nonexistent/libtorch', SELFGUIDED_BUILD_DIR: '/tmp/selfguided-build-test' },
      encoding: 'utf8',
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /LIBTORCH=\/nonexistent\/libtorch does not look like libtorch/);
  });

  test('a missing addon: importing works (help needs no libtorch), the first tensor op gives a clear message', () => {
    // The failure is kept: a second op gets the same error without loading (or building) again.
    const script = [
      "const t = await import('./src/torch/index.ts');",
      "console.log('imported');",
      'let first;',
      'try { t.zeros([1]); } catch (e) { first = e; }',
      'try { t.ones([1]); } catch (e) { console.log(e === first ? "same error" : "loaded again"); }',
      't.zeros([1]);',
    ].join(' ');
    const r = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], {
      env: { ...process.env, SELFGUIDED_ADDON: '/nonexistent/selfguided.node' },
      encoding: 'utf8',
    });
    assert.notEqual(r.status, 0);
    assert.equal(r.stdout, 'imported\nsame error\n');
    assert.match(r.stderr, /native addon is not built.*npm run setup/);
  });
});
