// selfguided encoder train: self-supervised training of the in-project feature extractor (SimCLR or DINO).
import {
  DinoSettings,
  EncoderTrainer,
  EncoderTrainSettings,
  IbotSettings,
  ViTSettings,
  type EncoderConfigInput,
} from '../features/ssl/encoder-trainer.js';
import type { z } from 'zod';
import { schemaDefault } from '../util/json-file.js';
import { defineCommand } from './args.js';
import { restoreLaunchOptions, resumeOptions, saveLaunchOptions } from './resume-args.js';
import { dataOptions, dataSpecFromArgs, streamOptions } from './data-args.js';
import { deviceFromArgs, deviceOption } from './device-arg.js';
import { joinGroup, maybeLaunch, parallelOptions, processesNote } from './parallel-args.js';

const vitDefault = (key: 'patchSize' | 'dim' | 'depth' | 'heads') => schemaDefault(ViTSettings, key) as number;
const d = (key: 'batchSize' | 'lr' | 'warmup' | 'temperature' | 'seed' | 'checkpointEvery') =>
  schemaDefault(EncoderTrainSettings, key);
/** A numeric option whose default is a DINO or training setting's. */
const setting = <S extends z.ZodObject>(
  type: 'int' | 'number',
  from: S,
  key: keyof S['shape'] & string,
  help: string,
) => ({ type, default: schemaDefault(from, key) as number, help }) as const;

export const command = defineCommand({
  name: 'encoder',
  summary: 'train the self-supervised feature encoder (SimCLR or DINO) on unlabeled images',
  subcommands: ['train'],
  usage: 'selfguided encoder train [options]',
  options: {
    ...dataOptions,
    ...streamOptions,
    steps: { type: 'int', min: 1, default: 2000, help: 'training steps' },
    batch: { type: 'int', min: 1, default: d('batchSize'), help: 'images per batch (two views each)' },
    lr: { type: 'number', default: d('lr'), help: 'AdamW learning rate (cosine schedule after warm-up)' },
    warmup: { type: 'int', default: d('warmup'), help: 'warm-up steps' },
    objective: {
      type: 'string',
      default: 'simclr',
      choices: ['simclr', 'dino'],
      help: "SimCLR's contrastive loss, or DINO's self-distillation (a moving-average teacher, multi-crop)",
    },
    temperature: { type: 'number', default: d('temperature'), help: 'NT-Xent temperature (simclr)' },
    'local-crops': setting('int', DinoSettings, 'localCrops', 'dino: small views per image beside the two global ones'),
    'dino-out': setting('int', DinoSettings, 'outDim', "dino: prototypes in the head's last layer"),
    'teacher-temp': setting('number', DinoSettings, 'teacherTemp', "dino: the teacher's temperature after its warm-up"),
    'teacher-temp-start': setting(
      'number',
      DinoSettings,
      'teacherTempStart',
      "dino: the teacher's temperature at step 0, warmed up linearly to --teacher-temp (equal values: constant)",
    ),
    'crop-min': {
      type: 'number',
      default: (schemaDefault(EncoderTrainSettings, 'cropScale') as [number, number])[0],
      help: 'smallest random crop, as a fraction of the image area',
    },
    jitter: setting(
      'number',
      EncoderTrainSettings,
      'jitter',
      'strength of the brightness/contrast (and saturation) jitter of every view',
    ),
    'jitter-p': setting(
      'number',
      EncoderTrainSettings,
      'jitterP',
      "fraction of views jittered (0: none; on canvases whose background varies more than the items, an untrained network's views of one image then still agree: see the view_rank metric)",
    ),
    arch: {
      type: 'string',
      default: 'resnet',
      choices: ['resnet', 'vit'],
      help: "the backbone: a small ResNet, or a Vision Transformer whose patch tokens and attention keys are LOST's and STEGO's features (with --objective dino it adds iBOT's masked patch loss)",
    },
    widths: { type: 'string', default: '32,64,128', help: 'resnet: stage widths (the last is the feature size)' },
    'vit-patch': { type: 'int', min: 1, default: vitDefault('patchSize'), help: 'vit: patch side in pixels' },
    'vit-dim': { type: 'int', min: 1, default: vitDefault('dim'), help: 'vit: token width' },
    'vit-depth': { type: 'int', min: 1, default: vitDefault('depth'), help: 'vit: transformer blocks' },
    'vit-heads': { type: 'int', min: 1, default: vitDefault('heads'), help: 'vit: attention heads' },
    'ibot-weight': {
      type: 'number',
      default: schemaDefault(IbotSettings, 'weight') as number,
      help: "vit + dino: weight of iBOT's masked patch distillation beside DINO's loss (0: DINO alone)",
    },
    seed: { type: 'int', default: d('seed'), help: 'random seed' },
    'checkpoint-every': { type: 'int', min: 1, default: d('checkpointEvery'), help: 'checkpoint every N steps' },
    'preview-every': {
      type: 'int',
      default: 200,
      help: "every N steps a grid of 8 fixed images and their nearest neighbours by g's features, into previews/ and the TensorBoard file; 0: none",
    },
    'run-dir': { type: 'string', default: 'runs/encoder', metavar: 'DIR', help: 'run directory' },
    resume: { type: 'boolean', help: 'continue the run in --run-dir (--steps may extend it)' },
    device: deviceOption,
    ...parallelOptions,
  },
  epilog: 'Ctrl-C stops after the current step with a checkpoint; --resume continues exactly.',
  async run(a, ctx) {
    const launched = await maybeLaunch('encoder train', a);
    if (launched !== null) return launched;
    const runDir = a['run-dir'];
    const widths = String(a.widths).split(',').map(Number);
    if (a.resume) a = restoreLaunchOptions('encoder train', runDir, a, ctx.argv);
    // Every flag is checked before joining the group: a usage error after it would leave the group behind.
    const config = (): EncoderConfigInput => ({
      data: dataSpecFromArgs('encoder', a),
      model: {
        widths,
        objective: a.objective,
        dino: {
          localCrops: a['local-crops'],
          outDim: a['dino-out'],
          teacherTemp: a['teacher-temp'],
          teacherTempStart: a['teacher-temp-start'],
        },
        arch: a.arch,
        vit: { patchSize: a['vit-patch'], dim: a['vit-dim'], depth: a['vit-depth'], heads: a['vit-heads'] },
        ibot: { weight: a['ibot-weight'] },
      },
      train: {
        steps: a.steps,
        batchSize: a.batch,
        lr: a.lr,
        warmup: a.warmup,
        temperature: a.temperature,
        cropScale: [a['crop-min'], 1],
        jitter: a.jitter,
        jitterP: a['jitter-p'],
        seed: a.seed,
        checkpointEvery: a['checkpoint-every'],
      },
    });
    const how = a.resume ? resumeOptions('encoder train', a, ctx.argv) : { config: config() };
    const { parallel, device } = await joinGroup('encoder train', a, deviceFromArgs('encoder', a));
    const t = await EncoderTrainer.open(runDir, { ...how, device, parallel }).catch((e: unknown) => {
      parallel?.destroy();
      throw e;
    });
    const speak = !parallel || parallel.isWriter;
    try {
      if (speak) saveLaunchOptions(runDir, a);
      if (speak)
        process.stderr.write(
          `training ${t.config.model.objective === 'dino' ? (t.patchCenter ? 'DINO + iBOT' : 'DINO') : 'SimCLR'} ${t.config.model.arch === 'vit' ? 'ViT' : 'ResNet'} encoder (${(t.model.numParameters() / 1e6).toFixed(2)}M parameters) on ${t.dataset.info.name}, steps ${t.step}->${t.config.train.steps}, batch ${t.config.train.batchSize}${processesNote(parallel, t.config.train.batchSize)}, on ${device}\n`,
        );
      const r = await t.train({ previewEvery: a['preview-every'] });
      if (r.status === 'interrupted') {
        if (speak)
          process.stderr.write(
            `interrupted at step ${r.step}; checkpoint ${r.checkpoint}. Continue with: selfguided encoder train --run-dir ${runDir} --resume\n`,
          );
        return 130;
      }
      if (speak) process.stdout.write(`trained encoder to step ${r.step}; checkpoint ${r.checkpoint}\n`);
      return 0;
    } finally {
      t.dispose();
      parallel?.destroy();
    }
  },
});
