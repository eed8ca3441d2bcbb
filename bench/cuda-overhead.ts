// Where CUDA time goes: per-op launch cost (many tiny adds, one sync at the end) and one GPU-bound
// convolution, in selfguided; bench/cuda_overhead.py does the same in PyTorch for the ratio.
//   node --import tsx bench/cuda-overhead.ts
import * as torch from '../src/torch/index.js';

const dev = 'cuda' as const;
const now = () => performance.now() / 1000;
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;

function timeIt(reps: number, f: () => void): number {
  const out: number[] = [];
  for (let r = 0; r < 5; r++) {
    torch.cuda.synchronize();
    const s = now();
    for (let i = 0; i < reps; i++) f();
    torch.cuda.synchronize();
    out.push((now() - s) / reps);
  }
  return median(out);
}

const a = torch.keep(torch.ones([1024], { device: dev }));
const b = torch.keep(torch.ones([1024], { device: dev }));
timeIt(100, () => a.add(b).dispose());
const addUs = timeIt(2000, () => a.add(b).dispose()) * 1e6;
const x = torch.keep(torch.randn([256, 64, 32, 32], { device: dev }));
const w = torch.keep(torch.randn([64, 64, 3, 3], { device: dev }));
timeIt(5, () => torch.conv2d(x, w, null, { padding: 1 }).dispose());
const convMs = timeIt(50, () => torch.conv2d(x, w, null, { padding: 1 }).dispose()) * 1e3;
const gnMs = timeIt(50, () => torch.groupNorm(x, 8).dispose()) * 1e3;
const q = torch.keep(torch.randn([256, 64, 64], { device: dev }));
const bmmMs =
  timeIt(50, () =>
    torch.tidy(() => {
      torch.softmax(q.bmm(q.transpose(1, 2)), -1);
    }),
  ) * 1e3;
console.log(
  JSON.stringify({
    engine: 'selfguided',
    add_us: addUs,
    conv_b256_ms: convMs,
    groupnorm_b256_ms: gnMs,
    attn_b256_ms: bmmMs,
  }),
);
