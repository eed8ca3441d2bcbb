// Export benchmark: the `small` preset (label-guided, 32 px Fashion-MNIST; its weights after one training
// step, which does not change the speed), guided DDPM-25 at s = 2 for a batch of n images, sampled three
// ways side by side: libtorch (the library, `generate`), onnxruntime-node (the exported model.onnx with the
// library's samplers on Float32Arrays, `sampleOnnx`) and headless chromium (the exported web page,
// onnxruntime-web on WebAssembly, served with the cross-origin isolation headers that let it use threads).
//   npm run bench:export -- [--n 8] [--rounds 3] [--threads 2]
// Last line: export-bench: onnx_mb=<x> ort_node_img_per_s=<x> libtorch_img_per_s=<x> browser_img_per_s=<x>
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import ort from 'onnxruntime-node';
import { chromium } from 'playwright-core';
import { generate, idConditions, loadModel } from '../src/diffusion/pipeline.js';
import { DiffusionTrainer } from '../src/diffusion/trainer.js';
import { sampleOnnx, type RunNetwork } from '../src/export/sample-onnx.js';
import { exportWeb } from '../src/export/web-export.js';
import * as torch from '../src/torch/index.js';
import { serveFolder } from '../src/util/static-server.js';

const { values: a } = parseArgs({
  options: {
    n: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    chromium: { type: 'string', default: process.env.CHROMIUM ?? '/usr/bin/chromium' },
  },
});
const n = Number(a.n),
  rounds = Number(a.rounds),
  threads = Number(a.threads),
  steps = 25,
  scale = 2;
torch.setNumThreads(threads);
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
const dir = mkdtempSync(join(tmpdir(), 'sg-bench-export-'));
const run = join(dir, 'run');
const trainer = await DiffusionTrainer.open(run, {
  config: {
    data: { kind: 'fashion-mnist', limit: 64 },
    condition: { kind: 'label' },
    model: { preset: 'small' },
    train: { steps: 1, batchSize: 8, checkpointEvery: 1 },
  },
  log: () => {},
});
await trainer.train({ progress: false });
trainer.dispose();
const site = join(dir, 'site');
await exportWeb(run, site);
const onnxFile = join(site, 'model.onnx');
const ids = Array.from({ length: n }, (_, i) => i % 10);

// libtorch, the library's own path
const m = loadModel(run);
const cond = idConditions(ids, 10);
// Each engine runs one untimed round first (allocations, thread pools, WebAssembly compilation).
const libtorch: number[] = [];
for (let r = -1; r < rounds; r++) {
  const t0 = performance.now();
  generate(m, { n, cond, scale, sampler: 'ddpm', steps, seed: r + 1, batchSize: n }).dispose();
  if (r >= 0) libtorch.push((performance.now() - t0) / 1000);
}
const [C, S] = [m.model.config.channels, m.model.config.imageSize];
const abar = m.schedule.samplingAlphasCumprod;
m.dispose();

// onnxruntime-node, the exported file
const session = await ort.InferenceSession.create(readFileSync(onnxFile), {
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
});
const runNet: RunNetwork = async (x, batch, t, c) => {
  const out = await session.run({
    sample: new ort.Tensor('float32', x, [batch, C, S, S]),
    timestep: new ort.Tensor('int64', new BigInt64Array(batch).fill(BigInt(t)), [batch]),
    cond: new ort.Tensor('float32', c!, [batch, 10]),
  });
  return out.v!.data as Float32Array;
};
const condF = cond.toFloat32Array();
const ortNode: number[] = [];
for (let r = -1; r < rounds; r++) {
  const g = new torch.Generator(r + 1);
  const draw = () => torch.randn([n, C, S, S], { generator: g }).toFloat32Array();
  const t0 = performance.now();
  await sampleOnnx(runNet, {
    sampler: 'ddpm',
    steps,
    scale,
    prediction: 'v',
    alphasCumprod: abar,
    n,
    cond: condF,
    maps: null,
    xT: draw(),
    noise: draw,
  });
  if (r >= 0) ortNode.push((performance.now() - t0) / 1000);
}
await session.release();

// headless chromium, the exported page
const server = await serveFolder(site, { isolated: true });
const browser = await chromium.launch({ executablePath: a.chromium, args: ['--no-sandbox'] });
const page = await browser.newPage();
await page.goto(server.url);
await page.locator('#status', { hasText: /^(ready|error)/ }).waitFor({ timeout: 120_000 });
const backend = await page.textContent('#status');
const isolated = await page.evaluate(
  () => (globalThis as unknown as { crossOriginIsolated: boolean }).crossOriginIsolated,
);
const browserTimes: number[] = [];
for (let r = -1; r < rounds; r++) {
  const seconds = await page.evaluate(
    async ({ n, steps, scale, ids, seed }) => {
      type Sampler = { sample(o: object): Promise<Float32Array> };
      const s = (globalThis as unknown as { selfguided: Sampler }).selfguided;
      const cond = new Float32Array(n * 10);
      ids.forEach((id, i) => (cond[i * 10 + id] = 1));
      const t0 = performance.now();
      await s.sample({ sampler: 'ddpm', steps, scale, n, cond, maps: null, seed });
      return (performance.now() - t0) / 1000;
    },
    { n, steps, scale, ids, seed: r + 1 },
  );
  if (r >= 0) browserTimes.push(seconds);
}
await browser.close();
await server.close();
const onnxMb = statSync(onnxFile).size / 1e6;
rmSync(dir, { recursive: true, force: true });

const ips = (xs: number[]) => (n / median(xs)).toFixed(2);
console.log(
  `batch ${n}, guided DDPM-${steps} (${2 * steps} network passes of ${n} images), ${rounds} rounds (medians); threads: libtorch ${threads}, onnxruntime-node ${threads}, browser ${backend} with crossOriginIsolated ${isolated}`,
);
console.log(
  `seconds per batch: libtorch ${libtorch.map((x) => x.toFixed(2)).join(' ')}; onnxruntime-node ${ortNode.map((x) => x.toFixed(2)).join(' ')}; browser ${browserTimes.map((x) => x.toFixed(2)).join(' ')}`,
);
console.log(
  `export-bench: onnx_mb=${onnxMb.toFixed(2)} ort_node_img_per_s=${ips(ortNode)} libtorch_img_per_s=${ips(libtorch)} browser_img_per_s=${ips(browserTimes)}`,
);
