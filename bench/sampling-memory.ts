// Peak memory and time of guided sampling on the CPU, with the engine's caching CPU allocator (the
// default) beside c10's default allocator (glibc malloc), each run in a fresh process. With glibc's
// dynamic mmap threshold the resident size of a sampling loop sometimes grows by about one network
// evaluation's activations per step without bound (docs/benchmarks.md, "CPU memory"); the growth is
// intermittent, hence many runs, alternating the order of the two settings.
//   node --import tsx bench/sampling-memory.ts [--runs 10] [--checkpoint RUN] [--n 192] [--batch 16] [--steps 25]
//   node --import tsx bench/sampling-memory.ts --once ...   (one run in this process, with its environment)
// Last line with --runs: sampling-memory: peak_rss_spread=<max/min peak RSS over the caching runs>
//   time_ratio=<median seconds, caching over glibc>
// Last line with --once: sampling-memory: seconds=<s> peak_rss_mb=<mb> sys_s=<s> live_tensors=<n>
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generate, idConditions, loadModel } from '../src/diffusion/pipeline.js';
import { DiffusionTrainer } from '../src/diffusion/trainer.js';
import * as torch from '../src/torch/index.js';

const { values: a } = parseArgs({
  options: {
    once: { type: 'boolean', default: false },
    runs: { type: 'string', default: '10' },
    checkpoint: { type: 'string' },
    n: { type: 'string', default: '192' },
    batch: { type: 'string', default: '16' },
    steps: { type: 'string', default: '25' },
  },
});

async function tinyModel(dir: string): Promise<string> {
  // A 2-step tiny label-guided model: the weights do not matter, the activation shapes do.
  const run = join(dir, 'run');
  const t = await DiffusionTrainer.open(run, {
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
  return run;
}

/** The process's peak resident size (VmHWM), in MB: a true peak, not a sample of it. */
function peakRssMb(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.memoryUsage().rss / 2 ** 20;
}

function sampleOnce(checkpoint: string): void {
  const m = loadModel(checkpoint);
  const n = Number(a.n);
  const numIds = m.conditions.numIds ?? 10;
  const cond = idConditions(
    Array.from({ length: n }, (_, i) => i % numIds),
    numIds,
  );
  const sys0 = process.resourceUsage().systemCPUTime;
  const t0 = performance.now();
  generate(m, {
    n,
    cond,
    scale: 2,
    sampler: 'ddim',
    steps: Number(a.steps),
    seed: 1,
    batchSize: Number(a.batch),
  }).dispose();
  const seconds = (performance.now() - t0) / 1000;
  const sys = (process.resourceUsage().systemCPUTime - sys0) / 1e6;
  cond.dispose();
  m.dispose();
  console.log(
    `sampling-memory: seconds=${seconds.toFixed(1)} peak_rss_mb=${peakRssMb().toFixed(0)} sys_s=${sys.toFixed(1)} live_tensors=${torch.liveTensors()}`,
  );
}

interface Run {
  seconds: number;
  peakMb: number;
  sys: number;
}

function childRun(allocator: 'caching' | 'default', checkpoint: string): Run {
  const args = ['--import', 'tsx', process.argv[1]!, '--once', '--checkpoint', checkpoint];
  for (const k of ['n', 'batch', 'steps'] as const) args.push(`--${k}`, String(a[k]));
  const r = spawnSync(process.execPath, args, {
    env: { ...process.env, SELFGUIDED_CPU_ALLOCATOR: allocator },
    encoding: 'utf8',
  });
  const m = /seconds=([\d.]+) peak_rss_mb=(\d+) sys_s=([\d.]+)/.exec(r.stdout);
  if (r.status !== 0 || !m) throw new Error(`a ${allocator} run failed (exit ${r.status}):\n${r.stderr}`);
  return { seconds: Number(m[1]), peakMb: Number(m[2]), sys: Number(m[3]) };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  let tmp: string | null = null;
  let checkpoint = a.checkpoint;
  if (!checkpoint) {
    tmp = mkdtempSync(join(tmpdir(), 'sg-memory-'));
    checkpoint = await tinyModel(tmp);
  }
  try {
    if (a.once) return sampleOnce(checkpoint);
    const runs = Number(a.runs);
    const results: Record<'caching' | 'default', Run[]> = { caching: [], default: [] };
    console.log(`${runs} rounds of ${a.n} images, DDIM-${a.steps}, batch ${a.batch}, each run a fresh process`);
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? (['default', 'caching'] as const) : (['caching', 'default'] as const);
      for (const allocator of order) {
        const r = childRun(allocator, checkpoint);
        results[allocator].push(r);
        console.log(
          `round ${i + 1} ${allocator.padEnd(7)} seconds=${r.seconds.toFixed(1)} peak_rss_mb=${r.peakMb} sys_s=${r.sys.toFixed(1)}`,
        );
      }
    }
    for (const k of ['default', 'caching'] as const) {
      const rs = results[k];
      const peaks = rs.map((r) => r.peakMb);
      console.log(
        `${k === 'default' ? 'glibc (c10 default)' : 'caching (engine default)'}: median ${median(rs.map((r) => r.seconds)).toFixed(1)} s, ` +
          `sys ${median(rs.map((r) => r.sys)).toFixed(1)} s, peak RSS ${Math.min(...peaks)}-${Math.max(...peaks)} MB`,
      );
    }
    const peaks = results.caching.map((r) => r.peakMb);
    const spread = Math.max(...peaks) / Math.min(...peaks);
    const ratio = median(results.caching.map((r) => r.seconds)) / median(results.default.map((r) => r.seconds));
    console.log(`sampling-memory: peak_rss_spread=${spread.toFixed(2)} time_ratio=${ratio.toFixed(3)}`);
  } finally {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
