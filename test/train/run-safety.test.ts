// The training loop's contract: a run is never lost or silently corrupted. Full disks (simulated below
// the file layer, and a real small tmpfs where the test may mount one), unreadable checkpoints, two
// processes on one run directory, resumes that cannot apply, and failures that must name their cause.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DiffusionTrainer, type TrainConfigInput } from '../../src/diffusion/index.js';
import { ENCODER_FORMAT, EncoderTrainer } from '../../src/features/ssl/encoder-trainer.js';
import * as torch from '../../src/torch/index.js';
import { listCheckpoints, loadCheckpoint } from '../../src/train/checkpoint.js';
import { fileIO, FileError } from '../../src/util/files.js';

const quiet = () => {};
const tmp = () => mkdtempSync(join(tmpdir(), 'sg-safety-'));
const encoderConfig = (steps: number, checkpointEvery = 2) => ({
  data: { kind: 'fashion-mnist' as const, limit: 32 },
  model: { widths: [8, 16], projHidden: 16, projDim: 8 },
  train: { steps, batchSize: 8, seed: 1, checkpointEvery, logEvery: 1 },
});
const diffusionConfig = (steps: number): TrainConfigInput => ({
  data: { kind: 'fashion-mnist', limit: 32 },
  condition: { kind: 'label' },
  model: { preset: 'tiny' },
  train: { steps, batchSize: 4, checkpointEvery: 2, logEvery: 1, seed: 2 },
});
const intact = (path: string) => {
  loadCheckpoint(path, ENCODER_FORMAT).dispose();
  return true;
};
const tmpFiles = (dir: string) =>
  [dir, join(dir, 'checkpoints')].flatMap((d) => (existsSync(d) ? readdirSync(d) : [])).filter((f) => /\.tmp-/.test(f));

/** Mounts a tmpfs of `size` (root only); null where this machine does not allow it. */
const mounts: string[] = [];
function tmpfs(size: string, ro = false): string | null {
  const dir = tmp();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `${ro ? 'ro,' : ''}size=${size}`, 'tmpfs', dir]);
  if (r.status !== 0) return null;
  mounts.push(dir);
  return dir;
}
after(() => {
  for (const m of mounts) spawnSync('umount', [m]);
});

describe('full disk', () => {
  test('a short write fails the save: nothing under the final name, no temporary file, the cause named', () => {
    const dir = tmp();
    const path = join(dir, 'x.safetensors');
    const original = fileIO.writeSync;
    let calls = 0;
    fileIO.writeSync = (fd, buf, off, len) => (calls++ === 0 ? original(fd, buf, off, Math.min(len, 100)) : 0);
    try {
      assert.throws(
        () => torch.safetensors.saveFile(path, { a: torch.ones([64]) }),
        (e: Error) =>
          e instanceof FileError && /cannot write .*x\.safetensors: short write: 100 of \d+ bytes/.test(e.message),
      );
    } finally {
      fileIO.writeSync = original;
    }
    assert.deepEqual(readdirSync(dir), []);
  });

  test('a checkpoint that cannot be written stops the run non-zero; the last good one is kept, not pruned', async () => {
    const dir = join(tmp(), 'run');
    const t = await EncoderTrainer.open(dir, { config: encoderConfig(10), log: quiet });
    const original = fileIO.writeSync;
    let checkpoints = 0;
    // The first two checkpoints (steps 2 and 4) write; the third hits a "full disk".
    fileIO.writeSync = (fd, buf, off, len) => {
      if (len > 1000 && ++checkpoints > 2) return original(fd, buf, off, Math.floor(len / 3)) && 0;
      return original(fd, buf, off, len);
    };
    try {
      await assert.rejects(t.train({ progress: false }), /cannot write .*step-00000006\.safetensors: short write/);
    } finally {
      fileIO.writeSync = original;
      t.dispose();
    }
    const left = listCheckpoints(dir).map((p) => p.split('/').pop());
    assert.deepEqual(left, ['step-00000002.safetensors', 'step-00000004.safetensors']);
    assert.ok(listCheckpoints(dir).every(intact));
    assert.deepEqual(tmpFiles(dir), []);
    const resumed = await EncoderTrainer.open(dir, { resume: true, log: quiet });
    assert.equal(resumed.step, 4);
    resumed.dispose();
  });

  test('on a real full tmpfs the run stops with ENOSPC and every checkpoint left reads back whole', async (t) => {
    const probeDir = join(tmp(), 'probe');
    const probe = await EncoderTrainer.open(probeDir, { config: encoderConfig(1, 1), log: quiet });
    await probe.train({ progress: false });
    probe.dispose();
    const size = statSync(listCheckpoints(probeDir)[0]!).size;
    // Room for two checkpoints (plus config and metrics), not for the temporary third.
    const mnt = tmpfs(`${Math.ceil((2.5 * size) / 4096) * 4096}`);
    if (!mnt) return t.skip('cannot mount a tmpfs here');
    const dir = join(mnt, 'run');
    const trainer = await EncoderTrainer.open(dir, { config: encoderConfig(20, 1), log: quiet });
    await assert.rejects(trainer.train({ progress: false }), /no space left on device \(ENOSPC\)|short write/);
    trainer.dispose();
    const left = listCheckpoints(dir);
    assert.ok(left.length >= 1 && left.length <= 2, `checkpoints left: ${left.join(', ')}`);
    assert.ok(left.every(intact));
    assert.deepEqual(tmpFiles(dir), []);
  });

  test('selfguided train on a filesystem too small for its checkpoints exits non-zero with the cause', async (t) => {
    const probeDir = join(tmp(), 'probe');
    const probe = await DiffusionTrainer.open(probeDir, { config: diffusionConfig(1), log: quiet });
    await probe.train({ progress: false });
    probe.dispose();
    const size = statSync(listCheckpoints(probeDir)[0]!).size;
    const mnt = tmpfs(`${Math.ceil((2.5 * size) / 4096) * 4096}`);
    if (!mnt) return t.skip('cannot mount a tmpfs here');
    const dir = join(mnt, 'run');
    const r = spawnSync(
      process.execPath,
      [
        'bin/selfguided.mjs',
        'train',
        '--limit',
        '32',
        '--preset',
        'tiny',
        '--condition',
        'label',
        '--batch',
        '4',
        '--steps',
        '40',
        '--checkpoint-every',
        '10',
        '--seed',
        '2',
        '--run-dir',
        dir,
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /no space left on device \(ENOSPC\)|short write/);
    assert.doesNotMatch(r.stdout, /trained to step 40/);
    const left = listCheckpoints(dir);
    assert.ok(left.length >= 1, 'the last good checkpoint is kept');
    for (const p of left) {
      loadCheckpoint(p).dispose();
    }
    assert.deepEqual(tmpFiles(dir), []);
  });

  test('resume skips a truncated newest checkpoint and says so', async () => {
    const dir = join(tmp(), 'run');
    const t = await EncoderTrainer.open(dir, { config: encoderConfig(4), log: quiet });
    await t.train({ progress: false });
    t.dispose();
    const [older, newest] = listCheckpoints(dir);
    truncateSync(newest!, statSync(newest!).size - 100);
    const said: string[] = [];
    const r = await EncoderTrainer.open(dir, { resume: true, log: (m) => said.push(m) });
    assert.equal(r.step, 2);
    assert.match(said.join('\n'), /step-00000004\.safetensors is unreadable .*truncated/);
    assert.match(said.join('\n'), new RegExp(`resuming from ${older}, the newest intact checkpoint`));
    r.dispose();
  });
});

describe('one process per run directory', () => {
  test('a live owner refuses a second trainer; nothing of the run changes', async () => {
    const dir = join(tmp(), 'run');
    const first = await EncoderTrainer.open(dir, { config: encoderConfig(2), log: quiet });
    const before = readFileSync(join(dir, 'config.json'), 'utf8');
    await assert.rejects(
      EncoderTrainer.open(dir, { resume: true, steps: 9, log: quiet }),
      new RegExp(`run directory ${dir} is in use by process ${process.pid} .*choose another --run-dir`),
    );
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), before);
    await first.train({ progress: false });
    first.dispose();
    assert.ok(!existsSync(join(dir, '.lock')), 'the lock goes with dispose()');
  });

  test('a second CLI process is refused while the first trains', async () => {
    const dir = join(tmp(), 'run');
    const args = (extra: string[]) => [
      'bin/selfguided.mjs',
      'encoder',
      'train',
      '--limit',
      '32',
      '--widths',
      '8,16',
      '--batch',
      '8',
      '--checkpoint-every',
      '100000',
      '--run-dir',
      dir,
      ...extra,
    ];
    const child = spawn(process.execPath, args(['--steps', '100000']), { stdio: 'ignore' });
    while (!existsSync(join(dir, 'metrics.jsonl'))) await new Promise((r) => setTimeout(r, 100));
    const second = spawnSync(process.execPath, args(['--resume']), { encoding: 'utf8' });
    child.kill('SIGINT');
    await new Promise((r) => child.on('exit', r));
    assert.equal(second.status, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`is in use by process ${child.pid}`));
  });

  test('a lock left by a dead process is taken over', async () => {
    const dir = join(tmp(), 'run');
    mkdirSync(join(dir, 'checkpoints'), { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
    writeFileSync(join(dir, '.lock'), JSON.stringify({ pid: dead, host: hostname(), started: 'earlier' }));
    writeFileSync(join(dir, 'checkpoints', 'step-00000002.safetensors.tmp-123'), 'half a file');
    const said: string[] = [];
    const t = await EncoderTrainer.open(dir, { config: encoderConfig(1), log: (m) => said.push(m) });
    assert.match(said.join('\n'), new RegExp(`left by process ${dead}, which is no longer running`));
    assert.deepEqual(tmpFiles(dir), [], 'stale temporary files of killed writes are removed');
    t.dispose();
  });
});

describe('resume validates first, then writes', () => {
  test('--steps below the step reached is refused and config.json is left as it was', async () => {
    const dir = join(tmp(), 'run');
    const t = await EncoderTrainer.open(dir, { config: encoderConfig(4), log: quiet });
    await t.train({ progress: false });
    t.dispose();
    const before = readFileSync(join(dir, 'config.json'), 'utf8');
    await assert.rejects(
      EncoderTrainer.open(dir, { resume: true, steps: 3, log: quiet }),
      /--steps 3 is below step 4, which .* has already reached; give --steps 4 or more/,
    );
    assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), before);
    assert.ok(!existsSync(join(dir, '.lock')), 'a failed open releases the lock');
  });

  test('a config that does not match the checkpoint says so in one short sentence', async () => {
    const dir = join(tmp(), 'run');
    const t = await DiffusionTrainer.open(dir, { config: diffusionConfig(2), log: quiet });
    await t.train({ progress: false });
    t.dispose();
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    cfg.model.preset = 'small';
    writeFileSync(cfgPath, JSON.stringify(cfg));
    const before = readFileSync(cfgPath, 'utf8');
    await assert.rejects(DiffusionTrainer.open(dir, { resume: true, log: quiet }), (e: Error) => {
      assert.match(e.message, /step-00000002\.safetensors does not match the model that .*config\.json describes/);
      assert.match(e.message, /was config.json edited/);
      assert.ok(e.message.length < 1000, `${e.message.length} characters`);
      return true;
    });
    assert.equal(readFileSync(cfgPath, 'utf8'), before);
  });

  test('a corrupt config.json names the file', async () => {
    const dir = join(tmp(), 'run');
    const t = await EncoderTrainer.open(dir, { config: encoderConfig(1), log: quiet });
    await t.train({ progress: false });
    t.dispose();
    writeFileSync(join(dir, 'config.json'), '{"data": ');
    await assert.rejects(
      EncoderTrainer.open(dir, { resume: true, log: quiet }),
      new RegExp(`invalid ${join(dir, 'config.json')}: not valid JSON`),
    );
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...encoderConfig(1), train: { steps: 'ten' } }));
    await assert.rejects(
      EncoderTrainer.open(dir, { resume: true, log: quiet }),
      new RegExp(`invalid ${join(dir, 'config.json')}: train.steps: `),
    );
  });

  test('the CLI names flags that a resumed run ignores', async () => {
    const dir = join(tmp(), 'run');
    const t = await EncoderTrainer.open(dir, { config: encoderConfig(1), log: quiet });
    await t.train({ progress: false });
    t.dispose();
    const r = spawnSync(
      process.execPath,
      [
        'bin/selfguided.mjs',
        'encoder',
        'train',
        '--run-dir',
        dir,
        '--resume',
        '--lr',
        '0.1',
        '--batch=4',
        '--steps',
        '2',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /ignoring --lr, --batch: a resumed run keeps its config.json/);
    assert.equal(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).train.lr, 2e-3);
  });

  test('--resume goes on with the options the run was started with (previews, device) unless given again', () => {
    const dir = join(tmp(), 'kept');
    const train = (...args: string[]) =>
      spawnSync(process.execPath, ['bin/selfguided.mjs', 'train', '--run-dir', dir, ...args], { encoding: 'utf8' });
    const first = train('--limit', '64', '--preset', 'tiny', '--batch', '8', '--steps', '2', '--preview-every', '1');
    assert.equal(first.status, 0, first.stderr);
    const resumed = train('--resume', '--steps', '3');
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, /--preview-every 1, as the run was started/);
    assert.deepEqual(readdirSync(join(dir, 'previews')), [
      'step-00000001.png',
      'step-00000002.png',
      'step-00000003.png',
    ]);
    const changed = train('--resume', '--steps', '5', '--preview-every', '0');
    assert.equal(changed.status, 0, changed.stderr);
    assert.equal(readdirSync(join(dir, 'previews')).length, 3, 'given again, it applies');
    assert.deepEqual(JSON.parse(readFileSync(join(dir, 'launch-options.json'), 'utf8')), {
      'preview-every': 0,
      device: 'cpu',
    });
  });
});

describe('failures name their cause and leave nothing behind', () => {
  test('a run that fails before its first checkpoint removes the directory it created', async () => {
    const dir = join(tmp(), 'fails');
    await assert.rejects(
      DiffusionTrainer.open(dir, {
        config: { ...diffusionConfig(2), condition: { kind: 'file', path: '/nonexistent/cond.safetensors' } },
        log: quiet,
      }),
    );
    assert.ok(!existsSync(dir));
  });

  test('a read-only place is reported as read-only, not as a missing file', async (t) => {
    const mnt = tmpfs('1m', true);
    if (!mnt) return t.skip('cannot mount a tmpfs here');
    await assert.rejects(
      EncoderTrainer.open(join(mnt, 'a', 'run'), { config: encoderConfig(1), log: quiet }),
      /cannot create the directory .*: read-only file system \(EROFS\)/,
    );
  });

  test('sample checks where it writes before it samples', async () => {
    const dir = join(tmp(), 'run');
    const t = await DiffusionTrainer.open(dir, { config: diffusionConfig(1), log: quiet });
    await t.train({ progress: false });
    t.dispose();
    const blocker = join(tmp(), 'file');
    writeFileSync(blocker, 'not a directory');
    const r = spawnSync(
      process.execPath,
      [
        'bin/selfguided.mjs',
        'sample',
        '--checkpoint',
        dir,
        '--n',
        '2',
        '--steps',
        '2',
        '--out',
        join(blocker, 'x.png'),
      ],
      { encoding: 'utf8' },
    );
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /cannot create the directory .*file/);
    assert.doesNotMatch(r.stderr, /sampling|sample [0-9]+\//);
    rmSync(blocker);
  });
});
