// Diffusion benchmark: training images/s and DDIM-50 guided sampling images/s for a UNet preset
// (default `small`) on Fashion-MNIST with label guidance, batch 64, 2 threads, on the CPU or a GPU.
//   npm run bench:diffusion -- [--preset small] [--batch 64] [--threads 2] [--steps 8] [--device cuda]
//     [--data-dir DIR --split test]   (the GPU check carries only the 4.4 MB test split)
// Last line: diffusion-bench: train_img_per_s=<x> sample_img_per_s=<y>
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generate, idConditions, loadModel } from '../src/diffusion/pipeline.js';
import { DiffusionTrainer } from '../src/diffusion/trainer.js';
import * as torch from '../src/torch/index.js';

const { values: a } = parseArgs({
  options: {
    preset: { type: 'string', default: 'small' },
    batch: { type: 'string', default: '64' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '8' },
    warmup: { type: 'string', default: '2' },
    'sample-steps': { type: 'string', default: '50' },
    device: { type: 'string', default: 'cpu' },
    'data-dir': { type: 'string' },
    split: { type: 'string', default: 'train' },
  },
});
torch.setNumThreads(Number(a.threads));
const device = torch.parseDevice(a.device!);
const batch = Number(a.batch);
const dir = mkdtempSync(join(tmpdir(), 'sg-bench-'));
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

const trainer = await DiffusionTrainer.open(join(dir, 'run'), {
  config: {
    data: { kind: 'fashion-mnist', dir: a['data-dir'], split: a.split as 'train' | 'test' },
    condition: { kind: 'label' },
    model: { preset: a.preset as 'small' },
    train: { steps: Number(a.warmup) + Number(a.steps), batchSize: batch, checkpointEvery: 100000 },
  },
  device,
  log: () => {},
});
for (let i = 0; i < Number(a.warmup); i++) trainer.trainStep();
const times: number[] = [];
for (let i = 0; i < Number(a.steps); i++) {
  const s = performance.now();
  trainer.trainStep();
  times.push((performance.now() - s) / 1000);
}
const trainIps = batch / median(times);
console.log(
  `train on ${device}: ${a.preset} UNet, ${(trainer.model.numParameters() / 1e6).toFixed(2)}M parameters, batch ${batch}: median ${median(times).toFixed(3)} s/step = ${trainIps.toFixed(1)} images/s`,
);
trainer.saveCheckpoint();
trainer.dispose();

const m = loadModel(join(dir, 'run'), { device });
const cond = idConditions(
  Array.from({ length: batch }, (_, i) => i % 10),
  10,
);
generate(m, { n: batch, cond, scale: 2, sampler: 'ddim', steps: 2, seed: 0, batchSize: batch }).dispose(); // warm-up
const s = performance.now();
generate(m, {
  n: batch,
  cond,
  scale: 2,
  sampler: 'ddim',
  steps: Number(a['sample-steps']),
  seed: 0,
  batchSize: batch,
}).dispose();
const sampleSec = (performance.now() - s) / 1000;
const sampleIps = batch / sampleSec;
console.log(
  `sample: DDIM-${a['sample-steps']}, guidance scale 2 (doubled batch), ${batch} images in ${sampleSec.toFixed(1)} s = ${sampleIps.toFixed(2)} images/s`,
);
m.dispose();
rmSync(dir, { recursive: true, force: true });
console.log(`diffusion-bench: train_img_per_s=${trainIps.toFixed(1)} sample_img_per_s=${sampleIps.toFixed(2)}`);
