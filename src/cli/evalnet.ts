// selfguided evalnet train: the label-trained CNN whose features the Frechet distance uses (FD-evalnet); on
// multi-object canvases the canvas judge, trained on each canvas's hidden class set.
import { EvalNetTrainSettings, trainEvalNet } from '../eval/evalnet.js';
import { schemaDefault } from '../util/json-file.js';
import { defineCommand } from './args.js';
import { resumeOptions } from './resume-args.js';
import { dataOptions, dataSpecFromArgs } from './data-args.js';

export const command = defineCommand({
  name: 'evalnet',
  summary:
    "train the evaluation network on ground-truth labels, or on scenes the canvas judge on each canvas's hidden class set (for evaluation only, never guidance)",
  subcommands: ['train'],
  usage: 'selfguided evalnet train [options]',
  options: {
    ...dataOptions,
    steps: { type: 'int', min: 1, default: 2000, help: 'training steps' },
    batch: { type: 'int', min: 1, default: schemaDefault(EvalNetTrainSettings, 'batchSize'), help: 'batch size' },
    lr: {
      type: 'number',
      default: schemaDefault(EvalNetTrainSettings, 'lr'),
      help: 'AdamW learning rate (cosine decay)',
    },
    seed: { type: 'int', default: schemaDefault(EvalNetTrainSettings, 'seed'), help: 'random seed' },
    'run-dir': { type: 'string', default: 'runs/evalnet', metavar: 'DIR', help: 'run directory' },
    foreground: {
      type: 'boolean',
      help: "scenes: also learn each pixel's foreground from the hidden masks (a dense head); evaluation then finds the samples' foreground with it instead of a brightness threshold (for colour backgrounds)",
    },
    resume: { type: 'boolean', help: 'continue the run in --run-dir' },
  },
  epilog:
    'On Fashion-MNIST and colour-objects its accuracy on the test split is printed (the target on Fashion-MNIST: at least 90%); ' +
    'on fashion-scenes and colour-scenes it learns which classes each canvas holds (a sigmoid per class) and prints its mAP on the test canvases.',
  async run(a, ctx) {
    const data = dataSpecFromArgs('evalnet', a);
    const test =
      data.kind === 'fashion-mnist'
        ? { ...data, split: 'test' as const, limit: undefined, longTail: undefined }
        : data.kind === 'fashion-scenes' || data.kind === 'colour-scenes' || data.kind === 'colour-objects'
          ? { ...data, split: 'test' as const, limit: undefined }
          : undefined;
    const r = await trainEvalNet(
      a['run-dir'],
      a.resume
        ? { ...resumeOptions('evalnet train', a, ctx.argv) }
        : {
            config: {
              data,
              test,
              train: {
                steps: a.steps,
                batchSize: a.batch,
                lr: a.lr,
                seed: a.seed,
                ...(a.foreground ? { foreground: true } : {}),
              },
            },
          },
    );
    process.stdout.write(
      `trained evaluation network to step ${r.step}; checkpoint ${r.checkpoint}${r.testAccuracy !== null ? `; test accuracy ${(100 * r.testAccuracy).toFixed(2)}%` : ''}${r.testMAP !== null ? `; test mAP ${r.testMAP.toFixed(3)} (the hidden class sets of the test canvases)` : ''}${r.testForegroundIoU !== null ? `; foreground IoU ${r.testForegroundIoU.toFixed(3)} (the hidden masks)` : ''}\n`,
    );
    return 0;
  },
});
