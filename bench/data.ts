// Data at scale: a synthetic set of 64 px colour images (a rectangle of one random colour on another) of N
// and of 10N samples, packed into shards, then streamed. Measured: PNG decoding alone on this thread
// (decode), the streaming reader alone through one epoch of N (stream), the tiny preset's training fed by
// the reader (train), and the peak RSS of a process that trains on the stream and then streams the rest of
// the epoch, at N and at 10N (the reader's memory must not grow with the dataset).
//   npm run bench:data -- [--n 20000] [--train-steps 40] [--batch 64] [--cache runs/bench-data]
// Last line: data-bench: decode_img_per_s= stream_img_per_s= train_img_per_s= peak_rss_mb_1x= peak_rss_mb_10x= rss_ratio_10x=
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeRawPng } from '../src/data/png.js';
import { decodeSample, isShardDir, readShard, readShardIndex, ShardWriter } from '../src/data/shards.js';
import { StreamedDataset } from '../src/data/stream.js';
import { DiffusionTrainer } from '../src/diffusion/index.js';
import { Rng } from '../src/util/rng.js';

const { values: a } = parseArgs({
  options: {
    n: { type: 'string', default: '20000' },
    'train-steps': { type: 'string', default: '40' },
    batch: { type: 'string', default: '64' },
    cache: { type: 'string', default: 'runs/bench-data' },
    child: { type: 'string' },
  },
});
const S = 64,
  batch = Number(a.batch),
  trainSteps = Number(a['train-steps']);
const mb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

/** n synthetic images packed into shards of 10,000 (kept between runs). */
async function synthetic(n: number): Promise<string> {
  const dir = join(a.cache!, `synthetic-${n}`);
  if (isShardDir(dir) && readShardIndex(dir).complete) return dir;
  rmSync(dir, { recursive: true, force: true });
  const w = ShardWriter.open(dir, {
    imageSize: S,
    channels: 3,
    classNames: Array.from({ length: 10 }, (_, i) => `class${i}`),
    objectClasses: null,
    provenance: { source: `synthetic-${n}` },
  });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = new Rng(i);
    const px = Buffer.alloc(S * S * 3);
    const bg = [r.int(256), r.int(256), r.int(256)],
      fg = [r.int(256), r.int(256), r.int(256)];
    const x0 = r.int(40),
      y0 = r.int(40),
      x1 = x0 + 8 + r.int(24),
      y1 = y0 + 8 + r.int(24);
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) px.set(x >= x0 && x < x1 && y >= y0 && y < y1 ? fg : bg, (y * S + x) * 3);
    await w.add({ png: await encodeRawPng(px, S, S, 3), label: i % 10, meta: null, mask: null }, i);
    if ((i + 1) % 50000 === 0)
      console.log(`  packed ${i + 1} of ${n} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  }
  await w.finish();
  return dir;
}

/** PNG decoding alone: the first 4,096 samples, 64 at a time, on this thread (sharp's own threads). */
async function decodeRate(dir: string): Promise<number> {
  const index = readShardIndex(dir);
  const samples = [];
  for await (const s of readShard(join(dir, index.shards[0]!.name))) {
    samples.push(s);
    if (samples.length === 4096) break;
  }
  const t0 = performance.now();
  for (let i = 0; i < samples.length; i += 64)
    await Promise.all(samples.slice(i, i + 64).map((s) => decodeSample(s, index)));
  return samples.length / ((performance.now() - t0) / 1000);
}

/** The reader alone through one epoch. */
async function streamRate(dir: string): Promise<number> {
  const ds = await StreamedDataset.open(dir);
  const s = ds.batches({ batchSize: batch, seed: 0, hflip: true });
  const first = await s.next();
  first.images.dispose();
  const t0 = performance.now();
  for (let i = 1; i < s.steps; i++) (await s.next()).images.dispose();
  s.close();
  return ((s.steps - 1) * batch) / ((performance.now() - t0) / 1000);
}

/** Child: train the tiny preset on the stream for a few steps, then stream the rest of the epoch. */
async function child(dir: string, trainSteps: number): Promise<void> {
  const run = join(a.cache!, `run-${Date.now()}-${process.pid}`);
  const t = await DiffusionTrainer.open(run, {
    config: {
      data: { kind: 'shards', path: dir, stream: true },
      model: { preset: 'tiny' },
      train: { steps: 1_000_000, batchSize: batch, seed: 0, checkpointEvery: 1_000_000 },
    },
    log: () => {},
  });
  let trainRate = 0;
  if (trainSteps > 2) {
    await t.trainStep();
    await t.trainStep();
    const t0 = performance.now();
    for (let i = 2; i < trainSteps; i++) await t.trainStep();
    trainRate = ((trainSteps - 2) * batch) / ((performance.now() - t0) / 1000);
  }
  const steps = (t.loader as unknown as { steps: number }).steps;
  for (let i = trainSteps; i < steps; i++) (await t.loader.next()).images.dispose();
  const state = t.loader.stateDict() as { epoch: number };
  t.dispose();
  rmSync(run, { recursive: true, force: true });
  console.log(JSON.stringify({ trainRate, peakMb: mb(), epochDone: state.epoch === 1, batches: steps }));
}

if (a.child) {
  await child(a.child, trainSteps);
} else {
  const n = Number(a.n);
  console.log(`packing ${n} and ${10 * n} synthetic 64 px colour images into ${a.cache} (once; kept)`);
  const small = await synthetic(n);
  const large = await synthetic(10 * n);
  const decode = await decodeRate(small);
  console.log(`decode: ${decode.toFixed(0)} img/s`);
  const stream = await streamRate(small);
  console.log(`stream (reader alone, one epoch of ${n}): ${stream.toFixed(0)} img/s`);
  const measure = (dir: string, steps = trainSteps) => {
    const r = spawnSync(
      process.execPath,
      [
        ...process.execArgv,
        new URL(import.meta.url).pathname,
        ...process.argv.slice(2),
        '--child',
        dir,
        '--train-steps',
        String(steps),
      ],
      {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    if (r.status !== 0) throw new Error(`bench child failed on ${dir}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      trainRate: number;
      peakMb: number;
      epochDone: boolean;
      batches: number;
    };
  };
  const one = measure(small);
  console.log(
    `1x: train ${one.trainRate.toFixed(1)} img/s, peak RSS ${one.peakMb.toFixed(0)} MB over an epoch of ${one.batches} batches`,
  );
  const ten = measure(large);
  console.log(
    `10x: train ${ten.trainRate.toFixed(1)} img/s, peak RSS ${ten.peakMb.toFixed(0)} MB over an epoch of ${ten.batches} batches`,
  );
  // The reader's own memory, without a model beside it.
  const readerOne = measure(small, 0),
    readerTen = measure(large, 0);
  console.log(
    `reader alone: peak RSS ${readerOne.peakMb.toFixed(0)} MB (1x), ${readerTen.peakMb.toFixed(0)} MB (10x), ratio ${(readerTen.peakMb / readerOne.peakMb).toFixed(3)}`,
  );
  if (![one, ten, readerOne, readerTen].every((r) => r.epochDone)) throw new Error('a child did not finish its epoch');
  const ratio = ten.peakMb / one.peakMb;
  console.log(
    `stream/train ${(stream / one.trainRate).toFixed(1)}x (target >= 3); rss 10x/1x ${ratio.toFixed(3)} (target <= 1.2)`,
  );
  console.log(
    `data-bench: decode_img_per_s=${decode.toFixed(0)} stream_img_per_s=${stream.toFixed(0)} train_img_per_s=${one.trainRate.toFixed(1)} peak_rss_mb_1x=${one.peakMb.toFixed(0)} peak_rss_mb_10x=${ten.peakMb.toFixed(0)} rss_ratio_10x=${ratio.toFixed(3)}`,
  );
}
