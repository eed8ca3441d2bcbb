// One engine-benchmark measurement of selfguided, printed as one JSON line (same fields as the anchor).
// Run by bench/engine.ts; alone: node --import tsx bench/engine-worker.ts --threads 2 --batch 64
import { parseArgs } from 'node:util';
import * as optim from '../src/optim/index.js';
import * as torch from '../src/torch/index.js';
import { AnchorUNet } from './anchor-unet.js';

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

const model = new AnchorUNet().to(dev);
const x0 = torch.keep(torch.rand([batch, 1, 32, 32], { device: dev }).mul(2).sub(1));
const abar = torch.keep(torch.linspace(1e-4, 0.02, 1000, { device: dev }).rsub(1).cumprod(0));
const opt = new optim.Adam(model.parameters(), { lr: 2e-4 });

function step(): number {
  return torch.tidy(() => {
    const t = torch.randint(0, 1000, [batch], { device: dev });
    const eps = torch.randnLike(x0);
    const ab = abar.index([t]).reshape(batch, 1, 1, 1);
    const xt = ab.sqrt().mul(x0).add(ab.rsub(1).sqrt().mul(eps));
    const loss = torch.mseLoss(model.call(xt, t), eps);
    opt.zeroGrad();
    loss.backward();
    opt.step();
    return loss.item();
  });
}

const warm = Number(a.warmup),
  steps = Number(a.steps);
const train: number[] = [];
for (let i = 0; i < warm + steps; i++) {
  sync();
  const s = now();
  step();
  sync();
  if (i >= warm) train.push(now() - s);
}
model.eval();
const fwd: number[] = [];
const t = torch.keep(torch.randint(0, 1000, [batch], { device: dev }));
torch.noGrad(() => {
  for (let i = 0; i < warm + steps; i++) {
    sync();
    const s = now();
    torch.tidy(() => model.call(x0, t));
    sync();
    if (i >= warm) fwd.push(now() - s);
  }
});
console.log(
  JSON.stringify({
    engine: `selfguided (libtorch ${torch.buildInfo().torchVersion})`,
    device: dev,
    threads: torch.getNumThreads(),
    batch,
    params: model.numParameters(),
    train_s_per_step: median(train),
    forward_s: median(fwd),
    peak_rss_mb: process.resourceUsage().maxRSS / 1024,
    live_tensors: torch.liveTensors(),
    v8_heap_total_mb: process.memoryUsage().heapTotal / 2 ** 20,
    external_mb: process.memoryUsage().external / 2 ** 20,
  }),
);
