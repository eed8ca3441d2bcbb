// Self-annotation benchmark on 2,000 fashion-scenes test canvases (48x48), features included: the
// SimCLR backbone's patch map (12x12 x 128), and the ViT g's (patch 4, width 128, 4 blocks: its last
// keys for LOST, its tokens for masks, 12x12 x 128), both randomly initialised (speed does not depend on
// the weights); then LOST boxes per image, or patch k-means masks (K = 11, fit on 100,000 patches, every
// patch assigned, upsampled). Median of --rounds rounds, 2 threads.
//   npm run bench:annotate -- [--n 2000] [--rounds 3] [--threads 2]
// Last line: annotate-bench: lost_img_per_s=<x> masks_img_per_s=<y> vit_lost_img_per_s=<x> vit_masks_img_per_s=<y>
import { parseArgs } from 'node:util';
import { lostBoxes } from '../src/annotate/lost.js';
import { patchKMeansMasks } from '../src/annotate/self-masks.js';
import { generateScenes } from '../src/data/scenes.js';
import { SmallResNet } from '../src/features/ssl/resnet.js';
import { VisionTransformer } from '../src/features/ssl/vit.js';
import * as torch from '../src/torch/index.js';

const { values: a } = parseArgs({
  options: {
    n: { type: 'string', default: '2000' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
  },
});
torch.setNumThreads(Number(a.threads));
torch.manualSeed(0);
const n = Number(a.n);
const ds = generateScenes({ split: 'test', count: n });
const cnn = new SmallResNet({ inChannels: 1, widths: [32, 64, 128], blocksPerStage: 1 }).eval();
const vit = new VisionTransformer({
  inChannels: 1,
  imageSize: 48,
  patchSize: 4,
  dim: 128,
  depth: 4,
  heads: 4,
  mlpRatio: 4,
}).eval();
type PatchMap = (x: torch.Tensor) => torch.Tensor;
const G: Record<string, { boxes: PatchMap; masks: PatchMap }> = {
  cnn: { boxes: (x) => cnn.call(x).patches, masks: (x) => cnn.call(x).patches },
  vit: { boxes: (x) => vit.lastAttention(x).keys, masks: (x) => vit.call(x).patches },
};
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

function patches(map: PatchMap): torch.Tensor {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const out: torch.Tensor[] = [];
      for (let s = 0; s < n; s += 250)
        out.push(map(ds.images(Array.from({ length: Math.min(250, n - s) }, (_, i) => s + i))));
      return torch.cat(out, 0);
    }),
  );
}

const times: Record<string, { lost: number[]; masks: number[] }> = {
  cnn: { lost: [], masks: [] },
  vit: { lost: [], masks: [] },
};
for (let r = 0; r < Number(a.rounds); r++)
  for (const [name, g] of Object.entries(G)) {
    const lostTimes = times[name]!.lost,
      maskTimes = times[name]!.masks;
    let t0 = performance.now();
    let p = patches(g.boxes);
    lostBoxes(p, 48);
    lostTimes.push((performance.now() - t0) / 1000);
    p.dispose();
    t0 = performance.now();
    p = patches(g.masks);
    const provenance = {
      extractor: 'bench',
      config: '{}',
      dataset: 'fashion-scenes/test',
      datasetSize: n,
      preprocessing: '{}',
    };
    const m = patchKMeansMasks(
      'bench',
      { features: p.mean([1, 2]), patches: p, provenance },
      { K: 11, imageSize: 48, restarts: 1 },
    );
    maskTimes.push((performance.now() - t0) / 1000);
    for (const t of [p, m.annotations.vectors, m.annotations.segments, m.centroids]) t?.dispose();
    console.log(
      `round ${r + 1}, ${name}: LOST ${lostTimes.at(-1)!.toFixed(2)} s, masks ${maskTimes.at(-1)!.toFixed(2)} s for ${n} canvases`,
    );
  }
const rate = (xs: number[]) => (n / median(xs)).toFixed(1);
console.log(
  `annotate-bench: lost_img_per_s=${rate(times.cnn!.lost)} masks_img_per_s=${rate(times.cnn!.masks)} vit_lost_img_per_s=${rate(times.vit!.lost)} vit_masks_img_per_s=${rate(times.vit!.masks)}`,
);
