// The noise-schedule study (issue 23): pixel-space models trained at equal steps under each schedule and
// prediction type, with and without zero-terminal-SNR rescaling, sampled at equal network evaluations,
// on Fashion-MNIST and on a colour folder (emoji from Debian's packages, `selfguided data emoji`).
// Measures FD on each dataset's evaluation network, confidence, k-NN precision and recall, and colour
// statistics against the data (per-channel mean, fraction of near-black and near-white pixels).
// Resumable: every training, evaluation network and evaluation is a folder that is reused when complete.
//   node --conditions=source --import tsx experiments/schedule-study.ts [--root runs/schedule-study]
//     [--datasets fashion-mnist,emoji] [--configs name,...] [--steps 1500] [--batch 32] [--n 500]
//     [--self-k10 name,...] [--table-only]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset, type DataSpecInput } from '../src/data/spec.js';
import { toPixels } from '../src/data/dataset.js';
import { DiffusionTrainer, type TrainConfigInput } from '../src/diffusion/index.js';
import { trainEvalNet, accuracy, loadEvalNet } from '../src/eval/evalnet.js';
import { evaluate } from '../src/eval/evaluate.js';
import { readEvalMetrics } from '../src/eval/metrics-file.js';
import { latestStep } from '../src/train/checkpoint.js';
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';

const { values: a } = parseArgs({
  options: {
    root: { type: 'string', default: 'runs/schedule-study' },
    datasets: { type: 'string', default: 'fashion-mnist,emoji' },
    configs: { type: 'string' },
    steps: { type: 'string', default: '1500' },
    batch: { type: 'string', default: '32' },
    n: { type: 'string', default: '500' },
    'evalnet-steps': { type: 'string', default: '800' },
    'self-k10': { type: 'string', default: '' },
    /** only gather the evaluations already made under --root into the table (trains nothing) */
    'table-only': { type: 'boolean', default: false },
  },
});

interface Schedule {
  name: string;
  schedule: 'linear' | 'ddpm-linear' | 'cosine';
  prediction: 'eps' | 'v';
  zeroTerminalSnr: boolean;
}
const CONFIGS: Schedule[] = [
  { name: 'ldm-linear-eps', schedule: 'linear', prediction: 'eps', zeroTerminalSnr: false },
  { name: 'ldm-linear-v', schedule: 'linear', prediction: 'v', zeroTerminalSnr: false },
  { name: 'ddpm-linear-eps', schedule: 'ddpm-linear', prediction: 'eps', zeroTerminalSnr: false },
  { name: 'cosine-eps', schedule: 'cosine', prediction: 'eps', zeroTerminalSnr: false },
  { name: 'cosine-v', schedule: 'cosine', prediction: 'v', zeroTerminalSnr: false },
  { name: 'ldm-linear-v-zsnr', schedule: 'linear', prediction: 'v', zeroTerminalSnr: true },
  { name: 'cosine-v-zsnr', schedule: 'cosine', prediction: 'v', zeroTerminalSnr: true },
];

const root = a.root!;
const steps = Number(a.steps);
const batch = Number(a.batch);
const n = Number(a.n);
const log = (m: string) => process.stderr.write(`${m}\n`);
const chosen = a.configs ? CONFIGS.filter((c) => a.configs!.split(',').includes(c.name)) : CONFIGS;

function dataOf(dataset: string): { train: DataSpecInput; test: DataSpecInput | null } {
  if (dataset === 'fashion-mnist')
    return { train: { kind: 'fashion-mnist' }, test: { kind: 'fashion-mnist', split: 'test' } };
  const folder = join(root, 'emoji-32');
  if (!existsSync(folder)) {
    const r = spawnSync(process.execPath, ['bin/selfguided.mjs', 'data', 'emoji', '--out', folder], {
      stdio: 'inherit',
    });
    if (r.status !== 0) throw new Error('selfguided data emoji failed');
  }
  return { train: { kind: 'folder', path: folder, size: 32, channels: 3, labelsFromFolders: true }, test: null };
}

async function trainRun(dir: string, config: TrainConfigInput): Promise<void> {
  if (latestStep(dir) >= steps) return;
  const resume = existsSync(join(dir, 'config.json'));
  const t = await DiffusionTrainer.open(dir, resume ? { resume: true, log } : { config, log });
  try {
    const r = await t.train({ progress: false, previewEvery: 0 });
    // Ctrl-C: the checkpoint is written; stop here rather than go on to the next run.
    if (r.status === 'interrupted') process.exit(130);
  } finally {
    t.dispose();
  }
}

async function evalnetFor(dataset: string): Promise<{ dir: string; accuracy: number | null }> {
  const dir = join(root, dataset, 'evalnet');
  const { train, test } = dataOf(dataset);
  const accPath = join(dir, 'accuracy.json');
  if (latestStep(dir) < Number(a['evalnet-steps']))
    await trainEvalNet(
      dir,
      existsSync(join(dir, 'config.json'))
        ? { resume: true, log }
        : { config: { data: train, train: { steps: Number(a['evalnet-steps']), seed: 0 } }, log },
    );
  if (!existsSync(accPath)) {
    let acc: number | null = null;
    if (test) {
      const ds = await loadDataset(test);
      const net = loadEvalNet(dir);
      acc = accuracy(net.net, ds);
      net.net.dispose();
      ds.dispose();
    }
    writeFileSync(accPath, JSON.stringify({ accuracy: acc }));
  }
  return { dir, accuracy: (JSON.parse(readFileSync(accPath, 'utf8')) as { accuracy: number | null }).accuracy };
}

interface Colour {
  mean: number[];
  dark: number;
  bright: number;
}

/** Per-channel mean (0-255) and the fractions of near-black (every channel < 32) and near-white (> 223) pixels. */
function colourStats(pixels: Tensor): Colour {
  return torch.tidy(() => {
    const x = pixels.to({ dtype: 'float32' }); // [N, C, H, W], 0-255
    const mean = Array.from(x.mean([0, 2, 3]).toTypedArray() as Float32Array);
    const max = x.amax(1),
      min = x.amin(1);
    const dark = max.lt(32).to({ dtype: 'float32' }).mean().item();
    const bright = min.gt(223).to({ dtype: 'float32' }).mean().item();
    return { mean, dark, bright };
  });
}

async function dataColour(dataset: string): Promise<Colour> {
  const path = join(root, dataset, 'data-colour.json');
  if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as Colour;
  const ds = await loadDataset(dataOf(dataset).train);
  const idx = Array.from({ length: Math.min(5000, ds.length) }, (_, i) => Math.floor((i * ds.length) / 5000));
  const c = torch.tidy(() => colourStats(toPixels(ds.images(idx))));
  ds.dispose();
  writeFileSync(path, JSON.stringify(c));
  return c;
}

function selfLabels(dataset: string): string {
  const file = join(root, dataset, 'pca-k10.safetensors');
  if (existsSync(file)) return file;
  const feats = join(root, dataset, 'pca.safetensors');
  const run = (args: string[]) => {
    const r = spawnSync(process.execPath, ['bin/selfguided.mjs', ...args], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error(`selfguided ${args.join(' ')} failed`);
  };
  run(['features', '--extractor', 'pixels-pca', '--out', feats]);
  run(['cluster', '--features', feats, '--k', '10', '--out', file]);
  return file;
}

interface Row {
  dataset: string;
  row: string;
  config: string;
  fd: number;
  confidence: number;
  precision: number;
  recall: number;
  colour: Colour;
}

const rows: Row[] = [];
for (const dataset of a.datasets!.split(',')) {
  mkdirSync(join(root, dataset), { recursive: true });
  const { train } = dataOf(dataset);
  const evalnet = a['table-only'] ? { dir: join(root, dataset, 'evalnet'), accuracy: null } : await evalnetFor(dataset);
  log(`${dataset}: evaluation network ${evalnet.dir}, test accuracy ${evalnet.accuracy ?? 'n/a'}`);
  const selfRows = dataset === 'fashion-mnist' && a['self-k10'] ? a['self-k10'].split(',') : [];
  const jobs: { row: string; c: Schedule; condition: TrainConfigInput['condition'] }[] = chosen.map((c) => ({
    row: 'none',
    c,
    condition: { kind: 'none' },
  }));
  for (const name of selfRows) {
    const c = CONFIGS.find((x) => x.name === name);
    if (!c) throw new Error(`--self-k10: no config ${name}`);
    jobs.push({ row: 'self-k10', c, condition: { kind: 'file', path: selfLabels(dataset) } });
  }
  if (a['table-only'])
    for (const c of CONFIGS)
      if (!jobs.some((j) => j.row === 'self-k10' && j.c === c))
        jobs.push({ row: 'self-k10', c, condition: { kind: 'none' } });
  for (const { row, c, condition } of jobs) {
    const dir = join(root, dataset, `${row}-${c.name}`);
    if (a['table-only'] && !existsSync(join(dir, 'eval', `ddpm25-s2-n${n}`, 'metrics.json'))) continue;
    log(`${dataset} ${row} ${c.name}: training to step ${steps}`);
    await trainRun(dir, {
      data: train,
      condition,
      model: { preset: 'tiny' },
      diffusion: { schedule: c.schedule, prediction: c.prediction, zeroTerminalSnr: c.zeroTerminalSnr, T: 1000 },
      train: { steps, batchSize: batch, checkpointEvery: 500, logEvery: 100, seed: 0 },
    });
    const out = join(dir, 'eval', `ddpm25-s2-n${n}`);
    if (!existsSync(join(out, 'metrics.json')))
      await evaluate({
        checkpoint: dir,
        evalnet: evalnet.dir,
        n,
        scale: 2,
        sampler: 'ddpm',
        steps: 25,
        seed: 0,
        batchSize: 100,
        cacheDir: join(root, 'cache'),
        out,
        log,
      });
    const m = readEvalMetrics(join(out, 'metrics.json'));
    const { tensors } = torch.safetensors.loadFile(join(out, 'samples.safetensors'));
    const colour = colourStats(tensors.get('images')!);
    for (const t of tensors.values()) t.dispose();
    rows.push({
      dataset,
      row,
      config: c.name,
      fd: m.fd.evalnet,
      confidence: m.confidence,
      precision: m.precision,
      recall: m.recall,
      colour,
    });
    log(`${dataset} ${row} ${c.name}: FD-evalnet ${m.fd.evalnet.toFixed(2)}`);
  }
}

const fmtColour = (c: Colour) =>
  `${c.mean.map((v) => v.toFixed(0)).join('/')} | ${(100 * c.dark).toFixed(1)}% | ${(100 * c.bright).toFixed(1)}%`;
const lines: string[] = [];
for (const dataset of [...new Set(rows.map((r) => r.dataset))]) {
  const data = await dataColour(dataset);
  lines.push(
    '',
    `### ${dataset}`,
    '',
    '| row | schedule | FD-evalnet | confidence | precision | recall | mean colour | near-black | near-white |',
    '|---|---|---|---|---|---|---|---|---|',
    `| data | | | | | | ${fmtColour(data)} |`,
  );
  for (const r of rows.filter((x) => x.dataset === dataset))
    lines.push(
      `| ${r.row} | ${r.config} | ${r.fd.toFixed(2)} | ${r.confidence.toFixed(3)} | ${r.precision.toFixed(3)} | ${r.recall.toFixed(3)} | ${fmtColour(r.colour)} |`,
    );
}
writeFileSync(join(root, 'table.md'), `${lines.join('\n')}\n`);
writeFileSync(join(root, 'rows.json'), JSON.stringify(rows, null, 2));
process.stdout.write(`${lines.join('\n')}\n`);
