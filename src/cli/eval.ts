// selfguided eval: sample a checkpoint with conditions drawn from its training annotations and score the
// samples: FD-evalnet (and FD on other feature spaces), precision/recall/density/coverage, the
// Inception-Score analogue, per-class recall and condition consistency. Writes metrics.json and prints
// a markdown row.
import { join } from 'node:path';
import { SAMPLERS, type SamplerName } from '../diffusion/samplers.js';
import { evalRunName, evaluate, METRICS_HEADER, metricsRow, type FeatureSpace } from '../eval/evaluate.js';
import { SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import { TorchScriptEncoder } from '../features/torchscript.js';
import { required, UsageError, type CommandSpec, type ParsedArgs } from './args.js';
import { deviceFromArgs, deviceOption } from './device-arg.js';

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'score a checkpoint: FD-evalnet, precision/recall/density/coverage, IS-evalnet, condition consistency',
  options: {
    checkpoint: { type: 'string', metavar: 'RUN_DIR|FILE', help: 'the diffusion model to evaluate (required)' },
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
};

export async function runEval(a: ParsedArgs): Promise<number> {
  const checkpoint = required<string>(a, 'eval', 'checkpoint');
  const device = deviceFromArgs('eval', a);
  for (const [flag, v] of [
    ['n', a.n],
    ['steps', a.steps],
    ['batch', a.batch],
    ['k', a.k],
  ] as const) {
    if ((v as number) < 1) throw new UsageError('eval', `--${flag} must be positive, got ${v}`);
  }
  if ((a.n as number) <= (a.k as number)) throw new UsageError('eval', `--n must exceed --k (${a.k})`);
  const extra: FeatureSpace[] = [];
  if (a['fd-encoder'])
    extra.push({ name: 'ssl', make: () => new SslEncoderFeatures(a['fd-encoder'] as string, 'backbone') });
  if (a['fd-torchscript'])
    extra.push({
      name: 'torchscript',
      make: () =>
        new TorchScriptEncoder(a['fd-torchscript'] as string, { size: a['fd-size'] as number | undefined, rgb: true }),
    });
  // The sampling protocol names the output folder and drives the evaluation.
  const protocol = {
    sampler: a.sampler as SamplerName,
    steps: a.steps as number,
    eta: a.eta as number,
    scale: a.scale as number,
    n: a.n as number,
    seed: a.seed as number,
  };
  const runDir = checkpoint.replace(/\/checkpoints\/[^/]+$/, '').replace(/\/$/, '');
  const out = (a.out as string | undefined) ?? join(runDir, 'eval', evalRunName(protocol));
  const m = await evaluate({
    checkpoint,
    evalnet: a.evalnet as string,
    ...protocol,
    batchSize: a.batch as number,
    k: a.k as number,
    cacheDir: a['cache-dir'] as string,
    out,
    extraFeatures: extra,
    device,
    shiftLayouts: a['shift-layouts'] as number,
  });
  const extraFd = Object.entries(m.fd)
    .filter(([name]) => name !== 'evalnet')
    .map(([name, v]) => `FD-${name} ${v.toFixed(2)}`);
  process.stderr.write(
    `sampling ${m.seconds.sampling.toFixed(1)} s, metrics ${m.seconds.metrics.toFixed(1)} s; wrote ${join(out, 'metrics.json')}${extraFd.length ? `; ${extraFd.join(', ')}` : ''}\n`,
  );
  process.stdout.write(`${METRICS_HEADER}\n${metricsRow((a.name as string | undefined) ?? runDir, m)}\n`);
  if (m.layout) {
    const f = m.layout.foreground,
      sc = m.layout.selfConsistency;
    process.stdout.write(
      `layout (${m.layout.kind}): foreground IoU ${f.iou.toFixed(3)} (shuffled ${f.chanceIou.toFixed(3)}, real ${f.realIou.toFixed(3)})` +
        (f.inside !== null
          ? `, inside ${f.inside.toFixed(3)} (shuffled ${f.chanceInside!.toFixed(3)}, real ${f.realInside!.toFixed(3)})`
          : '') +
        (sc
          ? `; self-consistency ${sc.value.toFixed(3)} (shuffled ${sc.chance.toFixed(3)}, real ${sc.real.toFixed(3)})`
          : '') +
        (m.layout.diversity
          ? `; diversity ${m.layout.diversity.samples.toFixed(3)} (real ${m.layout.diversity.real.toFixed(3)})`
          : '') +
        (m.layout.shift ? `; layouts shifted by ${m.layout.shift} px` : '') +
        '\n',
    );
  }
  return 0;
}
