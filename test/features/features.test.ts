// Feature extractors: output shapes and determinism, TorchScript loading with preprocessing, feature
// files with provenance, rejection of mismatched files, resumable extraction, and NT-Xent by hand.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadFashionMnist } from '../../src/data/index.js';
import { DiffusionTrainer } from '../../src/diffusion/index.js';
import { DiffusionFeatures } from '../../src/diffusion/diffusion-features.js';
import {
  augment,
  extractFeatures,
  loadFeatures,
  ntXent,
  PixelsPca,
  SslEncoderFeatures,
  TorchScriptEncoder,
} from '../../src/features/index.js';
import * as torch from '../../src/torch/index.js';
import { close, flat, sameState } from '../helpers/check.js';
import { straightAndResumed } from '../helpers/encoder-resume.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');
const tmp = () => mkdtempSync(join(tmpdir(), 'sg-feat-'));
const quiet = () => {};

describe('feature extractors', () => {
  const ds = loadFashionMnist({ limit: 300 });

  test('pixels + PCA: shapes, orthonormal basis, variance order, determinism', () => {
    const pca = new PixelsPca({ components: 16 });
    const f = extractFeatures(ds, pca, { batchSize: 64, progress: false });
    assert.deepEqual(f.features.shape, [300, 16]);
    assert.equal(f.patches, null);
    assert.ok(pca.explained.every((v, i) => i === 0 || v <= pca.explained[i - 1]!));
    // Projections of centred data have the component variances.
    close(
      Array.from(f.features.var(0, { correction: 1 }).toTypedArray() as Float32Array).slice(0, 3),
      pca.explained.slice(0, 3),
      1e-2,
    );
    const g = extractFeatures(ds, new PixelsPca({ components: 16 }), { batchSize: 100, progress: false });
    close(g.features, flat(f.features), 1e-5);
    assert.throws(() => new PixelsPca({ components: 5000 }).fit(ds), /only 1024 pixels/);
  });

  test('TorchScript encoder with resize, RGB repeat, normalisation and patch outputs', () => {
    const ts = new TorchScriptEncoder(join(fixtures, 'tiny_encoder.pt'), {
      size: 8,
      rgb: false,
      mean: [0.5],
      std: [0.5],
      featureOutput: 0,
      patchOutput: 1,
    });
    const f = extractFeatures(ds, ts, { batchSize: 128, patches: true, progress: false });
    assert.deepEqual(f.features.shape, [300, 8]);
    assert.deepEqual(f.patches!.shape, [300, 4, 4, 8]);
    // The module's own outputs for the same preprocessing, computed by hand.
    const m = torch.ScriptModule.load(join(fixtures, 'tiny_encoder.pt'));
    const x = torch
      .interpolate(ds.images([0, 1]).add(1).div(2), { size: 8, mode: 'bilinear' })
      .sub(0.5)
      .div(0.5);
    const [feat] = m.forward(x) as torch.Tensor[];
    close(f.features.narrow(0, 0, 2), flat(feat!), 1e-5);
    assert.throws(
      () =>
        extractFeatures(
          ds,
          new TorchScriptEncoder(join(fixtures, 'tiny_encoder.pt'), {
            rgb: false,
            mean: [0.5],
            std: [0.5],
            featureOutput: 5,
          }),
          { progress: false },
        ),
      /output '5' is not a tensor/,
    );
  });

  test('feature files keep provenance and reject mismatched datasets and shapes', () => {
    const dir = tmp();
    const out = join(dir, 'f.safetensors');
    extractFeatures(ds, new PixelsPca({ components: 8 }), {
      out,
      progress: false,
      extraProvenance: { dataSpec: '{"kind":"fashion-mnist"}' },
    });
    const f = loadFeatures(out, { dataset: ds });
    assert.equal(f.provenance.extractor, 'pixels-pca');
    assert.equal(f.provenance.dataset, 'fashion-mnist/train');
    assert.equal(f.provenance.datasetSize, 300);
    assert.match(f.provenance.config, /"components":8/);
    assert.throws(
      () => loadFeatures(out, { dataset: loadFashionMnist({ limit: 100 }) }),
      /has 300 rows but dataset fashion-mnist\/train has 100 images/,
    );
    assert.throws(
      () => loadFeatures(out, { dataset: loadFashionMnist({ split: 'test', limit: 300 }) }),
      /was made from dataset 'fashion-mnist\/train', not 'fashion-mnist\/test'/,
    );
    const bad = join(dir, 'bad.safetensors');
    torch.safetensors.saveFile(bad, { features: torch.ones([3, 2, 2]) }, { format: 'selfguided-features/1' });
    assert.throws(() => loadFeatures(bad), /must be \[N, D\]/);
    const other = join(dir, 'other.safetensors');
    torch.safetensors.saveFile(other, { features: torch.ones([3, 2]) });
    assert.throws(() => loadFeatures(other), /not a selfguided features file/);
  });

  test('extraction resumes from finished shards', () => {
    const dir = tmp();
    const out = join(dir, 'f.safetensors');
    const shards = join(dir, '.f.safetensors.shards');
    // Simulate an interruption: a finished first shard from a previous run.
    const pca = new PixelsPca({ components: 4 });
    const full = extractFeatures(ds, pca, { progress: false, shardSize: 256, batchSize: 64 });
    mkdirSync(shards, { recursive: true });
    torch.safetensors.saveFile(join(shards, '000000000.safetensors'), {
      features: full.features.narrow(0, 0, 256).mul(0).add(7),
    });
    const resumed = extractFeatures(ds, new PixelsPca({ components: 4 }), {
      out,
      progress: false,
      shardSize: 256,
      batchSize: 64,
    });
    assert.ok(
      flat(resumed.features.narrow(0, 0, 256)).every((v) => v === 7),
      'the finished shard was reused, not recomputed',
    );
    assert.deepEqual(flat(resumed.features.narrow(0, 256, 44)), flat(full.features.narrow(0, 256, 44)));
    assert.ok(existsSync(out));
    assert.ok(!existsSync(shards), 'shards removed once the file is written');
    assert.equal(readdirSync(dir).length, 1);
  });

  test('diffusion features: pooled block activations and dense maps, deterministic', async () => {
    const dir = join(tmp(), 'run');
    const t = await DiffusionTrainer.open(dir, {
      config: {
        data: { kind: 'fashion-mnist', limit: 64 },
        model: { preset: 'tiny' },
        train: { steps: 1, batchSize: 8 },
      },
      log: quiet,
    });
    await t.train({ progress: false });
    t.dispose();
    const a = extractFeatures(ds, new DiffusionFeatures(dir, { block: 'middle', t: 50 }), {
      patches: true,
      progress: false,
      batchSize: 100,
    });
    assert.deepEqual(a.features.shape, [300, 32]);
    assert.deepEqual(a.patches!.shape, [300, 16, 16, 32]);
    const b = extractFeatures(ds, new DiffusionFeatures(dir, { block: 'middle', t: 50 }), {
      progress: false,
      batchSize: 64,
    });
    close(b.features, flat(a.features), 1e-5);
    assert.throws(() => new DiffusionFeatures(dir, { block: 'nope' }), /unknown block 'nope'/);
  });

  test('the SimCLR encoder trains, resumes exactly and yields features and patches', async () => {
    const cfg = {
      data: { kind: 'fashion-mnist' as const, limit: 128 },
      model: { widths: [8, 16, 16] },
      train: { steps: 4, batchSize: 16, warmup: 1, checkpointEvery: 2, seed: 1 },
    };
    const { straight: a, resumed: b2, resumedDir: bdir } = await straightAndResumed(cfg, 2);
    sameState(b2.model.stateDict(), a.model.stateDict());
    a.dispose();
    b2.dispose();
    const enc = new SslEncoderFeatures(bdir);
    const f = extractFeatures(ds, enc, { patches: true, progress: false });
    assert.deepEqual(f.features.shape, [300, 16]);
    assert.deepEqual(f.patches!.shape, [300, 8, 8, 16]);
    // The 2x2 grid readout: each quadrant's mean of the last stage's patches, channels first.
    const g = extractFeatures(ds, new SslEncoderFeatures(bdir, 'grid'), { progress: false }).features;
    assert.deepEqual(g.shape, [300, 64]);
    // (patches files hold float16: compare at its precision)
    const quadrant = f.patches!.float().narrow(1, 4, 4).narrow(2, 0, 4).mean([1, 2]); // bottom-left: row 1, column 0
    close(g.float().reshape(300, 16, 2, 2).select(2, 1).select(2, 0).contiguous(), flat(quadrant.contiguous()), 5e-3);
  });
});

describe('contrastive pieces', () => {
  test('NT-Xent against a hand-computed value', () => {
    // Two images, 2-d projections: z1 = [e1, e2], z2 = [e1, -e2] (already unit norm), temperature 1.
    const z1 = torch.tensor([
        [1, 0],
        [0, 1],
      ]),
      z2 = torch.tensor([
        [1, 0],
        [0, -1],
      ]);
    // Views: a=e1, b=e2, a'=e1, b'=-e2. Similarities to the others:
    // a: b 0, a' 1, b' 0 -> -log(e/(1+e+1)); b: a 0, a' 0, b' -1 -> -log(e^-1/(1+1+e^-1));
    // a': a 1, b 0, b' 0 -> same as a; b': a 0, b -1, a' 0 -> same as b.
    const la = -Math.log(Math.E / (2 + Math.E)),
      lb = -Math.log(Math.exp(-1) / (2 + Math.exp(-1)));
    close(ntXent(z1, z2, 1), (la + lb) / 2, 1e-6);
    close(
      ntXent(z1, z2, 0.5),
      (-Math.log(Math.exp(2) / (2 + Math.exp(2))) - Math.log(Math.exp(-2) / (2 + Math.exp(-2)))) / 2,
      1e-6,
    );
  });

  test('augmentations keep shape and range and follow the generator', () => {
    const x = loadFashionMnist({ limit: 8 }).images([0, 1, 2, 3]);
    const a = augment(x, new torch.Generator(1));
    const b = augment(x, new torch.Generator(1));
    assert.deepEqual(a.shape, [4, 1, 32, 32]);
    assert.deepEqual(flat(a), flat(b));
    assert.ok(flat(a).every((v) => v >= -1 && v <= 1));
    assert.notDeepEqual(flat(a), flat(augment(x, new torch.Generator(2))));
  });
});
