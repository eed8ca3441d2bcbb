// Self-annotation benchmark on 2,000 fashion-scenes test canvases (48x48), features included: the
// SimCLR backbone's patch map (12x12 x 128, randomly initialised: speed does not depend on the weights),
// then LOST boxes per image, or patch k-means masks (K = 11, fit on 100,000 patches, every patch
// assigned, upsampled). Median of --rounds rounds, 2 threads.
//   npm run bench:annotate -- [--n 2000] [--rounds 3] [--threads 2]
// Last line: annotate-bench: lost_img_per_s=<x> masks_img_per_s=<y>
import { parseArgs } from 'node:util';
import { lostBoxes } from '../src/annotate/lost.js';
import { patchKMeansMasks } from '../src/annotate/self-masks.js';
import { generateScenes } from '../src/data/scenes.js';
import { SmallResNet } from '../src/features/ssl/resnet.js';
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
const g = new SmallResNet({ inChannels: 1, widths: [32, 64, 128], blocksPerStage: 1 }).eval();
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

function patches(): torch.Tensor {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const out: torch.Tensor[] = [];
      for (let s = 0; s < n; s += 250)
        out.push(g.call(ds.images(Array.from({ length: Math.min(250, n - s) }, (_, i) => s + i))).patches);
      return torch.cat(out, 0);
    }),
  );
}

const lostTimes: number[] = [],
  maskTimes: number[] = [];
for (let r = 0; r < Number(a.rounds); r++) {
  let t0 = performance.now();
  let p = patches();
  lostBoxes(p, 48);
  lostTimes.push((performance.now() - t0) / 1000);
  p.dispose();
  t0 = performance.now();
  p = patches();
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
    `round ${r + 1}: LOST ${lostTimes.at(-1)!.toFixed(2)} s, masks ${maskTimes.at(-1)!.toFixed(2)} s for ${n} canvases`,
  );
}
const lost = n / median(lostTimes),
  masks = n / median(maskTimes);
console.log(`annotate-bench: lost_img_per_s=${lost.toFixed(1)} masks_img_per_s=${masks.toFixed(1)}`);
