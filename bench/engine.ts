// Engine benchmark: the anchor UNet's training step and forward in selfguided and in PyTorch, run
// alternately in fresh processes (so peak RSS is each engine's own), ratios of medians over rounds.
// The order alternates between rounds (PyTorch first in even rounds, ours first in odd ones), so that
// whatever the first run of a round pays (a cold page cache, a CPU that has not clocked up) falls on both.
//   npm run bench:engine -- [--rounds 5] [--threads 2] [--batch 64] [--device cpu|cuda] [--blas-threads N]
// Last line: engine-bench: train_ratio=<ours/pytorch> forward_ratio=<ours/pytorch> rss_ratio=<ours/pytorch>
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    threads: { type: 'string', default: '2' },
    batch: { type: 'string', default: '64' },
    steps: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    device: { type: 'string', default: 'cpu' },
    'blas-threads': { type: 'string' },
    python: { type: 'string', default: process.env.PYTHON ?? '/usr/bin/python3' },
    anchor: { type: 'string', default: resolve(here, '..', '..', 'shared', 'anchors', 'pytorch_unet.py') },
  },
});

interface Result {
  train_s_per_step: number;
  forward_s: number;
  peak_rss_mb: number;
}
const common = [
  '--threads',
  a.threads!,
  '--batch',
  a.batch!,
  '--steps',
  a.steps!,
  '--warmup',
  a.warmup!,
  '--device',
  a.device!,
];

function lastJson(out: string, who: string): Result {
  const line = out
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${who} printed no result:\n${out}`);
  return JSON.parse(line) as Result;
}

function runOurs(): Result {
  const extra = a['blas-threads'] ? ['--blas-threads', a['blas-threads']] : [];
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'engine-worker.ts'), ...common, ...extra], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`selfguided worker failed:\n${r.stderr}`);
  console.log(`selfguided: ${r.stdout.trim()}`);
  return lastJson(r.stdout, 'selfguided worker');
}

function anchorUsable(): string | null {
  if (!existsSync(a.anchor!)) return `anchor script not found at ${a.anchor}`;
  const r = spawnSync(a.python!, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.status !== 0) return `${a.python} has no torch (apt-get install -y python3-torch)`;
  return null;
}

function runAnchor(): Result {
  const r = spawnSync(a.python!, [a.anchor!, ...common, '--json'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`anchor failed:\n${r.stderr}`);
  console.log(`pytorch:    ${r.stdout.trim()}`);
  return lastJson(r.stdout, 'anchor');
}

const median = (xs: number[]) => {
  const s = [...xs].sort((p, q) => p - q);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const why = anchorUsable();
const ours: Result[] = [];
const theirs: Result[] = [];
for (let i = 0; i < Number(a.rounds); i++) {
  if (why) ours.push(runOurs());
  else if (i % 2 === 0) {
    theirs.push(runAnchor());
    ours.push(runOurs());
  } else {
    ours.push(runOurs());
    theirs.push(runAnchor());
  }
}
const m = (rs: Result[], k: keyof Result) => median(rs.map((r) => r[k]));
/** The ratio within each round, as "min-max" over rounds: how far one round can be trusted. */
const spread = (k: keyof Result) => {
  const rs = ours.map((o, i) => o[k] / theirs[i]![k]);
  return `${Math.min(...rs).toFixed(3)}-${Math.max(...rs).toFixed(3)}`;
};
console.log(
  `selfguided medians: train ${m(ours, 'train_s_per_step').toFixed(4)} s/step, forward ${m(ours, 'forward_s').toFixed(4)} s, peak RSS ${m(ours, 'peak_rss_mb').toFixed(0)} MB`,
);
if (why) {
  console.log(`pytorch anchor not run: ${why}`);
  console.log('engine-bench: train_ratio=NA forward_ratio=NA rss_ratio=NA');
} else {
  console.log(
    `pytorch medians:    train ${m(theirs, 'train_s_per_step').toFixed(4)} s/step, forward ${m(theirs, 'forward_s').toFixed(4)} s, peak RSS ${m(theirs, 'peak_rss_mb').toFixed(0)} MB`,
  );
  const r = (k: keyof Result) => (m(ours, k) / m(theirs, k)).toFixed(3);
  console.log(
    `ratio within each round (min-max over ${ours.length}): train ${spread('train_s_per_step')}, forward ${spread('forward_s')}, rss ${spread('peak_rss_mb')}`,
  );
  console.log(
    `engine-bench: train_ratio=${r('train_s_per_step')} forward_ratio=${r('forward_s')} rss_ratio=${r('peak_rss_mb')}`,
  );
}
