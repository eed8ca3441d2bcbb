// Per-call overhead of the dispatcher bridge: microseconds per small op through the TypeScript API.
//   node --import tsx bench/overhead.ts
import * as torch from '../src/torch/index.js';

const a = torch.ones([4]);
const b = torch.ones([4]);
function time(label: string, n: number, f: () => void): void {
  for (let i = 0; i < 1000; i++) f();
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const s = process.hrtime.bigint();
    for (let i = 0; i < n; i++) f();
    runs.push(Number(process.hrtime.bigint() - s) / n / 1000);
  }
  runs.sort((x, y) => x - y);
  console.log(`${label}: ${runs[2]!.toFixed(2)} us/call (median of 5 x ${n})`);
}
torch.setNumThreads(1);
time('a.add(b) + dispose', 100000, () => a.add(b).dispose());
time('a.mul(2) + dispose', 100000, () => a.mul(2).dispose());
time('a.add_(b) in place', 100000, () => {
  a.add_(b);
});
time('tidy(() => a.add(b).mul(b).sum())', 50000, () => {
  torch.tidy(() => a.add(b).mul(b).sum());
});
const params = Array.from({ length: 200 }, () => torch.ones([16]));
const grads = Array.from({ length: 200 }, () => torch.ones([16]));
time('foreach.add_ over 200 tensors (one call)', 5000, () => torch.foreach.add_(params, grads, 0.1));
time('200 separate add_ calls', 500, () => {
  for (let i = 0; i < 200; i++) params[i]!.add_(grads[i]!, 0.1);
});
