// Peak memory and time of guided sampling on the CPU, to compare glibc malloc settings side by side:
// with glibc's default (dynamic) mmap threshold, the resident size of a sampling loop sometimes grows
// by about one network evaluation's activations per step without bound, though no tensor is alive
// (docs/benchmarks.md, "CPU memory"). Run it several times per setting: the growth is intermittent.
//   node --import tsx bench/sampling-memory.ts [--checkpoint RUN] [--n 192] [--batch 16] [--steps 25]
//   MALLOC_MMAP_THRESHOLD_=4194304 node --import tsx bench/sampling-memory.ts ...
// Last line: sampling-memory: seconds=<s> peak_rss_mb=<mb> live_tensors=<n>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generate, idConditions, loadModel } from '../src/diffusion/pipeline.js';
import { DiffusionTrainer } from '../src/diffusion/trainer.js';
import * as torch from '../src/torch/index.js';

const { values: a } = parseArgs({
  options: {
    checkpoint: { type: 'string' },
    n: { type: 'string', default: '192' },
    batch: { type: 'string', default: '16' },
    steps: { type: 'string', default: '25' },
  },
});
let checkpoint = a.checkpoint;
let tmp: string | null = null;
if (!checkpoint) {
  // A 2-step tiny label-guided model: the weights do not matter, the activation shapes do.
  tmp = mkdtempSync(join(tmpdir(), 'sg-memory-'));
  checkpoint = join(tmp, 'run');
  const t = await DiffusionTrainer.open(checkpoint, {
    config: {
      data: { kind: 'fashion-mnist', limit: 64 },
      condition: { kind: 'label' },
      model: { preset: 'tiny' },
      train: { steps: 2, batchSize: 8 },
    },
    log: () => {},
  });
  await t.train({ progress: false });
  t.dispose();
}
const m = loadModel(checkpoint);
const n = Number(a.n);
const numIds = m.conditions.numIds ?? 10;
const cond = idConditions(
  Array.from({ length: n }, (_, i) => i % numIds),
  numIds,
);
let peak = 0;
const t0 = performance.now();
generate(m, {
  n,
  cond,
  scale: 2,
  sampler: 'ddim',
  steps: Number(a.steps),
  seed: 1,
  batchSize: Number(a.batch),
  onProgress: () => {
    peak = Math.max(peak, process.memoryUsage().rss);
  },
}).dispose();
const seconds = (performance.now() - t0) / 1000;
cond.dispose();
m.dispose();
if (tmp) rmSync(tmp, { recursive: true, force: true });
console.log(
  `sampling-memory: seconds=${seconds.toFixed(1)} peak_rss_mb=${(peak / 1e6).toFixed(0)} live_tensors=${torch.liveTensors()}`,
);
