// selfguided stego train: the STEGO segmentation head and cluster probe on a features file's frozen
// patches, in a run directory (resumable like every trainer).
import { StegoTrainer, StegoTrainSettings } from '../annotate/stego.js';
import { schemaDefault } from '../util/json-file.js';
import { defineCommand } from './args.js';
import { resumeOptions } from './resume-args.js';

const d = (key: 'batchSize' | 'lr' | 'knn' | 'seed' | 'checkpointEvery') => schemaDefault(StegoTrainSettings, key);

export const command = defineCommand({
  name: 'stego',
  summary: 'train a STEGO head and cluster probe on frozen patch features (for selfguided masks --stego)',
  subcommands: ['train'],
  usage: 'selfguided stego train --features FILE [options]',
  options: {
    features: {
      required: true,
      type: 'string',
      metavar: 'FILE',
      help: 'features file with patches (selfguided features --patches)',
    },
    K: { type: 'int', min: 1, default: 11, help: 'segments (cluster probe centroids)' },
    'code-dim': { type: 'int', min: 1, default: 32, help: "the head's code size" },
    steps: { type: 'int', min: 1, default: 1000, help: 'training steps' },
    batch: { type: 'int', min: 1, default: d('batchSize'), help: 'images per batch' },
    lr: { type: 'number', default: d('lr'), help: 'AdamW learning rate' },
    knn: { type: 'int', min: 1, default: d('knn'), help: 'neighbours per image for the k-NN term' },
    seed: { type: 'int', default: d('seed'), help: 'random seed' },
    'checkpoint-every': { type: 'int', min: 1, default: d('checkpointEvery'), help: 'checkpoint every N steps' },
    'run-dir': { type: 'string', default: 'runs/stego', metavar: 'DIR', help: 'run directory' },
    resume: { type: 'boolean', help: 'continue the run in --run-dir' },
  },
  epilog: "The loss's shifts and weights are STEGO's defaults (see StegoTrainSettings); a config.json may change them.",
  async run(a, ctx) {
    const runDir = a['run-dir'];
    const t = a.resume
      ? await StegoTrainer.open(runDir, resumeOptions('stego train', a, ctx.argv))
      : await StegoTrainer.open(runDir, {
          config: {
            features: a.features,
            model: { K: a.K, codeDim: a['code-dim'] },
            train: {
              steps: a.steps,
              batchSize: a.batch,
              lr: a.lr,
              knn: a.knn,
              seed: a.seed,
              checkpointEvery: a['checkpoint-every'],
            },
          },
        });
    try {
      const r = await t.train();
      if (r.status === 'interrupted') {
        process.stderr.write(
          `interrupted at step ${r.step}; checkpoint ${r.checkpoint}. Continue with: selfguided stego train --run-dir ${runDir} --resume\n`,
        );
        return 130;
      }
      process.stdout.write(`trained STEGO to step ${r.step}; checkpoint ${r.checkpoint}\n`);
      return 0;
    } finally {
      t.dispose();
    }
  },
});
