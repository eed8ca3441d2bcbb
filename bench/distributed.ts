// Data-parallel benchmark over c10d Gloo on loopback: (1) all-reduce bandwidth for a buffer the size of the
// UNet's gradients (2 processes, the same call the trainer makes); (2) the step time of 2 processes
// against 1 at equal per-process batch (global batch 2B against B), each process on one thread. This
// 2-core machine cannot show a speed-up: the ratio is the cost of communication and synchronisation.
//   npm run bench:distributed -- [--preset small] [--batch 32] [--steps 12] [--reduces 20]
// Last line: distributed-bench: allreduce_mb_per_s=<x> overhead_ratio=<y>
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildUNetConfig, DiffusionTrainer } from '../src/diffusion/trainer.js';
import * as torch from '../src/torch/index.js';
import { DataParallel, rendezvousFromEnv } from '../src/train/data-parallel.js';
import { freePort } from '../src/train/launcher.js';
import { UNet } from '../src/diffusion/unet.js';

const { values: a } = parseArgs({
  options: {
    preset: { type: 'string', default: 'small' },
    batch: { type: 'string', default: '32' },
    steps: { type: 'string', default: '12' },
    warmup: { type: 'string', default: '3' },
    reduces: { type: 'string', default: '20' },
    role: { type: 'string' },
  },
});
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
const B = Number(a.batch);

function unetConfig() {
  return {
    data: { kind: 'fashion-mnist' as const },
    condition: { kind: 'label' as const },
    model: { preset: a.preset as 'small' },
  };
}

/** Runs this script as `role` in 1 or 2 processes (RANK/WORLD_SIZE set when 2); resolves with rank 0's JSON line. */
async function inProcesses(role: string, n: number): Promise<Record<string, number>> {
  const port = await freePort();
  const script = fileURLToPath(import.meta.url);
  const outs = await Promise.all(
    Array.from({ length: n }, (_, rank) => {
      const env: NodeJS.ProcessEnv = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' };
      if (n > 1)
        Object.assign(env, {
          RANK: String(rank),
          WORLD_SIZE: String(n),
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
        });
      const p = spawn(process.execPath, [...process.execArgv, script, ...process.argv.slice(2), '--role', role], {
        env,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      p.stdout!.on('data', (c: Buffer) => (out += c.toString()));
      return new Promise<string>((ok, bad) =>
        p.on('exit', (code) => (code === 0 ? ok(out) : bad(new Error(`${role} rank ${rank} exited with ${code}`)))),
      );
    }),
  );
  return JSON.parse(outs[0]!.trim().split('\n').pop()!) as Record<string, number>;
}

async function group(): Promise<DataParallel | null> {
  const rv = rendezvousFromEnv();
  return rv ? DataParallel.init({ rendezvous: rv }) : null;
}

/** Worker: all-reduce of the UNet's gradient size, as syncGradients does it (one flat buffer per bucket). */
async function allreduceRole(): Promise<void> {
  torch.setNumThreads(1);
  const dp = (await group())!;
  const { loadDataset } = await import('../src/data/spec.js');
  const ds = await loadDataset({ kind: 'fashion-mnist', split: 'test', limit: 16 });
  const { buildConditions, conditionDims } = await import('../src/diffusion/conditions.js');
  const { TrainConfig } = await import('../src/diffusion/config.js');
  const cfg = TrainConfig.parse({ ...unetConfig(), train: { steps: 1 } });
  const model = new UNet(buildUNetConfig(cfg, ds, conditionDims(buildConditions(cfg.condition, ds))));
  const params = model.parameters();
  for (const p of params) p.grad = torch.zerosLike(p);
  const bytes = params.reduce((s, p) => s + p.numel() * 4, 0);
  const times: number[] = [];
  for (let i = 0; i < Number(a.reduces) + 2; i++) {
    const t0 = performance.now();
    await dp.syncGradients(params, [0, 0]);
    if (i >= 2) times.push((performance.now() - t0) / 1000);
  }
  dp.destroy();
  if (dp.rank === 0) console.log(JSON.stringify({ mb: bytes / 2 ** 20, seconds: median(times) }));
}

/** Worker: median training step time with per-process batch B (global B x processes). */
async function stepRole(): Promise<void> {
  torch.setNumThreads(1);
  const dp = await group();
  const world = dp?.worldSize ?? 1;
  const dir = mkdtempSync(join(tmpdir(), 'sg-dbench-'));
  const steps = Number(a.warmup) + Number(a.steps);
  const t = await DiffusionTrainer.open(join(dir, 'run'), {
    config: { ...unetConfig(), train: { steps, batchSize: B * world, checkpointEvery: 100000, logEvery: 100000 } },
    parallel: dp,
    log: () => {},
  });
  const stamps: number[] = [];
  await t.train({ progress: false, onStep: () => stamps.push(performance.now()) });
  t.dispose();
  dp?.destroy();
  rmSync(dir, { recursive: true, force: true });
  const dts = stamps
    .slice(Number(a.warmup))
    .map((s, i, all) => (i ? s - all[i - 1]! : NaN))
    .slice(1);
  if (!dp || dp.rank === 0) console.log(JSON.stringify({ seconds: median(dts) / 1000 }));
}

if (a.role === 'allreduce') await allreduceRole();
else if (a.role === 'step') await stepRole();
else {
  const r = await inProcesses('allreduce', 2);
  const mbps = r.mb! / r.seconds!;
  console.log(
    `all-reduce of ${r.mb!.toFixed(1)} MB (the ${a.preset} UNet's gradients), 2 processes: ${(r.seconds! * 1000).toFixed(1)} ms median, ${mbps.toFixed(0)} MB/s`,
  );
  // Alternating order, so that drift on a noisy machine does not favour one side.
  const ratios: number[] = [];
  for (let round = 0; round < 3; round++) {
    const order = round % 2 === 0 ? [1, 2] : [2, 1];
    const t: Record<number, number> = {};
    for (const n of order) t[n] = (await inProcesses('step', n)).seconds!;
    ratios.push(t[2]! / t[1]!);
    console.log(
      `round ${round + 1}: step at batch ${B} per process: 1 process ${(t[1]! * 1000).toFixed(0)} ms, 2 processes ${(t[2]! * 1000).toFixed(0)} ms (ratio ${(t[2]! / t[1]!).toFixed(3)})`,
    );
  }
  console.log(`distributed-bench: allreduce_mb_per_s=${mbps.toFixed(1)} overhead_ratio=${median(ratios).toFixed(3)}`);
}
