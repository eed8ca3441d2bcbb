// k-means benchmark: random 60,000 x 512 float32 features into k = 1,000, 20 Lloyd iterations
// (spherical, k-means++ seeding included), 2 threads.
//   npm run bench:kmeans -- [--n 60000] [--d 512] [--k 1000] [--iters 20] [--threads 2]
// Last line: kmeans-bench: seconds=<s>
import { parseArgs } from 'node:util';
import { kmeans } from '../src/annotate/kmeans.js';
import * as torch from '../src/torch/index.js';

const { values: a } = parseArgs({
  options: {
    n: { type: 'string', default: '60000' },
    d: { type: 'string', default: '512' },
    k: { type: 'string', default: '1000' },
    iters: { type: 'string', default: '20' },
    threads: { type: 'string', default: '2' },
    metric: { type: 'string', default: 'cosine' },
  },
});
torch.setNumThreads(Number(a.threads));
const x = torch.randn([Number(a.n), Number(a.d)], { generator: new torch.Generator(0) });
const iterTimes: number[] = [];
let last = performance.now();
const t0 = performance.now();
const r = kmeans(x, {
  k: Number(a.k),
  maxIter: Number(a.iters),
  tol: -Infinity,
  restarts: 1,
  metric: a.metric as 'cosine',
  seed: 0,
  onIteration: () => {
    const now = performance.now();
    iterTimes.push((now - last) / 1000);
    last = now;
  },
});
const seconds = (performance.now() - t0) / 1000;
const seeding = iterTimes[0]!;
console.log(
  `n=${a.n} d=${a.d} k=${a.k} ${a.metric}: ${r.iterations} iterations, ${r.reseeded} re-seeded, inertia ${r.inertia.toFixed(1)}`,
);
console.log(
  `k-means++ seeding + first iteration ${seeding.toFixed(2)} s; later iterations median ${[...iterTimes.slice(1)].sort((p, q) => p - q)[Math.floor((iterTimes.length - 1) / 2)]?.toFixed(3)} s`,
);
console.log(`kmeans-bench: seconds=${seconds.toFixed(2)}`);
