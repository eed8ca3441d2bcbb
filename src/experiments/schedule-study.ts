// The noise-schedule study (issue 23): pixel-space models trained at equal steps under each schedule and
// prediction type, with and without zero-terminal-SNR rescaling, sampled at equal network evaluations,
// on Fashion-MNIST and on a colour folder (emoji from Debian's packages, `selfguided data emoji`).
// Measures FD on each dataset's evaluation network, confidence, k-NN precision and recall, and colour
// statistics against the data (per-channel mean, fraction of near-black and near-white pixels).
// Resumable: every training, evaluation network and evaluation is a folder that is reused when complete.
//   node --conditions=source --import tsx src/experiments/schedule-study.ts [--root runs/schedule-study]
//     [--datasets fashion-mnist,emoji] [--configs name,...] [--steps 1500] [--batch 32] [--n 500]
//     [--self-k10 name,...] [--table-only]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadDataset, type DataSpecInput } from '../data/spec.js';
import { toPixels } from '../data/dataset.js';
import type { TrainConfigInput } from '../diffusion/config.js';
import { DiffusionTrainer } from '../diffusion/trainer.js';
import { EvalNetTrainer, accuracy, loadEvalNet } from '../eval/evalnet.js';
import { evaluate } from '../eval/evaluate.js';
import { readEvalMetrics } from '../eval/metrics-file.js';
import { StageInterrupted, trainStage } from '../pipelines/stage.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { pathToFileURL } from 'node:url';

const OPTIONS = {
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
} as const;

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

const fmtColour = (c: Colour) =>
  `${c.mean.map((v) => v.toFixed(0)).join('/')} | ${(100 * c.dark).toFixed(1)}% | ${(100 * c.bright).toFixed(1)}%`;

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

/** A study's settings (from its flags) and its stages, each a folder under root reused when complete. */
class ScheduleStudy {
  readonly root: string;
  readonly steps: number;
  readonly batch: number;
  readonly n: number;
  readonly evalnetSteps: number;
  readonly tableOnly: boolean;
  readonly log = (m: string) => process.stderr.write(`${m}\n`);

  constructor(readonly a: { [K in keyof typeof OPTIONS]?: string | boolean }) {
    this.root = String(a.root);
    this.steps = Number(a.steps);
    this.batch = Number(a.batch);
    this.n = Number(a.n);
    this.evalnetSteps = Number(a['evalnet-steps']);
    this.tableOnly = a['table-only'] === true;
  }

  dataOf(dataset: string): { train: DataSpecInput; test: DataSpecInput | null } {
    if (dataset === 'fashion-mnist')
      return { train: { kind: 'fashion-mnist' }, test: { kind: 'fashion-mnist', split: 'test' } };
    const folder = join(this.root, 'emoji-32');
    if (!existsSync(folder)) {
      const r = spawnSync(process.execPath, ['bin/selfguided.mjs', 'data', 'emoji', '--out', folder], {
        stdio: 'inherit',
      });
      if (r.status !== 0) throw new Error('selfguided data emoji failed');
    }
    return { train: { kind: 'folder', path: folder, size: 32, channels: 3, labelsFromFolders: true }, test: null };
  }

  async trainRun(dir: string, config: TrainConfigInput): Promise<void> {
    await trainStage(dir, (how) => DiffusionTrainer.open(dir, { ...how, log: this.log }), config, {
      steps: this.steps,
      train: { progress: false, previewEvery: 0 },
    });
  }

  async evalnetFor(dataset: string): Promise<{ dir: string; accuracy: number | null }> {
    const dir = join(this.root, dataset, 'evalnet');
    const { train, test } = this.dataOf(dataset);
    const accPath = join(dir, 'accuracy.json');
    await trainStage(
      dir,
      (how) => EvalNetTrainer.open(dir, { ...how, log: this.log }),
      { data: train, train: { steps: this.evalnetSteps, seed: 0 } },
      { steps: this.evalnetSteps },
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

  async dataColour(dataset: string): Promise<Colour> {
    const path = join(this.root, dataset, 'data-colour.json');
    if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8')) as Colour;
    const ds = await loadDataset(this.dataOf(dataset).train);
    const idx = Array.from({ length: Math.min(5000, ds.length) }, (_, i) => Math.floor((i * ds.length) / 5000));
    const c = torch.tidy(() => colourStats(toPixels(ds.images(idx))));
    ds.dispose();
    writeFileSync(path, JSON.stringify(c));
    return c;
  }

  selfLabels(dataset: string): string {
    const file = join(this.root, dataset, 'pca-k10.safetensors');
    if (existsSync(file)) return file;
    const feats = join(this.root, dataset, 'pca.safetensors');
    const run = (args: string[]) => {
      const r = spawnSync(process.execPath, ['bin/selfguided.mjs', ...args], { stdio: 'inherit' });
      if (r.status !== 0) throw new Error(`selfguided ${args.join(' ')} failed`);
    };
    run(['features', '--extractor', 'pixels-pca', '--out', feats]);
    run(['cluster', '--features', feats, '--k', '10', '--out', file]);
    return file;
  }

  /** The runs of a dataset: every chosen schedule unguided, and the --self-k10 ones guided by self-labels. */
  jobs(dataset: string): { row: string; c: Schedule; condition: TrainConfigInput['condition'] }[] {
    const a = this.a;
    const chosen = a.configs ? CONFIGS.filter((c) => String(a.configs).split(',').includes(c.name)) : CONFIGS;
    const selfRows = dataset === 'fashion-mnist' && a['self-k10'] ? String(a['self-k10']).split(',') : [];
    const jobs: { row: string; c: Schedule; condition: TrainConfigInput['condition'] }[] = chosen.map((c) => ({
      row: 'none',
      c,
      condition: { kind: 'none' },
    }));
    for (const name of selfRows) {
      const c = CONFIGS.find((x) => x.name === name);
      if (!c) throw new Error(`--self-k10: no config ${name}`);
      jobs.push({ row: 'self-k10', c, condition: { kind: 'file', path: this.selfLabels(dataset) } });
    }
    if (this.tableOnly)
      for (const c of CONFIGS)
        if (!jobs.some((j) => j.row === 'self-k10' && j.c === c))
          jobs.push({ row: 'self-k10', c, condition: { kind: 'none' } });
    return jobs;
  }

  /** Trains and evaluates every run of a dataset not yet done; the rows of those evaluated. */
  async measure(dataset: string): Promise<Row[]> {
    const rows: Row[] = [];
    const { root, n } = this;
    mkdirSync(join(root, dataset), { recursive: true });
    const { train } = this.dataOf(dataset);
    const evalnet = this.tableOnly
      ? { dir: join(root, dataset, 'evalnet'), accuracy: null }
      : await this.evalnetFor(dataset);
    this.log(`${dataset}: evaluation network ${evalnet.dir}, test accuracy ${evalnet.accuracy ?? 'n/a'}`);
    for (const { row, c, condition } of this.jobs(dataset)) {
      const dir = join(root, dataset, `${row}-${c.name}`);
      const out = join(dir, 'eval', `ddpm25-s2-n${n}`);
      if (this.tableOnly && !existsSync(join(out, 'metrics.json'))) continue;
      this.log(`${dataset} ${row} ${c.name}: training to step ${this.steps}`);
      await this.trainRun(dir, {
        data: train,
        condition,
        model: { preset: 'tiny' },
        diffusion: { schedule: c.schedule, prediction: c.prediction, zeroTerminalSnr: c.zeroTerminalSnr, T: 1000 },
        train: { steps: this.steps, batchSize: this.batch, checkpointEvery: 500, logEvery: 100, seed: 0 },
      });
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
          log: this.log,
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
      this.log(`${dataset} ${row} ${c.name}: FD-evalnet ${m.fd.evalnet.toFixed(2)}`);
    }
    return rows;
  }

  /** The markdown table of the rows, each dataset beside its data's colour statistics. */
  async table(rows: Row[]): Promise<string[]> {
    const lines: string[] = [];
    for (const dataset of [...new Set(rows.map((r) => r.dataset))]) {
      const data = await this.dataColour(dataset);
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
    return lines;
  }
}

/** Runs the schedule study with these command-line arguments. */
export async function main(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: OPTIONS });
  const study = new ScheduleStudy(values);
  const rows: Row[] = [];
  for (const dataset of String(values.datasets).split(',')) rows.push(...(await study.measure(dataset)));
  const lines = await study.table(rows);
  writeFileSync(join(study.root, 'table.md'), `${lines.join('\n')}\n`);
  writeFileSync(join(study.root, 'rows.json'), JSON.stringify(rows, null, 2));
  process.stdout.write(`${lines.join('\n')}\n`);
}

// Run as a script (not when imported).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // Ctrl-C: the checkpoint is written; stop here rather than go on to the next run.
  await main(process.argv.slice(2)).catch((e: unknown) => {
    if (!(e instanceof StageInterrupted)) throw e;
    process.stderr.write(`${e.message}\n`);
    process.exit(130);
  });
}
