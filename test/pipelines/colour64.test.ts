// Every stage on 3-channel 64 px images, end to end on a small synthetic colour folder packed as shards:
// the encoder g, patch features, LOST self-boxes, STEGO self-masks, the evaluation network, a box-guided
// diffusion model with its previews, and every sampler.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import sharp from 'sharp';
import { StegoTrainer } from '../../src/annotate/stego.js';
import { packDataset } from '../../src/data/pack.js';
import { loadDataset } from '../../src/data/spec.js';
import { buildConditions } from '../../src/diffusion/conditions.js';
import { loadModel } from '../../src/diffusion/pipeline.js';
import { SAMPLERS } from '../../src/diffusion/schedulers.js';
import { DiffusionTrainer } from '../../src/diffusion/trainer.js';
import { EvalNetFeatures, trainEvalNet } from '../../src/eval/evalnet.js';
import { featureStage, sampleStage } from '../../src/eval/evaluate.js';
import { extractFeatures } from '../../src/features/extract.js';
import { EncoderTrainer } from '../../src/features/ssl/encoder-trainer.js';
import { SslEncoderFeatures } from '../../src/features/ssl/encoder-features.js';
import { selfBoxesFile } from '../../src/pipelines/self-boxes-file.js';
import { selfMasksFile } from '../../src/pipelines/self-masks-file.js';
import { Rng } from '../../src/util/rng.js';

const quiet = () => {};

/** n 64x64 RGB images: a coloured rectangle on a coloured background, in a subfolder per rectangle colour. */
async function colourFolder(root: string, n: number): Promise<void> {
  const rng = new Rng(7);
  const colours = [
    [220, 40, 40],
    [40, 180, 60],
    [40, 80, 220],
  ];
  for (let i = 0; i < n; i++) {
    const c = i % colours.length;
    const bg = [rng.int(120), rng.int(120), 120 + rng.int(120)];
    const px = Buffer.alloc(64 * 64 * 3);
    const [x0, y0] = [4 + rng.int(24), 4 + rng.int(24)];
    const [w, h] = [16 + rng.int(20), 16 + rng.int(20)];
    for (let y = 0; y < 64; y++)
      for (let x = 0; x < 64; x++)
        px.set(x >= x0 && x < x0 + w && y >= y0 && y < y0 + h ? colours[c]! : bg, (y * 64 + x) * 3);
    mkdirSync(join(root, `c${c}`), { recursive: true });
    await sharp(px, { raw: { width: 64, height: 64, channels: 3 } })
      .png()
      .toFile(join(root, `c${c}`, `${i}.png`));
  }
}

describe('colour at 64 px', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sg-colour64-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('encoder, patch features, LOST, STEGO, evaluation network, a box-guided UNet, previews and samplers', async () => {
    await colourFolder(join(dir, 'images'), 24);
    const index = await packDataset(
      { kind: 'folder', path: join(dir, 'images'), size: 64, channels: 3, labelsFromFolders: true },
      { out: join(dir, 'shards'), shardSize: 10, log: quiet, progress: false },
    );
    assert.deepEqual([index.samples, index.imageSize, index.channels], [24, 64, 3]);
    const data = { kind: 'shards' as const, path: join(dir, 'shards') };

    const enc = join(dir, 'encoder');
    const e = await EncoderTrainer.open(enc, {
      config: { data, model: { widths: [8, 16] }, train: { steps: 2, batchSize: 8 } },
      log: quiet,
    });
    await e.train({ progress: false, previewEvery: 2 });
    e.dispose();
    assert.ok(readdirSync(join(enc, 'previews')).length > 0, 'the encoder previews its neighbours');

    const ds = await loadDataset(data);
    const features = join(dir, 'features.safetensors');
    const ex = new SslEncoderFeatures(enc, 'backbone', 1);
    const f = extractFeatures(ds, ex, {
      patches: true,
      out: features,
      extraProvenance: { dataSpec: JSON.stringify(data) },
    });
    assert.deepEqual(f.patches!.shape.slice(0, 3), [24, 32, 32], 'patch features at stride 2 of 64 px');
    f.features.dispose();
    f.patches!.dispose();
    ex.dispose();

    const boxes = await selfBoxesFile(features, { k: 3, seed: 0, log: quiet });
    assert.ok(existsSync(boxes.out));
    const stego = join(dir, 'stego');
    const st = await StegoTrainer.open(stego, {
      config: { features, model: { K: 3 }, train: { steps: 2, batchSize: 8 } },
      log: quiet,
    });
    await st.train({ progress: false });
    st.dispose();
    const masks = await selfMasksFile(features, { K: 3, stego, seed: 0, log: quiet });
    assert.ok(existsSync(masks.out));

    const evalnet = join(dir, 'evalnet');
    await trainEvalNet(evalnet, { config: { data, train: { steps: 2, batchSize: 8 } }, progress: false, log: quiet });

    const run = join(dir, 'unet');
    const t = await DiffusionTrainer.open(run, {
      config: {
        data,
        condition: { kind: 'file', path: boxes.out },
        model: { preset: 'tiny' },
        train: { steps: 2, batchSize: 4, checkpointEvery: 2 },
      },
      log: quiet,
    });
    await t.train({ progress: false, previewEvery: 2 });
    t.dispose();
    assert.ok(
      readdirSync(join(run, 'previews')).some((p) => p.endsWith('.png')),
      'the diffusion run previews',
    );

    const m = loadModel(run);
    const net = new EvalNetFeatures(evalnet);
    const c = buildConditions(m.config.condition, ds);
    for (const sampler of SAMPLERS) {
      const s = { n: 2, scale: 2, sampler, steps: 2, eta: 0, seed: 0, batchSize: 2 };
      const { drawn, samples } = sampleStage(m, c, s);
      assert.deepEqual(samples.shape, [2, 3, 64, 64], sampler);
      assert.deepEqual(drawn!.maps!.shape, [2, 1, 64, 64], 'box maps at 64 px');
      const out = featureStage(net, samples);
      assert.equal(out.features.shape[0], 2);
      for (const y of [samples, drawn!.cond, drawn!.maps, out.features, out.logits]) y?.dispose();
    }
    c.vectors?.dispose();
    c.maps?.dispose();
    net.dispose();
    m.dispose();
    ds.dispose();
  });
});
