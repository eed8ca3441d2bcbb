// The command line: help, one-line errors with a non-zero exit, and a train -> sample round trip.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as torch from '../../src/torch/index.js';

const cudaHere = torch.cuda.isAvailable();

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/selfguided.mjs', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/**
 * Runs the commands two at a time and returns their results in order: each spends most of its time
 * starting up, on one core, so the suite's long lists of one-line errors take half the wall time.
 */
async function cliAll(list: string[][]): Promise<{ code: number | null; out: string; err: string }[]> {
  const one = (args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((done, fail) => {
      const p = spawn(process.execPath, ['bin/selfguided.mjs', ...args]);
      let out = '';
      let err = '';
      p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      p.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
      p.on('error', fail);
      p.on('close', (code) => done({ code, out, err }));
    });
  const results: { code: number | null; out: string; err: string }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < list.length) {
      const i = next++;
      results[i] = await one(list[i]!);
    }
  };
  await Promise.all([worker(), worker()]);
  return results;
}

describe('selfguided CLI', () => {
  test('help for every command lists options with defaults', async () => {
    const commands = ['train', 'sample', 'demo', 'features', 'cluster', 'encoder', 'evalnet', 'eval', 'experiment'];
    const [top, ...each] = await cliAll([['--help'], ...commands.map((c) => [c, '--help'])]);
    assert.equal(top!.code, 0);
    assert.match(top!.out, /train.*\n.*sample.*\n.*demo/s);
    each.forEach((h, i) => {
      assert.equal(h.code, 0, commands[i]);
      assert.match(h.out, /--seed INT\s+.*\(default: 0\)/, commands[i]);
    });
  });

  test('bad flags and values are one-line errors with exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['train', '--nope'], /^selfguided train: unknown option --nope \(see selfguided train --help\)\n$/],
      [['train', '--steps', 'ten'], /--steps must be a number, got 'ten'/],
      [['train', '--batch', '2.5'], /--batch must be an integer/],
      [['train', '--preset', 'huge'], /--preset must be one of tiny, small, small64, paper/],
      [['train', '--steps'], /--steps needs a value/],
      [['sample'], /--checkpoint is required/],
      [['sample', '--checkpoint', 'x', 'extra'], /unexpected argument 'extra'/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['eval'], /--checkpoint is required/],
      [['eval', '--checkpoint', 'x', '--n', '5'], /--n must exceed --k \(5\)/],
      [['eval', '--checkpoint', 'x', '--steps', '0'], /--steps must be at least 1, got 0/],
      // a zero batch had looped forever; a zero grid scale had failed after sampling, in sharp's words
      [['sample', '--checkpoint', 'x', '--batch', '0'], /--batch must be at least 1, got 0/],
      [['sample', '--checkpoint', 'x', '--png-scale', '0'], /--png-scale must be at least 1, got 0/],
      // a forgotten value: the next flag is not taken as one (it had trained into ./--resume)
      [
        ['train', '--run-dir', '--resume'],
        /--run-dir needs a value, got the flag --resume \(if that is the value, write --run-dir=--resume\)/,
      ],
      [['experiment'], /expected 'selfguided experiment fashion-mnist \[options\]'/],
      [['experiment', 'cifar10'], /got 'cifar10'/],
      [['experiment', 'fashion-mnist', '--budget', 'huge'], /--budget must be one of smoke, small, full/],
    ];
    const results = await cliAll(cases.map(([args]) => args));
    cases.forEach(([args, re], i) => {
      const r = results[i]!;
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.err, re);
      assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`);
    });
    assert.ok(!existsSync('--resume'), 'no folder named after a flag');
  });

  test(
    'a device this machine lacks is refused before anything is written',
    { skip: cudaHere ? 'CUDA is present here' : false },
    async () => {
      const root = mkdtempSync(join(tmpdir(), 'sg-cli-dev-'));
      const cases = [
        [
          ['train', '--limit', '64', '--steps', '2', '--run-dir', join(root, 'train'), '--device', 'cuda'],
          /^selfguided train: --device: device 'cuda': no CUDA device is available here/,
        ],
        [
          ['encoder', 'train', '--limit', '64', '--steps', '2', '--run-dir', join(root, 'enc'), '--device', 'cuda:0'],
          /^selfguided encoder: --device: device 'cuda:0': no CUDA device/,
        ],
        [
          ['sample', '--checkpoint', join(root, 'train'), '--device', 'cuda'],
          /--device: device 'cuda': no CUDA device/,
        ],
        [['eval', '--checkpoint', join(root, 'train'), '--device', 'cuda'], /--device: device 'cuda': no CUDA device/],
        [
          [
            'experiment',
            'fashion-mnist',
            '--budget',
            'smoke',
            '--root',
            join(root, 'exp'),
            '--docs',
            join(root, 'docs'),
            '--device',
            'cuda',
          ],
          /--device: device 'cuda': no CUDA device/,
        ],
        [
          ['train', '--run-dir', join(root, 'train'), '--device', 'gpu'],
          /--device: unknown device 'gpu' \(use cpu, cuda or cuda:N\)/,
        ],
        [
          [
            'cluster',
            '--features',
            join(root, 'f.safetensors'),
            '--k',
            '3',
            '--condition',
            'centroid',
            '--fit-sample',
            '9',
          ],
          /k-means on a sample makes one-hot k-means self-labels only \(not --condition centroid/,
        ],
      ] as [string[], RegExp][];
      const results = await cliAll(cases.map(([args]) => args));
      cases.forEach(([args, re], i) => {
        const r = results[i]!;
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
        assert.match(r.err, re);
      });
      assert.deepEqual(readdirSync(root), [], 'nothing was created');
    },
  );

  test('a data-parallel worker checks its flags before it joins the group (no rank left waiting)', () => {
    // Rank 1 of 2 with no rank 0 anywhere: joining would wait for the rendezvous until it timed out.
    const env = {
      ...process.env,
      WORLD_SIZE: '2',
      RANK: '1',
      LOCAL_RANK: '1',
      MASTER_ADDR: '127.0.0.1',
      MASTER_PORT: '9',
    };
    for (const cmd of [
      ['encoder', 'train', '--data', 'some-folder', '--channels', '2'],
      ['train', '--data', 'some-folder', '--channels', '2'],
    ]) {
      const r = spawnSync(process.execPath, ['bin/selfguided.mjs', ...cmd, '--run-dir', join(tmpdir(), 'sg-never')], {
        encoding: 'utf8',
        env,
        timeout: 60_000,
      });
      assert.equal(r.status, 2, `${cmd[0]}: ${r.stderr}`);
      assert.match(r.stderr, /--channels must be 1 or 3, got 2/);
    }
  });

  test('encoder train --arch vit: the DINO and augmentation flags reach the run config; view rank is logged', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sg-cli-vit-')), 'vit');
    const r = cli(
      'encoder',
      'train',
      '--limit',
      '32',
      '--steps',
      '1',
      '--batch',
      '16',
      '--arch',
      'vit',
      '--objective',
      'dino',
      '--vit-patch',
      '8',
      '--vit-dim',
      '16',
      '--vit-depth',
      '1',
      '--vit-heads',
      '2',
      '--dino-out',
      '16',
      '--local-crops',
      '0',
      '--teacher-temp',
      '0.05',
      '--teacher-temp-start',
      '0.05',
      '--jitter',
      '0.2',
      '--jitter-p',
      '0',
      '--preview-every',
      '0',
      '--run-dir',
      dir,
    );
    assert.equal(r.code, 0, r.err);
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    assert.deepEqual([cfg.model.dino.teacherTemp, cfg.model.dino.teacherTempStart], [0.05, 0.05]);
    assert.deepEqual([cfg.train.jitter, cfg.train.jitterP], [0.2, 0]);
    const m = JSON.parse(readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').at(-1)!);
    for (const key of ['teacher_entropy', 'patch_entropy', 'view_rank']) assert.equal(typeof m[key], 'number', key);
    assert.match(cli('encoder', 'train', '--jitter-p', '2', '--run-dir', dir + '2').err, /jitterP|jitter-p/);
  });

  test('data pack writes shards that train reads with --data DIR', () => {
    const root = mkdtempSync(join(tmpdir(), 'sg-cli-pack-'));
    const pack = cli(
      'data',
      'pack',
      '--data',
      'fashion-mnist',
      '--limit',
      '64',
      '--shard-size',
      '32',
      '--out',
      join(root, 'sh'),
    );
    assert.equal(pack.code, 0, pack.err);
    assert.match(pack.out, /packed 64 samples \(32x32, 1 channel\) into 2 shards/);
    const t = cli(
      'train',
      '--data',
      join(root, 'sh'),
      '--condition',
      'label',
      '--preset',
      'tiny',
      '--steps',
      '2',
      '--batch',
      '8',
      '--run-dir',
      join(root, 'run'),
    );
    assert.equal(t.code, 0, t.err);
    const config = JSON.parse(readFileSync(join(root, 'run', 'config.json'), 'utf8'));
    assert.deepEqual(config.data, { kind: 'shards', path: join(root, 'sh'), stream: false }, 'small: in memory');
    // Streamed: the reader thread starts under the command line too (a .ts worker registers tsx itself).
    const s = cli(
      'train',
      ...['--data', join(root, 'sh'), '--stream', '--shuffle-buffer', '16', '--preset', 'tiny'],
      ...['--steps', '2', '--batch', '8', '--run-dir', join(root, 'streamed')],
    );
    assert.equal(s.code, 0, s.err);
    assert.match(s.err, /streaming \d+ samples from the 2 shards/);
    const streamed = JSON.parse(readFileSync(join(root, 'streamed', 'config.json'), 'utf8'));
    assert.deepEqual(streamed.data, { kind: 'shards', path: join(root, 'sh'), stream: true, shuffleBuffer: 16 });
    const folder = cli('train', '--data', root, '--stream', '--steps', '1', '--run-dir', join(root, 'x'));
    assert.equal(folder.code, 2);
    assert.match(folder.err, /--stream and --shuffle-buffer apply to shard directories/);
  });

  test('runtime errors exit 1 with the reason', () => {
    const r = cli('sample', '--checkpoint', '/nonexistent/run');
    assert.equal(r.code, 1);
    assert.match(r.err, /no checkpoints in \/nonexistent\/run/);
  });

  test('train then sample a grid with ids and with drawn conditions', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sg-cli-')), 'run');
    const t = cli(
      'train',
      '--limit',
      '64',
      '--preset',
      'tiny',
      '--condition',
      'label',
      '--steps',
      '2',
      '--batch',
      '8',
      '--run-dir',
      dir,
    );
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, /trained to step 2/);
    const out = join(dir, 'grid.png');
    const s = cli('sample', '--checkpoint', dir, '--ids', '0-2', '--per-id', '2', '--steps', '2', '--out', out);
    assert.equal(s.code, 0, s.err);
    assert.ok(existsSync(out));
    const s2 = cli(
      'sample',
      '--checkpoint',
      dir,
      '--n',
      '3',
      '--steps',
      '2',
      '--sampler',
      'dpm++2m',
      '--images-dir',
      join(dir, 'imgs'),
    );
    assert.equal(s2.code, 0, s2.err);
    assert.ok(existsSync(join(dir, 'imgs', 'img-00002.png')));
    const bad = cli('sample', '--checkpoint', dir, '--ids', '12', '--out', join(dir, 'new', 'deeper', 'g.png'));
    assert.equal(bad.code, 2);
    assert.match(bad.err, /id 12 is out of range: the model knows 10 ids/);
    assert.ok(!existsSync(join(dir, 'new')), 'the folders made for a failed command are taken away');
    const again = cli('train', '--limit', '64', '--preset', 'tiny', '--steps', '2', '--run-dir', dir);
    assert.equal(again.code, 1);
    assert.match(again.err, /already has checkpoints; pass --resume/);
  });

  test('Ctrl-C while --images-dir is written says how far it got and exits 130', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'sg-cli-int-')), 'run');
    const t = cli('train', '--limit', '64', '--preset', 'tiny', '--steps', '1', '--batch', '8', '--run-dir', dir);
    assert.equal(t.code, 0, t.err);
    const imgs = join(dir, 'imgs');
    const child = spawn(
      process.execPath,
      ['bin/selfguided.mjs', 'sample', '--checkpoint', dir, '--n', '1024', '--steps', '1', '--batch', '256'].concat([
        '--images-dir',
        imgs,
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('exit', r));
    while (!existsSync(join(imgs, 'img-00000.png'))) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(
      stderr,
      /interrupted \(SIGINT\) while writing .*imgs: \d+ of 1024 images written \(the grid .* is complete\)/,
    );
  });

  test('features -> cluster -> train on the self-labels: the annotation pipeline end to end', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sg-pipe-'));
    const feats = join(dir, 'pca.safetensors');
    const f = cli('features', '--extractor', 'pixels-pca', '--components', '16', '--limit', '200', '--out', feats);
    assert.equal(f.code, 0, f.err);
    assert.match(f.out, /features \[200, 16\]/);
    const c = cli('cluster', '--features', feats, '--k', '5', '--restarts', '1');
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, /NMI \d\.\d{4}\s+ARI/);
    const cond = join(dir, 'pca-k5-onehot.safetensors');
    assert.ok(existsSync(cond));
    assert.ok(existsSync(join(dir, 'pca-k5-onehot.png')));
    assert.ok(existsSync(join(dir, 'pca-k5-onehot.json')));
    // One training step of the tiny preset on 200 images with a condition file.
    const trainOn = (condition: string, runDir: string) =>
      cli(
        'train',
        '--limit',
        '200',
        '--preset',
        'tiny',
        '--condition',
        condition,
        '--steps',
        '1',
        '--batch',
        '8',
        '--run-dir',
        runDir,
      );
    const t = trainOn(cond, join(dir, 'run'));
    assert.equal(t.code, 0, t.err);
    const s = cli('sample', '--checkpoint', join(dir, 'run'), '--ids', '0-4', '--per-id', '1', '--steps', '2');
    assert.equal(s.code, 0, s.err);
    // eval: samples scored, and the self-labels' own g (PCA, refit) and f judge consistency
    const en = cli('evalnet', 'train', '--limit', '200', '--steps', '3', '--run-dir', join(dir, 'evalnet'));
    assert.equal(en.code, 0, en.err);
    const ev = cli(
      'eval',
      '--checkpoint',
      join(dir, 'run'),
      '--evalnet',
      join(dir, 'evalnet'),
      '--n',
      '12',
      '--steps',
      '2',
      '--cache-dir',
      join(dir, 'cache'),
      '--name',
      'pca-k5',
    );
    assert.equal(ev.code, 0, ev.err);
    assert.match(
      ev.out,
      /^\| model \| n \| sampler \| s \| FD-evalnet .*\n\|---.*\n\| pca-k5 \| 12 \| ddpm-2 \| 2 \| \d+\.\d\d \| .* \| \d\.\d{3} \(\d\.\d{3}\) \|\n$/,
    );
    const metrics = JSON.parse(readFileSync(join(dir, 'run', 'eval', 'ddpm2-s2-n12-seed0', 'metrics.json'), 'utf8'));
    assert.equal(metrics.consistency.kind, 'self-label');
    assert.match(metrics.consistency.method, /pixels-pca features/);
    const wrong = cli(
      'train',
      '--limit',
      '100',
      '--preset',
      'tiny',
      '--condition',
      cond,
      '--steps',
      '1',
      '--run-dir',
      join(dir, 'run2'),
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /has 200 rows but the dataset has 100 images/);
    const noK = cli('cluster', '--features', feats);
    assert.equal(noK.code, 2);
    assert.match(noK.err, /--k is required/);
    const gt = cli('cluster', '--features', feats, '--condition', 'ground-truth', '--no-grid');
    assert.equal(gt.code, 0, gt.err);
    assert.match(gt.out, /NMI 1\.0000/);
    // f = SCAN's head: the run's consistency is judged by that head, not by nearest centroids.
    const scanCond = join(dir, 'scan.safetensors');
    const sc = cli(
      'cluster',
      '--features',
      feats,
      '--k',
      '5',
      '--method',
      'scan',
      '--scan-epochs',
      '3',
      '--out',
      scanCond,
    );
    assert.equal(sc.code, 0, sc.err);
    assert.match(sc.err, /SCAN: k=5, head \d of 5 chosen \(loss -?\d+\.\d{4}/);
    const scanRun = join(dir, 'run-scan');
    const st = trainOn(scanCond, scanRun);
    assert.equal(st.code, 0, st.err);
    const sev = cli('eval', '--checkpoint', scanRun, '--evalnet', join(dir, 'evalnet'), '--n', '12', '--steps', '2');
    assert.equal(sev.code, 0, sev.err);
    const sm = JSON.parse(readFileSync(join(scanRun, 'eval', 'ddpm2-s2-n12-seed0', 'metrics.json'), 'utf8'));
    assert.match(sm.consistency.method, /the 5-way clustering head of the condition file/);
    const both = cli('cluster', '--features', feats, '--k', '5', '--method', 'scan', '--balanced');
    assert.notEqual(both.code, 0);
    assert.match(both.err, /--balanced is for k-means only/);
  });
});
