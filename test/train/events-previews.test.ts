// The loop's TensorBoard file and previews: scalars equal metrics.jsonl, previews are PNGs of fixed
// inputs that do not disturb training, and a resumed run purges what came after its checkpoint.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import sharp from 'sharp';
import { DiffusionTrainer, type TrainConfigInput } from '../../src/diffusion/index.js';
import { EncoderTrainer } from '../../src/features/ssl/encoder-trainer.js';
import { readEventDir } from '../helpers/tensorboard-reader.js';

const quiet = () => {};
const config = (): TrainConfigInput => ({
  data: { kind: 'fashion-mnist', limit: 64 },
  condition: { kind: 'label' },
  model: { preset: 'tiny' },
  train: { steps: 4, batchSize: 8, checkpointEvery: 2, logEvery: 2, seed: 5 },
});
const tmp = () => mkdtempSync(join(tmpdir(), 'sg-events-'));
const losses = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { step: number; loss: number }).loss);

describe('TensorBoard events and previews', () => {
  test('scalars match metrics.jsonl; previews are 8x2 grids of samples; training is unchanged by them', async () => {
    const dir = join(tmp(), 'run');
    const t = await DiffusionTrainer.open(dir, { config: config(), log: quiet });
    await t.train({ progress: false, previewEvery: 2 });
    t.dispose();
    const plain = join(tmp(), 'plain');
    const u = await DiffusionTrainer.open(plain, { config: config(), log: quiet });
    await u.train({ progress: false });
    u.dispose();
    assert.deepEqual(losses(dir), losses(plain), 'previews draw from their own generators');
    assert.equal(existsSync(join(plain, 'previews')), false);

    assert.deepEqual(readdirSync(join(dir, 'previews')), ['step-00000002.png', 'step-00000004.png']);
    const meta = await sharp(join(dir, 'previews', 'step-00000004.png')).metadata();
    // 8 columns and 2 rows of 32 px images (Fashion-MNIST padded) with 2 px padding, scaled 2x.
    assert.deepEqual([meta.width, meta.height], [(8 * 34 + 2) * 2, (2 * 34 + 2) * 2]);

    const files = readEventDir(dir);
    assert.equal(files.length, 1);
    const ev = files[0]!;
    assert.equal(ev[0]!.fileVersion, 'brain.Event:2');
    const values = ev.flatMap((e) => (e.summary?.value ?? []).map((v) => ({ step: e.step ?? 0, ...v })));
    const config0 = values.find((v) => v.tag === 'config/text_summary')!;
    assert.match(new TextDecoder().decode(config0.tensor!.stringVal[0]), /"batchSize": 8/);
    const loss = values.filter((v) => v.tag === 'train/loss');
    assert.deepEqual(
      loss.map((v) => v.step),
      [2, 4],
    );
    assert.deepEqual(
      loss.map((v) => v.simpleValue),
      losses(dir).map(Math.fround),
    );
    assert.ok(values.some((v) => v.tag === 'train/lr') && values.some((v) => v.tag === 'train/images_per_s'));
    const previews = values.filter((v) => v.tag === 'preview');
    assert.deepEqual(
      previews.map((v) => v.step),
      [2, 4],
    );
    assert.deepEqual(
      Buffer.from(previews[1]!.image!.encodedImageString),
      readFileSync(join(dir, 'previews', 'step-00000004.png')),
    );
    assert.deepEqual([previews[1]!.image!.width, previews[1]!.image!.height], [meta.width, meta.height]);
  });

  test('a resumed run writes a second file that purges from the step after its checkpoint', async () => {
    const dir = join(tmp(), 'run');
    const first = await DiffusionTrainer.open(dir, { config: config(), log: quiet });
    await first.train({ progress: false, untilStep: 2 });
    first.dispose();
    const second = await DiffusionTrainer.open(dir, { resume: true, log: quiet });
    await second.train({ progress: false });
    second.dispose();
    const files = readEventDir(dir);
    assert.equal(files.length, 2);
    const resumed = files[1]!;
    assert.equal(resumed[1]!.step, 3);
    assert.equal(resumed[1]!.sessionLog!.status, 1);
    const steps = resumed.flatMap((e) =>
      (e.summary?.value ?? []).filter((v) => v.tag === 'train/loss').map(() => e.step),
    );
    assert.deepEqual(steps, [4]);
  });

  test("the encoder's preview: 8 fixed images, each with its 7 nearest neighbours, rank 0 the image itself", async () => {
    const dir = join(tmp(), 'enc');
    const t = await EncoderTrainer.open(dir, {
      config: {
        data: { kind: 'fashion-mnist', limit: 64 },
        model: { widths: [8, 16, 16] },
        train: { steps: 2, batchSize: 16, warmup: 1, checkpointEvery: 2, seed: 1 },
      },
      log: quiet,
    });
    await t.train({ progress: false, previewEvery: 2 });
    const png = join(dir, 'previews', 'step-00000002.png');
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height], [(8 * 34 + 2) * 2, (8 * 34 + 2) * 2]);
    // Column 0 of each row is the query: image i * 64 / 8 of the pool.
    const { data } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    const expected = t.data.inMemory!.images([0]);
    const px = Math.round(((expected.toTypedArray() as Float32Array)[16 * 32 + 16]! + 1) * 127.5);
    expected.dispose();
    const w = meta.width!;
    const c = meta.channels!;
    assert.ok(Math.abs(data[((2 + 16) * 2 * w + (2 + 16) * 2) * c]! - px) <= 1, 'top-left cell is query 0');
    t.dispose();
  });

  test('a negative or fractional preview interval is refused before training', async () => {
    const t = await DiffusionTrainer.open(join(tmp(), 'bad'), { config: config(), log: quiet });
    await assert.rejects(t.train({ progress: false, previewEvery: -1 }), /whole number >= 0/);
    await assert.rejects(t.train({ progress: false, previewEvery: 1.5 }), /whole number >= 0/);
    assert.equal(t.step, 0);
    t.dispose();
  });
});
