// STEGO: the correspondence loss pulls codes together where features agree beyond the shift and apart
// where they do not; on two-region feature maps the trained head and cluster probe find the regions.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { correspondenceLoss, stegoSegments, StegoTrainer } from '../../src/annotate/stego.js';
import { maskQuality } from '../../src/eval/segmentation.js';
import { saveFeatures } from '../../src/features/features-file.js';
import * as torch from '../../src/torch/index.js';

const cos = (a: torch.Tensor, b: torch.Tensor) =>
  torch
    .normalize(a, 2, 0)
    .mul(torch.normalize(b, 2, 0))
    .sum()
    .item();

describe('STEGO', () => {
  for (const [name, f2, shift, sign] of [
    ['agreeing features pull codes together', [1, 0], 0.18, 1],
    ['disagreeing features push codes apart', [0, 1], 0.5, -1],
  ] as const) {
    test(`the loss's gradient: ${name}`, () => {
      const f = torch.tensor([1, 0, ...f2], { shape: [1, 2, 2] });
      const codes = torch.tensor([1, 0, 0.6, 0.8], { shape: [1, 2, 2] }).requiresGrad_();
      const before = cos(codes.select(0, 0).select(0, 0), codes.select(0, 0).select(0, 1));
      const loss = correspondenceLoss(f, f, codes, codes, shift);
      loss.backward();
      const stepped = codes.detach().sub(codes.grad!.mul(0.1));
      const after = cos(stepped.select(0, 0).select(0, 0), stepped.select(0, 0).select(0, 1));
      assert.equal(Math.sign(after - before), sign, `cosine ${before} -> ${after}`);
    });
  }

  test('on two-region maps the head and the cluster probe recover the regions', async () => {
    const n = 32,
      h = 8,
      d = 6;
    const base = new Float32Array(n * h * h * d);
    const truth = new Uint8Array(n * 16 * 16);
    for (let i = 0; i < n; i++) {
      const x0 = i % 4,
        y0 = (i >> 2) % 4;
      for (let p = 0; p < h * h; p++) {
        const y = Math.floor(p / h),
          x = p % h;
        const inside = x >= x0 && x < x0 + 4 && y >= y0 && y < y0 + 3;
        base[(i * h * h + p) * d + (inside ? 1 : 0)] = 1;
        for (let yy = 0; yy < 2; yy++)
          for (let xx = 0; xx < 2; xx++) if (inside) truth[i * 256 + (2 * y + yy) * 16 + 2 * x + xx] = 1;
      }
    }
    const patches = torch
      .tensor(base, { shape: [n, h, h, d] })
      .add(torch.randn([n, h, h, d], { generator: new torch.Generator(1) }).mul(0.1));
    const dir = mkdtempSync(join(tmpdir(), 'sg-stego-'));
    const path = join(dir, 'f.safetensors');
    saveFeatures(path, {
      features: patches.mean([1, 2]),
      patches,
      provenance: { extractor: 'test', config: '{}', dataset: 'synthetic', datasetSize: n, preprocessing: '{}' },
    });
    const t = await StegoTrainer.open(join(dir, 'run'), {
      config: {
        features: path,
        model: { codeDim: 8, K: 2 },
        train: { steps: 150, batchSize: 8, lr: 5e-3, knn: 3, logEvery: 50 },
      },
      log: () => {},
    });
    await t.train({ progress: false });
    const seg = stegoSegments(t.model, patches, 16);
    const q = maskQuality(seg.toTypedArray() as Uint8Array, truth, 2, 2);
    assert.ok(q.mIoU > 0.9, `mIoU ${q.mIoU}`);
    t.dispose();
  });
});
