// selfguided train: trains a (guided) diffusion model into a run directory; --resume continues one.
import { existsSync, readFileSync } from 'node:fs';
import { DiffusionSpec, TrainConfig, TrainSettings, type TrainConfigInput } from '../diffusion/config.js';
import { parseJsonWith, schemaDefault } from '../util/json-file.js';
import { DiffusionTrainer } from '../diffusion/trainer.js';
import { UNET_PRESET_NAMES } from '../diffusion/unet.js';
import { defineCommand, defineOptions, type Options, UsageError } from './args.js';
import { restoreLaunchOptions, resumeOptions, saveLaunchOptions } from './resume-args.js';
import { dataOptions, dataSpecFromArgs, streamOptions } from './data-args.js';
import { deviceFromArgs, deviceOption } from './device-arg.js';
import { joinGroup, maybeLaunch, parallelOptions, processesNote } from './parallel-args.js';

const trainDefault = (key: Exclude<keyof typeof TrainSettings.shape, 'steps'>) =>
  schemaDefault(TrainSettings, key) as number;

export function configFromArgs(a: Args): TrainConfigInput {
  if (a.config) {
    const path = a.config;
    if (!existsSync(path)) throw new UsageError('train', `config file not found: ${path}`);
    return parseJsonWith(TrainConfig, readFileSync(path, 'utf8'), path);
  }
  const data = dataSpecFromArgs('train', a);
  const c = a.condition;
  const condition =
    c === 'none'
      ? { kind: 'none' as const }
      : c === 'label'
        ? { kind: 'label' as const }
        : { kind: 'file' as const, path: c };
  return {
    data,
    condition,
    model: { preset: a.preset, condMode: a['cond-mode'] },
    diffusion: {
      schedule: a.schedule,
      T: 1000,
      prediction: a.prediction,
      zeroTerminalSnr: Boolean(a['zero-snr']),
    },
    train: {
      steps: a.steps,
      batchSize: a.batch,
      lr: a.lr,
      warmup: a.warmup,
      weightDecay: a['weight-decay'],
      gradClip: a['grad-clip'],
      emaDecay: a['ema-decay'],
      condDrop: a['cond-drop'],
      hflip: Boolean(a.hflip),
      seed: a.seed,
      checkpointEvery: a['checkpoint-every'],
      logEvery: a['log-every'],
    },
  };
}

const options = defineOptions({
  ...dataOptions,
  ...streamOptions,
  condition: {
    type: 'string',
    default: 'none',
    metavar: 'none|label|FILE',
    help: 'guidance signal: none, ground-truth labels, or a condition file (from selfguided cluster)',
  },
  preset: {
    type: 'string',
    default: 'small',
    choices: UNET_PRESET_NAMES,
    help: 'UNet size (small64: four levels for 64 px images, attention at 16 and 8 px)',
  },
  'cond-mode': {
    type: 'string',
    choices: ['concat', 'add'],
    help: 'join the condition embedding to the timestep embedding by concatenation (the paper) or addition',
  },
  steps: { type: 'int', min: 1, default: 10000, help: 'training steps' },
  batch: { type: 'int', min: 1, default: trainDefault('batchSize'), help: 'batch size' },
  lr: { type: 'number', default: trainDefault('lr'), help: 'AdamW learning rate' },
  warmup: { type: 'int', default: trainDefault('warmup'), help: 'linear learning-rate warm-up steps' },
  'weight-decay': { type: 'number', default: trainDefault('weightDecay'), help: 'AdamW decoupled weight decay' },
  'grad-clip': { type: 'number', default: trainDefault('gradClip'), help: 'clip the global gradient norm to this' },
  'ema-decay': {
    type: 'number',
    default: trainDefault('emaDecay'),
    help: 'EMA decay (with warm-up min(decay, (1+n)/(10+n)))',
  },
  'cond-drop': {
    type: 'number',
    default: trainDefault('condDrop'),
    help: 'probability of replacing a condition by the null condition',
  },
  hflip: { type: 'boolean', help: 'random horizontal flips (conditions maps flip along)' },
  schedule: {
    type: 'string',
    default: DiffusionSpec.shape.schedule.parse(undefined),
    choices: ['linear', 'ddpm-linear', 'cosine'],
    help: 'noise schedule (the default chosen in docs/diffusion.md)',
  },
  prediction: {
    type: 'string',
    default: DiffusionSpec.shape.prediction.parse(undefined),
    choices: ['eps', 'v'],
    help: 'what the network predicts',
  },
  'zero-snr': {
    type: 'boolean',
    help: 'rescale the betas to zero terminal SNR (Lin et al.; needs --prediction v)',
  },
  seed: { type: 'int', default: trainDefault('seed'), help: 'random seed' },
  'checkpoint-every': {
    type: 'int',
    min: 1,
    default: trainDefault('checkpointEvery'),
    help: 'write a checkpoint every N steps',
  },
  'log-every': {
    type: 'int',
    min: 1,
    default: trainDefault('logEvery'),
    help: 'a metrics.jsonl line and TensorBoard scalars every N steps',
  },
  'preview-every': {
    type: 'int',
    default: 500,
    help: 'every N steps 16 samples (fixed noise and conditions, EMA weights, DDIM-10) into previews/ and the TensorBoard file; 0: none',
  },
  'run-dir': {
    type: 'string',
    default: 'runs/train',
    metavar: 'DIR',
    help: 'where config, metrics and checkpoints go',
  },
  resume: {
    type: 'boolean',
    help: 'continue the run in --run-dir from its latest checkpoint (its config.json is used; --steps may extend it)',
  },
  config: { type: 'string', metavar: 'FILE', help: 'read the whole configuration from a JSON file instead of flags' },
  device: deviceOption,
  ...parallelOptions,
});
type Args = Options<typeof options>;

export const command = defineCommand({
  name: 'train',
  summary: 'train a diffusion model, unguided or guided by labels or self-annotations',
  options,
  epilog:
    'Ctrl-C (SIGINT) or SIGTERM stops after the current step and writes a checkpoint; --resume continues exactly, with any number of processes. Data-parallel runs: docs/distributed.md.',
  async run(a, ctx) {
    const launched = await maybeLaunch('train', a);
    if (launched !== null) return launched;
    const runDir = a['run-dir'];
    const resume = Boolean(a.resume);
    if (resume) a = restoreLaunchOptions('train', runDir, a, ctx.argv);
    // Every flag is checked before joining the group: a usage error after it would leave the group behind.
    const how = resume ? resumeOptions('train', a, ctx.argv) : { config: configFromArgs(a) };
    const { parallel, device } = await joinGroup('train', a, deviceFromArgs('train', a));
    const trainer = await DiffusionTrainer.open(runDir, { ...how, device, parallel }).catch((e: unknown) => {
      parallel?.destroy();
      throw e;
    });
    try {
      if (!parallel || parallel.isWriter) saveLaunchOptions(runDir, a);
      const c = trainer.config;
      const procs = processesNote(parallel, c.train.batchSize);
      if (!parallel || parallel.isWriter)
        process.stderr.write(
          `training ${c.model.preset} UNet (${(trainer.model.numParameters() / 1e6).toFixed(2)}M parameters) on ${trainer.dataset.info.name} (${trainer.dataset.length} images), condition ${trainer.conditions.source}, steps ${trainer.step}->${c.train.steps}, batch ${c.train.batchSize}${procs}, on ${device}\n`,
        );
      const r = await trainer.train({ previewEvery: a['preview-every'] });
      const speak = !parallel || parallel.isWriter;
      if (r.status === 'interrupted') {
        if (speak)
          process.stderr.write(
            `interrupted at step ${r.step}; checkpoint ${r.checkpoint}. Continue with: selfguided train --run-dir ${runDir} --resume\n`,
          );
        return 130;
      }
      if (speak) process.stdout.write(`trained to step ${r.step}; checkpoint ${r.checkpoint}\n`);
      return 0;
    } finally {
      trainer.dispose();
      parallel?.destroy();
    }
  },
});
