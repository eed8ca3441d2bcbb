// selfguided eval: sample a checkpoint with conditions drawn from its training annotations and score the
// samples: FD-evalnet (and FD on other feature spaces), precision/recall/density/coverage, the
// Inception-Score analogue, per-class recall and condition consistency. Writes metrics.json and prints
// a markdown row.
import { join } from 'node:path';
import { SAMPLERS } from '../diffusion/schedulers.js';
import {
  enoughSamples,
  evalRunName,
  evaluate,
  METRICS_HEADER,
  metricsRow,
  type FeatureSpace,
} from '../eval/evaluate.js';
import { layoutLine, presenceLine } from '../eval/format.js';
import { SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import { TorchScriptEncoder } from '../features/torchscript.js';
import { defineCommand, UsageError } from './args.js';
import { deviceFromArgs, deviceOption } from './device-arg.js';

export const command = defineCommand({
  name: 'eval',
  summary: 'score a checkpoint: FD-evalnet, precision/recall/density/coverage, IS-evalnet, condition consistency',
  options: {
    checkpoint: {
      required: true,
      type: 'string',
      metavar: 'RUN_DIR|FILE',
      help: 'the diffusion model to evaluate (required)',
    },
    evalnet: {
      type: 'string',
      default: 'runs/evalnet',
      metavar: 'RUN_DIR|FILE',
      help: 'evaluation network from selfguided evalnet train',
    },
    n: { type: 'int', min: 1, default: 2000, help: 'number of samples (and of real images for precision/recall)' },
    scale: { type: 'number', default: 2, help: 'guidance scale s' },
    sampler: {
      type: 'string',
      default: 'ddpm',
      choices: SAMPLERS,
      help: 'sampler (default ddpm: ancestral sampling beat DDIM eta 0 and DPM-Solver++(2M) at equal steps, docs/results/fashion-mnist.md)',
    },
    steps: { type: 'int', min: 1, default: 25, help: 'sampling steps' },
    eta: { type: 'number', default: 0, help: 'DDIM stochasticity: 0 deterministic, 1 as DDPM' },
    seed: { type: 'int', default: 0, help: 'seed of the drawn conditions, the noise and the real subset' },
    batch: {
      type: 'int',
      min: 1,
      default: 32,
      help: 'images per sampling batch (small batches were faster on CPU for the tiny preset)',
    },
    k: { type: 'int', min: 1, default: 5, help: 'neighbourhood size of precision/recall/density/coverage' },
    'cache-dir': {
      type: 'string',
      default: 'runs/cache',
      metavar: 'DIR',
      help: 'cache of real-set features and statistics',
    },
    out: {
      type: 'string',
      metavar: 'DIR',
      help: 'where metrics.json, samples.safetensors and samples.png go (default <run>/eval/<sampler><steps>-s<scale>-n<n>-seed<seed>)',
    },
    name: {
      type: 'string',
      metavar: 'TEXT',
      help: 'the model column of the markdown row (default: the run directory)',
    },
    'fd-encoder': {
      type: 'string',
      metavar: 'RUN_DIR',
      help: 'also FD on this self-supervised encoder\'s backbone features ("FD-ssl")',
    },
    'fd-torchscript': {
      type: 'string',
      metavar: 'FILE',
      help: "also FD on this TorchScript network's output, e.g. a traced InceptionV3 pool3 (real FID)",
    },
    'shift-layouts': {
      type: 'int',
      default: 0,
      help: 'box- and mask-guided models: move every layout this many pixels right and down before sampling (the shifted-box control)',
    },
    'fd-size': { type: 'int', min: 1, help: 'resize images to this size for --fd-torchscript (299 for Inception)' },
    device: {
      ...deviceOption,
      help: 'where the diffusion model samples (the metrics run on the CPU); cuda wants a larger --batch, e.g. 256',
    },
  },
  epilog: 'The Frechet distance is named after the network whose features it uses: FD-evalnet is not FID.',
  async run(a) {
    const checkpoint = a.checkpoint;
    const device = deviceFromArgs('eval', a);
    for (const [flag, v] of [
      ['n', a.n],
      ['steps', a.steps],
      ['batch', a.batch],
      ['k', a.k],
    ] as const) {
      if (v < 1) throw new UsageError('eval', `--${flag} must be positive, got ${v}`);
    }
    if (!enoughSamples(a.n, a.k)) throw new UsageError('eval', `--n must exceed --k (${a.k})`);
    const extra: FeatureSpace[] = [];
    const { 'fd-encoder': fdEncoder, 'fd-torchscript': fdTorchscript } = a;
    if (fdEncoder) extra.push({ name: 'ssl', make: () => new SslEncoderFeatures(fdEncoder, 'backbone') });
    if (fdTorchscript)
      extra.push({
        name: 'torchscript',
        make: () => new TorchScriptEncoder(fdTorchscript, { size: a['fd-size'], rgb: true }),
      });
    // The sampling protocol names the output folder and drives the evaluation.
    const protocol = {
      sampler: a.sampler,
      steps: a.steps,
      eta: a.eta,
      scale: a.scale,
      n: a.n,
      seed: a.seed,
    };
    const runDir = checkpoint.replace(/\/checkpoints\/[^/]+$/, '').replace(/\/$/, '');
    const out = a.out ?? join(runDir, 'eval', evalRunName(protocol));
    const m = await evaluate({
      checkpoint,
      evalnet: a.evalnet,
      ...protocol,
      batchSize: a.batch,
      k: a.k,
      cacheDir: a['cache-dir'],
      out,
      extraFeatures: extra,
      device,
      shiftLayouts: a['shift-layouts'],
    });
    const extraFd = Object.entries(m.fd)
      .filter(([name]) => name !== 'evalnet')
      .map(([name, v]) => `FD-${name} ${v.toFixed(2)}`);
    process.stderr.write(
      `sampling ${m.seconds.sampling.toFixed(1)} s, metrics ${m.seconds.metrics.toFixed(1)} s; wrote ${join(out, 'metrics.json')}${extraFd.length ? `; ${extraFd.join(', ')}` : ''}\n`,
    );
    process.stdout.write(`${METRICS_HEADER}\n${metricsRow(a.name ?? runDir, m)}\n`);
    if (m.layout) process.stdout.write(`${layoutLine(m.layout)}\n`);
    if (m.presence) process.stdout.write(`${presenceLine(m.presence)}\n`);
    return 0;
  },
});
