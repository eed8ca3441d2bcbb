// The Vision Transformer g: shapes at the learned and at other grid sizes, gradients against finite
// differences (through the patch embedding, attention, the MLPs, the norms and interpolated positions),
// the attention parts (keys, CLS maps) that the fast path does not compute agreeing with it, and masked
// patches.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { join } from 'node:path';
import sharp from 'sharp';
import { loadFashionMnist } from '../../src/data/index.js';
import { SslEncoderFeatures } from '../../src/features/index.js';
import { saveAttentionMaps } from '../../src/pipelines/vit-attention.js';
import { lostBoxes, lostNormalizeFor } from '../../src/annotate/lost.js';
import { extractorFromProvenance } from '../../src/eval/rebuild-extractor.js';
import { DinoHead } from '../../src/features/ssl/dino.js';
import { maskedPatchLoss, patchMasks } from '../../src/features/ssl/ibot.js';
import { SslEncoder, tokenScores, EncoderConfig } from '../../src/features/ssl/encoder-trainer.js';
import { VisionTransformer } from '../../src/features/ssl/vit.js';
import * as nn from '../../src/nn/index.js';
import * as torch from '../../src/torch/index.js';
import { close, flat, gradcheck, randn64, sameState } from '../helpers/check.js';
import { straightAndResumed } from '../helpers/encoder-resume.js';

const small = (o: Partial<ConstructorParameters<typeof VisionTransformer>[0]> = {}) => {
  torch.manualSeed(3);
  return new VisionTransformer({
    inChannels: 3,
    imageSize: 32,
    patchSize: 4,
    dim: 24,
    depth: 2,
    heads: 3,
    mlpRatio: 2,
    ...o,
  });
};

describe('vision transformer', () => {
  test('the CLS feature and the patch tokens, at the learned size and at others', () => {
    const vit = small();
    const x = torch.randn([2, 3, 32, 32], { generator: new torch.Generator(1) });
    const out = vit.call(x);
    assert.deepEqual(out.features.shape, [2, 24]);
    assert.deepEqual(out.patches.shape, [2, 8, 8, 24]);
    assert.deepEqual(vit.call(x, 0).patches.shape, [2, 8, 8, 24], 'an earlier block');
    // Local crops: a 16 px view is a 4x4 grid with interpolated positions.
    assert.deepEqual(vit.call(x.narrow(2, 0, 16).narrow(3, 0, 16)).patches.shape, [2, 4, 4, 24]);
    assert.throws(() => vit.call(x, 2), /block 2 does not exist \(the ViT has 2\)/);
    assert.throws(() => small({ imageSize: 30 }), /not a multiple of the patch size 4/);
    assert.throws(() => small({ dim: 25 }), /not divisible by 3 heads/);
    const tokens = vit.tokens(x);
    assert.deepEqual(tokens.shape, [2, 65, 24]);
    close(out.features, flat(tokens.select(1, 0)), 1e-5);
  });

  test('gradients against finite differences, at the learned grid and an interpolated one', () => {
    const vit = small({ inChannels: 1, imageSize: 8, dim: 8, heads: 2 }).to('float64');
    const both = (x: torch.Tensor) => {
      const o = vit.call(x);
      return torch.cat([o.features.flatten(), o.patches.flatten()]);
    };
    gradcheck('vit 8 px', both, [randn64([2, 1, 8, 8], 4)], { tol: 1e-4 });
    gradcheck('vit 12 px (3x3 grid, interpolated positions)', both, [randn64([1, 1, 12, 12], 5)], { tol: 1e-4 });
    gradcheck(
      'last attention: keys and CLS maps',
      (x) => {
        const a = vit.lastAttention(x);
        return torch.cat([a.keys.flatten(), a.cls.flatten()]);
      },
      [randn64([1, 1, 8, 8], 6)],
      { tol: 1e-4 },
    );
  });

  test("the attention parts come from the same product the fast path computes; CLS maps are the CLS row's", () => {
    const vit = small();
    vit.eval();
    const x = torch.randn([2, 3, 32, 32], { generator: new torch.Generator(2) });
    const { tokens } = vit.embed(x);
    const blk = vit.blocks.items[0]!;
    const fast = blk.call(tokens).x,
      slow = blk.call(tokens, { parts: true });
    close(slow.x, flat(fast), 1e-5);
    assert.deepEqual(slow.weights!.shape, [2, 3, 65, 65]);
    close(slow.weights!.sum(3), new Array(2 * 3 * 65).fill(1), 1e-5);
    const a = vit.lastAttention(x);
    assert.deepEqual(a.keys.shape, [2, 8, 8, 24]);
    assert.deepEqual(a.cls.shape, [2, 3, 8, 8]);
    // The CLS token's weights over the patches sum to 1 less what it gives itself.
    const s = flat(a.cls.sum([2, 3]));
    assert.ok(s.every((v) => v > 0 && v < 1));
  });

  test('masked patches take the mask token; a mask of the wrong size is refused', () => {
    const vit = small();
    const x = torch.randn([1, 3, 32, 32], { generator: new torch.Generator(3) });
    const none = torch.zeros([1, 64], { dtype: 'bool' });
    close(vit.tokens(x, none), flat(vit.tokens(x)), 1e-6);
    // Masking every patch: the tokens no longer depend on the image.
    const all = torch.ones([1, 64], { dtype: 'bool' });
    const y = torch.randn([1, 3, 32, 32], { generator: new torch.Generator(4) });
    close(vit.tokens(x, all), flat(vit.tokens(y, all)), 1e-5);
    assert.throws(
      () => vit.embed(x, torch.zeros([1, 16], { dtype: 'bool' })),
      /patch mask \[1, 16\] for 1 images of 8x8/,
    );
  });
});

describe('iBOT', () => {
  test('the masked patch loss by hand: masked patches only, per image then over images', () => {
    const student = torch.tensor([1, 0, 0, 2, 3, 3, 5, 1], { shape: [2, 2, 2] });
    const teacher = torch.tensor([0, 1, 2, 0, 1, 1, 0, 0], { shape: [2, 2, 2] });
    const mask = torch.tensor([true, true, false, false]).reshape(2, 2);
    const center = torch.tensor([0.5, 0]);
    const softmax = (v: number[]) => {
      const e = v.map(Math.exp);
      const z = e.reduce((a, b) => a + b);
      return e.map((x) => x / z);
    };
    const ce = (t: number[], s: number[]) => {
      const p = softmax(t.map((x, i) => (x - [0.5, 0][i]!) / 0.5));
      const q = softmax(s.map((x) => x / 0.25));
      return -p.reduce((a, pi, i) => a + pi * Math.log(q[i]!), 0);
    };
    // Image 0 has both patches masked, image 1 none (it counts as 0 in the mean over images).
    const expected = (ce([0, 1], [1, 0]) + ce([2, 0], [0, 2])) / 2 / 2;
    const got = maskedPatchLoss(student, teacher, mask, center, { studentTemp: 0.25, teacherTemp: 0.5 }).item();
    close(got, expected, 1e-6);
    assert.throws(
      () => maskedPatchLoss(student, teacher, mask.narrow(1, 0, 1), center, { studentTemp: 1, teacherTemp: 1 }),
      /masked patch loss: student \[2, 2, 2\]/,
    );
  });

  test("DINO's head with and without batch-normalised hidden layers", () => {
    const keys = (bn: boolean) => [...new DinoHead(8, 16, 4, 10, bn).stateDict().keys()].join(' ');
    assert.match(keys(true), /running_mean/);
    assert.doesNotMatch(keys(false), /running_mean/);
    const out = new DinoHead(8, 16, 4, 10, false).call(torch.randn([3, 8]));
    assert.deepEqual(out.shape, [3, 10]);
  });

  test("the head's batch norm scores CLS tokens apart from patch tokens", () => {
    const cfg = EncoderConfig.parse({
      data: { kind: 'fashion-mnist' },
      model: { objective: 'dino', arch: 'vit', vit: { dim: 16, depth: 1, heads: 2 }, dino: { outDim: 8, hidden: 16 } },
      train: { steps: 1 },
    });
    torch.manualSeed(2);
    const enc = new SslEncoder(1, cfg.model, 16);
    const g = new torch.Generator(3);
    const tokens = torch.randn([4, 17, 16], { generator: g });
    // Other patches (shifted and scaled, as patch statistics differ from the CLS's), the same CLS rows.
    const other = torch.cat([tokens.narrow(1, 0, 1), tokens.narrow(1, 1, 16).mul(5).add(3)], 1);
    const a = tokenScores(enc, tokens),
      b = tokenScores(enc, other);
    assert.deepEqual(a.cls.shape, [4, 8]);
    assert.deepEqual(a.patches.shape, [4, 16, 8]);
    close(b.cls, flat(a.cls), 1e-6);
    assert.notDeepEqual(flat(b.patches), flat(a.patches));
    enc.dispose();
  });

  test('masks: a view is masked with the given probability, its patches at a ratio in the range', () => {
    const g = new torch.Generator(7);
    const none = patchMasks(50, 64, { prob: 0, ratio: [0.1, 0.5] }, g);
    assert.equal(none.sum().item(), 0);
    const half = flat(
      patchMasks(400, 100, { prob: 1, ratio: [0.3, 0.3] }, g)
        .float()
        .mean(1),
    );
    const mean = half.reduce((a, b) => a + b) / half.length;
    assert.ok(Math.abs(mean - 0.3) < 0.01, `masked fraction ${mean}`);
    const some = flat(
      patchMasks(1000, 100, { prob: 0.5, ratio: [0.1, 0.5] }, g)
        .any(1)
        .float(),
    );
    const masked = some.reduce((a, b) => a + b) / some.length;
    assert.ok(Math.abs(masked - 0.5) < 0.05, `views masked ${masked}`);
  });

  test('a ViT trained by DINO + iBOT resumes bit-exact; its features give tokens or keys as patches', async () => {
    const cfg = {
      data: { kind: 'fashion-mnist' as const, limit: 64 },
      model: {
        objective: 'dino' as const,
        arch: 'vit' as const,
        vit: { patchSize: 8, dim: 16, depth: 2, heads: 2 },
        dino: { outDim: 32, hidden: 32, bottleneck: 16, localCrops: 2 },
        ibot: { maskProb: 1 },
      },
      train: { steps: 4, batchSize: 16, warmup: 1, checkpointEvery: 2, seed: 5 },
    };
    const { straight: a, resumed: b2, straightDir: adir } = await straightAndResumed(cfg, 2);
    assert.ok(a.patchCenter, 'iBOT is on');
    sameState(b2.model.stateDict(), a.model.stateDict());
    sameState(b2.teacher!.stateDict(), a.teacher!.stateDict(), 'teacher ');
    assert.deepEqual(flat(b2.patchCenter!), flat(a.patchCenter!));
    assert.notDeepEqual(flat(a.patchCenter!), new Array(32).fill(0), 'the patch centre moved');
    a.dispose();
    b2.dispose();
    const x = torch.randn([3, 1, 32, 32], { generator: new torch.Generator(1) });
    const tokens = new SslEncoderFeatures(adir);
    const keys = new SslEncoderFeatures(adir, 'backbone', -1, 'keys');
    const t = tokens.embed(x),
      k = keys.embed(x);
    assert.deepEqual(t.patches.shape, [3, 4, 4, 16]);
    assert.deepEqual(k.patches.shape, [3, 4, 4, 16]);
    close(k.features, flat(t.features), 1e-5);
    assert.notDeepEqual(flat(k.patches), flat(t.patches));
    assert.throws(() => new SslEncoderFeatures(adir, 'backbone', 0, 'keys'), /--patch-stage does not apply/);
    // g rebuilt from a features file's provenance (STEGO's and the masks' flip-averaging) reads the same source.
    const rebuilt = (await extractorFromProvenance({ ...keys.provenance(), dataSpec: '' })) as SslEncoderFeatures;
    assert.equal(rebuilt.patchSource, 'keys');
    rebuilt.dispose();
    // LOST centres a ViT's patches by default (its tokens are layer-normed inside the network already).
    assert.equal(lostNormalizeFor(keys.provenance()), 'center');
    assert.equal(lostNormalizeFor(tokens.provenance()), 'center');
    knownAnswerPatches(tokens, keys);
    // The attention picture: a row per image, the image then each head's map and their mean.
    const ds = loadFashionMnist({ limit: 2 });
    const png = join(adir, 'attention.png');
    assert.equal(await saveAttentionMaps(adir, ds, { n: 2, out: png, scale: 1 }), 2);
    const meta = await sharp(png).metadata();
    assert.deepEqual([meta.width, meta.height], [4 * 34 + 2, 2 * 34 + 2]);
    ds.dispose();
    tokens.dispose();
    keys.dispose();
  });
});

/**
 * A known answer through the extractor's own path: with every block's residual branches and the position
 * embeddings zeroed, a token (and its key) is a function of its own patch's pixels, so on a black canvas
 * with one white square the patch map must hold the square's feature at exactly its cells, the same
 * feature everywhere else, and LOST must box the square. A transposed or shifted map, the wrong block, or
 * keys taken from the wrong slice of qkv fail it.
 */
function knownAnswerPatches(...extractors: SslEncoderFeatures[]): void {
  // 32 px, patch 8: a 4x4 grid; the square covers pixel rows 8-15 and columns 16-23, i.e. cell (1, 2).
  const px = new Float32Array(32 * 32).fill(-1);
  for (let y = 8; y < 16; y++) for (let x = 16; x < 24; x++) px[y * 32 + x] = 1;
  const canvas = torch.tensor(px, { shape: [1, 1, 32, 32] });
  for (const e of extractors) {
    const vit = e.model.vit;
    torch.noGrad(() => {
      for (const blk of vit.blocks.items)
        for (const p of [blk.attn.proj.weight, blk.attn.proj.bias!, blk.fc2.weight, blk.fc2.bias!]) nn.init.zeros_(p);
      nn.init.zeros_(vit.posEmbed);
    });
    const { patches } = e.embed(canvas);
    const cell = (r: number, c: number) => flat(patches.select(1, r).select(1, c).squeeze(0));
    const square = cell(1, 2),
      ground = cell(0, 0);
    assert.ok(
      Math.max(...square.map((v, i) => Math.abs(v - ground[i]!))) > 0.1,
      `${e.patchSource}: the square stands out`,
    );
    for (let r = 0; r < 4; r++)
      for (let c = 0; c < 4; c++) close(cell(r, c), r === 1 && c === 2 ? square : ground, 1e-5);
    const [[box]] = lostBoxes(patches, 32, { normalize: 'center' }) as [[ReturnType<typeof lostBoxes>[0][0]]];
    assert.deepEqual(box.box, [16, 8, 24, 16], `${e.patchSource}: LOST boxes the square`);
  }
  canvas.dispose();
}
