// The command line: help, one-line errors with a non-zero exit, and a train -> sample round trip.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/selfguided.mjs', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('selfguided CLI', () => {
  test('help for every command lists options with defaults', () => {
    const top = cli('--help');
    assert.equal(top.code, 0);
    assert.match(top.out, /train.*\n.*sample.*\n.*demo/s);
    for (const c of ['train', 'sample', 'demo']) {
      const h = cli(c, '--help');
      assert.equal(h.code, 0);
      assert.match(h.out, /--seed INT\s+.*\(default: 0\)/);
    }
  });

  test('bad flags and values are one-line errors with exit code 2', () => {
    const cases: [string[], RegExp][] = [
      [['train', '--nope'], /^selfguided train: unknown option --nope \(see selfguided train --help\)\n$/],
      [['train', '--steps', 'ten'], /--steps must be a number, got 'ten'/],
      [['train', '--batch', '2.5'], /--batch must be an integer/],
      [['train', '--preset', 'huge'], /--preset must be one of tiny, small, paper/],
      [['train', '--steps'], /--steps needs a value/],
      [['sample'], /--checkpoint is required/],
      [['sample', '--checkpoint', 'x', 'extra'], /unexpected argument 'extra'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
    ];
    for (const [args, re] of cases) {
      const r = cli(...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, re);
      assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
    }
  });

  test('runtime errors exit 1 with the reason', () => {
    const r = cli('sample', '--checkpoint', '/nonexistent/run');
    assert.equal(r.code, 1);
    assert.match(r.err, /no checkpoints in \/nonexistent\/run/);
  });

  test('train then sample a grid with ids and with drawn conditions', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sg-cli-')), 'run');
    const t = cli('train', '--limit', '64', '--preset', 'tiny', '--condition', 'label', '--steps', '2', '--batch', '8', '--run-dir', dir);
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /trained to step 2/);
    const out = join(dir, 'grid.png');
    const s = cli('sample', '--checkpoint', dir, '--ids', '0-2', '--per-id', '2', '--steps', '2', '--out', out);
    assert.equal(s.code, 0, s.err);
    assert.ok(existsSync(out));
    const s2 = cli('sample', '--checkpoint', dir, '--n', '3', '--steps', '2', '--sampler', 'dpm++2m', '--images-dir', join(dir, 'imgs'));
    assert.equal(s2.code, 0, s2.err);
    assert.ok(existsSync(join(dir, 'imgs', 'img-00002.png')));
    const bad = cli('sample', '--checkpoint', dir, '--ids', '12');
    assert.equal(bad.code, 2);
    assert.match(bad.err, /id 12 is out of range: the model knows 10 ids/);
    const again = cli('train', '--limit', '64', '--preset', 'tiny', '--steps', '2', '--run-dir', dir);
    assert.equal(again.code, 1);
    assert.match(again.err, /already has checkpoints; pass --resume/);
  });
});
