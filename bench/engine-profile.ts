// Where the engine benchmark's time goes: per-operator self time of the anchor UNet's training step and
// forward pass, selfguided (RecordFunction hooks, torch.profiler) beside PyTorch (torch.autograd.profiler),
// per step, largest first; plus the time outside every op (JavaScript or Python, argument conversion).
//   node --import tsx bench/engine-profile.ts [--threads 2] [--batch 64] [--steps 5] [--top 25]
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as torch from '../src/torch/index.js';
import { anchorWorkload } from './anchor-workload.js';

const here = dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '64' },
    warmup: { type: 'string', default: '3' },
    steps: { type: 'string', default: '5' },
    top: { type: 'string', default: '25' },
    python: { type: 'string', default: process.env.PYTHON ?? '/usr/bin/python3' },
    anchor: { type: 'string', default: resolve(here, '..', '..', 'shared', 'anchors', 'pytorch_unet.py') },
  },
});
const steps = Number(a.steps);

interface Phase {
  wallMs: number;
  /** name -> [calls, total ms, self ms], per step */
  ops: Map<string, [number, number, number]>;
}

function ours(): { train: Phase; forward: Phase } {
  torch.setNumThreads(Number(a.threads));
  torch.manualSeed(0);
  const w = anchorWorkload('cpu', Number(a.batch));
  const phase = (fn: () => void): Phase => {
    for (let i = 0; i < Number(a.warmup); i++) fn();
    const p = torch.profiler.profile(() => {
      for (let i = 0; i < steps; i++) fn();
    });
    return {
      wallMs: p.wallMs / steps,
      ops: new Map(p.ops.map((o) => [o.name, [o.calls / steps, o.totalMs / steps, o.selfMs / steps]])),
    };
  };
  const out = { train: phase(() => void w.step()), forward: phase(() => w.forward()) };
  w.dispose();
  return out;
}

function pytorch(): { train: Phase; forward: Phase } | string {
  const r = spawnSync(
    a.python!,
    [
      resolve(here, 'anchor_profile.py'),
      '--anchor',
      a.anchor!,
      '--threads',
      a.threads!,
      '--batch',
      a.batch!,
      '--warmup',
      a.warmup!,
      '--steps',
      a.steps!,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) return `the PyTorch side failed: ${r.stderr.trim().split('\n').pop()}`;
  type Raw = { wall_ms: number; ops: Record<string, [number, number, number]> };
  const raw = JSON.parse(r.stdout) as { train: Raw; forward: Raw };
  const phase = (p: Raw): Phase => ({
    wallMs: p.wall_ms / steps,
    ops: new Map(
      Object.entries(p.ops).map(([k, [c, t, s]]) => [k, [c / steps, t / 1000 / steps, s / 1000 / steps]] as const),
    ),
  });
  return { train: phase(raw.train), forward: phase(raw.forward) };
}

function table(title: string, x: Phase, y: Phase | null): void {
  const names = [...new Set([...x.ops.keys(), ...(y ? y.ops.keys() : [])])];
  const self = (p: Phase | null, n: string) => p?.ops.get(n)?.[2] ?? 0;
  names.sort((p, q) => Math.max(self(x, q), self(y, q)) - Math.max(self(x, p), self(y, p)));
  const sum = (p: Phase) => [...p.ops.values()].reduce((s, v) => s + v[2], 0);
  console.log(`\n${title} (ms per step; self time = time in the op less the ops it called)`);
  console.log('| op | calls ours | calls pytorch | self ms ours | self ms pytorch | ours/pytorch |');
  console.log('|---|---|---|---|---|---|');
  const fmt = (v: number) => v.toFixed(2);
  for (const n of names.slice(0, Number(a.top))) {
    const [co, , so] = x.ops.get(n) ?? [0, 0, 0];
    const [cp, , sp] = y?.ops.get(n) ?? [0, 0, 0];
    console.log(
      `| ${n} | ${co} | ${y ? cp : ''} | ${fmt(so)} | ${y ? fmt(sp) : ''} | ${y && sp > 0 ? (so / sp).toFixed(2) : ''} |`,
    );
  }
  const rest = (p: Phase) => sum(p) - names.slice(0, Number(a.top)).reduce((s, n) => s + self(p, n), 0);
  console.log(`| (all other ops) | | | ${fmt(rest(x))} | ${y ? fmt(rest(y)) : ''} | |`);
  console.log(
    `| **inside ops** | | | ${fmt(sum(x))} | ${y ? fmt(sum(y)) : ''} | ${y ? (sum(x) / sum(y)).toFixed(2) : ''} |`,
  );
  const out = (p: Phase) => Math.max(0, p.wallMs - sum(p));
  console.log(`| **outside ops** | | | ${fmt(out(x))} | ${y ? fmt(out(y)) : ''} | |`);
  console.log(
    `| **wall, profiled** | | | ${fmt(x.wallMs)} | ${y ? fmt(y.wallMs) : ''} | ${y ? (x.wallMs / y.wallMs).toFixed(2) : ''} |`,
  );
}

const o = ours();
const p = pytorch();
if (typeof p === 'string') console.log(p);
const theirs = typeof p === 'string' ? null : p;
console.log(`anchor UNet, batch ${a.batch}, ${a.threads} threads, ${steps} profiled steps after ${a.warmup} warm-up`);
table('training step', o.train, theirs?.train ?? null);
table('forward pass', o.forward, theirs?.forward ?? null);
