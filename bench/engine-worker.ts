// One engine-benchmark measurement of selfguided, printed as one JSON line (same fields as the anchor).
// Run by bench/engine.ts; alone: node --import tsx bench/engine-worker.ts --threads 2 --batch 64
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { anchorWorkload } from './anchor-workload.js';

const { values: a } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '64' },
    warmup: { type: 'string', default: '3' },
    steps: { type: 'string', default: '10' },
    device: { type: 'string', default: 'cpu' },
    'blas-threads': { type: 'string' },
  },
});
const threads = Number(a.threads);
torch.setNumThreads(threads, a['blas-threads'] ? Number(a['blas-threads']) : undefined);
torch.manualSeed(0);
const dev = a.device as torch.Device;
const batch = Number(a.batch);
const sync = () => torch.cuda.synchronize();
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
const now = () => performance.now() / 1000;

const w = anchorWorkload(dev, batch);

const warm = Number(a.warmup),
  steps = Number(a.steps);
const train: number[] = [];
for (let i = 0; i < warm + steps; i++) {
  sync();
  const s = now();
  w.step();
  sync();
  if (i >= warm) train.push(now() - s);
}
const fwd: number[] = [];
for (let i = 0; i < warm + steps; i++) {
  sync();
  const s = now();
  w.forward();
  sync();
  if (i >= warm) fwd.push(now() - s);
}
console.log(
  JSON.stringify({
    engine: `selfguided (libtorch ${torch.buildInfo().torchVersion})`,
    device: dev,
    threads: torch.getNumThreads(),
    batch,
    params: w.model.numParameters(),
    train_s_per_step: median(train),
    forward_s: median(fwd),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    live_tensors: torch.liveTensors(),
    v8_heap_total_mb: process.memoryUsage().heapTotal / 2 ** 20,
    external_mb: process.memoryUsage().external / 2 ** 20,
  }),
);
