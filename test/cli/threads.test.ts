// --threads on every command, each data-parallel worker its share of the cores, and the note on a busy
// machine (processes that each take every core slow each other far more than by half).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { busyNote, workerThreads } from '../../src/cli/threads.js';

const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/selfguided.mjs', ...args], { encoding: 'utf8' });

describe('threads', () => {
  test('every command takes --threads; bad values are one-line errors', () => {
    for (const c of ['train', 'sample', 'eval', 'cluster', 'features', 'serve'])
      assert.match(cli(c, '--help').stdout, /--threads N\s+threads for tensor work/, c);
    for (const [v, re] of [
      ['0', /--threads must be at least 1, got 0/],
      ['1.5', /--threads must be an integer/],
      ['100000', /--threads 100000 is far beyond this machine's \d+ cores/],
    ] as const) {
      const r = cli('sample', '--checkpoint', 'x', '--threads', v);
      assert.equal(r.status, 2, v);
      assert.match(r.stderr, re);
    }
  });

  test('--threads reaches the engine (and the processes it starts)', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        '-e',
        `import('./src/cli/threads.ts').then(async (m) => { m.applyThreads('x', 1);
         const t = await import('./src/torch/index.ts'); console.log(t.getNumThreads(), process.env.SELFGUIDED_THREADS); })`,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.stdout.trim(), '1 1', r.stderr);
  });

  test('workers share the cores out, at least one each', () => {
    assert.equal(workerThreads(2, 2), 1);
    assert.equal(workerThreads(2, 16), 8);
    assert.equal(workerThreads(3, 16), 5);
    assert.equal(workerThreads(4, 2), 1);
  });

  test('a note only when the machine is busy and this process would take more than is left', () => {
    assert.equal(busyNote(0.1, 2, 2), null, 'idle');
    assert.equal(busyNote(1.0, 16, 8), null, 'room to spare');
    const note = busyNote(1.95, 2, 2)!;
    assert.match(note, /busy \(load 1.95 over the last minute on 2 cores\) and this process uses 2 threads/);
    assert.match(note, /--threads 1 \(or SELFGUIDED_THREADS\)/);
    assert.match(busyNote(12, 16, 16)!, /--threads 4/);
  });
});
