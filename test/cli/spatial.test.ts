// Spatial self-guidance end to end on a few fashion-scenes canvases: encoder -> patch features ->
// self-boxes and self-masks -> box- and mask-guided training -> sampling from a layout, with the layout
// errors a person would make.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/selfguided.mjs', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const ok = (r: ReturnType<typeof cli>) => assert.equal(r.code, 0, r.err);

describe('spatial self-guidance on fashion-scenes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-spatial-'));
  const data = ['--data', 'fashion-scenes', '--split', 'test', '--limit', '24'];

  test('boxes and masks from patch features, trained on, and sampled from layouts', async () => {
    ok(
      cli(
        'encoder',
        'train',
        ...data,
        '--widths',
        '8,16,32',
        '--steps',
        '2',
        '--batch',
        '8',
        '--run-dir',
        join(dir, 'enc'),
      ),
    );
    const feats = join(dir, 'feats.safetensors');
    ok(
      cli('features', '--extractor', 'encoder', '--checkpoint', join(dir, 'enc'), ...data, '--patches', '--out', feats),
    );

    const boxes = cli('boxes', '--features', feats, '--k', '3', '--out', join(dir, 'boxes.safetensors'));
    ok(boxes);
    assert.match(boxes.out, /CorLoc \(main box, IoU >= 0.5 with a hidden box\) [01]\.\d{4} over 24 images/);
    assert.ok(existsSync(join(dir, 'boxes.png')) && existsSync(join(dir, 'boxes.json')));
    const masks = cli('masks', '--features', feats, '--K', '4', '--out', join(dir, 'masks.safetensors'));
    ok(masks);
    assert.match(masks.out, /mIoU [01]\.\d{4} {2}foreground IoU [01]\.\d{4}/);
    ok(
      cli(
        'stego',
        'train',
        '--features',
        feats,
        '--K',
        '3',
        '--steps',
        '3',
        '--batch',
        '4',
        '--run-dir',
        join(dir, 'stego'),
      ),
    );
    const stego = cli(
      'masks',
      '--features',
      feats,
      '--stego',
      join(dir, 'stego'),
      '--out',
      join(dir, 'stego.safetensors'),
    );
    ok(stego);
    assert.match(stego.err, /STEGO masks \(K = 3\)/);
    assert.match(stego.out, /mIoU [01]\.\d{4}/);

    const train = (cond: string, run: string) =>
      cli(
        'train',
        ...data,
        '--condition',
        cond,
        '--preset',
        'tiny',
        '--steps',
        '2',
        '--batch',
        '4',
        '--hflip',
        '--run-dir',
        run,
      );
    ok(train(join(dir, 'boxes.safetensors'), join(dir, 'box-run')));
    ok(train(join(dir, 'masks.safetensors'), join(dir, 'mask-run')));

    const layout = join(dir, 'layout.json');
    writeFileSync(layout, JSON.stringify({ units: 'fraction', boxes: [{ box: [0.1, 0.2, 0.6, 0.9], id: 2 }] }));
    const s = ['--steps', '2', '--per-id', '3'];
    ok(cli('sample', '--checkpoint', join(dir, 'box-run'), '--layout', layout, ...s, '--out', join(dir, 'l.png')));
    ok(
      cli(
        'sample',
        '--checkpoint',
        join(dir, 'box-run'),
        '--layouts-from',
        join(dir, 'boxes.safetensors'),
        '--layouts',
        '2',
        ...s,
        '--out',
        join(dir, 'r.png'),
      ),
    );
    ok(
      cli(
        'sample',
        '--checkpoint',
        join(dir, 'mask-run'),
        '--layouts-from',
        join(dir, 'masks.safetensors'),
        ...s,
        '--out',
        join(dir, 'm.png'),
      ),
    );
    assert.ok(['l.png', 'r.png', 'm.png'].every((f) => existsSync(join(dir, f))));

    ok(cli('evalnet', 'train', '--limit', '64', '--steps', '2', '--batch', '16', '--run-dir', join(dir, 'evalnet')));
    const evalBoxRun = (out: string, ...extra: string[]) =>
      cli(
        'eval',
        '--checkpoint',
        join(dir, 'box-run'),
        '--evalnet',
        join(dir, 'evalnet'),
        '--n',
        '8',
        '--k',
        '2',
        '--steps',
        '2',
        '--cache-dir',
        join(dir, 'cache'),
        '--out',
        join(dir, out),
        ...extra,
      );
    const ev = evalBoxRun('eval');
    ok(ev);
    const metrics = JSON.parse(readFileSync(join(dir, 'eval', 'metrics.json'), 'utf8'));
    assert.equal(metrics.layout.kind, 'boxes');
    for (const v of [
      metrics.layout.foreground.iou,
      metrics.layout.foreground.chanceIou,
      metrics.layout.foreground.realIou,
    ])
      assert.ok(v >= 0 && v <= 1);
    assert.ok(metrics.layout.selfConsistency.real >= 0 && metrics.layout.selfConsistency.real <= 1);
    assert.ok(metrics.layout.diversity.samples >= 0 && metrics.layout.diversity.real > 0);
    assert.match(ev.out, /layout \(boxes\): foreground IoU .* diversity /);
    const shifted = evalBoxRun('eval-shift', '--shift-layouts', '3');
    ok(shifted);
    assert.match(shifted.out, /layouts shifted by 3 px/);

    const bad = (json: unknown, re: RegExp, run = 'box-run') => {
      const p = join(dir, 'bad.json');
      writeFileSync(p, JSON.stringify(json));
      const r = cli('sample', '--checkpoint', join(dir, run), '--layout', p, ...s);
      assert.equal(r.code, 2, r.err);
      assert.match(r.err, re);
    };
    bad(
      { boxes: [{ box: [0, 0, 60, 10], id: 0 }] },
      /box 0 \[0, 0, 60, 10\] \(pixels\) is empty or outside the 48x48 canvas/,
    );
    bad({ boxes: [{ box: [0, 0, 10, 10], id: 7 }] }, /box 0 has id 7; the model knows 3 self-labels \(0-2\)/);
    bad(
      {
        boxes: [
          { box: [0, 0, 10, 10], id: 0 },
          { box: [20, 20, 30, 30], id: 1 },
        ],
      },
      /trained on one box per image/,
    );
    bad({ boxes: [] }, /invalid .*bad.json: boxes: /);
    bad({ boxes: [{ box: [0, 0, 10, 10], id: 0 }] }, /this model is mask-guided: give a mask PNG/, 'mask-run');
    for (const run of ['box-run', 'mask-run'])
      assert.ok(!existsSync(join(dir, run, 'samples')), `${run}: a failed layout leaves no empty samples folder`);
  });

  test('Ctrl-C in stego train says where it stopped and how to continue', async () => {
    const run = join(dir, 'stego-interrupted');
    const child = spawn(
      process.execPath,
      ['bin/selfguided.mjs', 'stego', 'train', '--features', join(dir, 'feats.safetensors'), '--K', '3'].concat([
        '--steps',
        '1000000',
        '--batch',
        '4',
        '--checkpoint-every',
        '1000000',
        '--run-dir',
        run,
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    while (!existsSync(join(run, 'metrics.jsonl'))) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 130, stderr);
    assert.match(
      stderr,
      /interrupted at step \d+; checkpoint .*Continue with: selfguided stego train --run-dir .*stego-interrupted --resume/,
    );
  });
});
