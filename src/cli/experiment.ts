// selfguided experiment fashion-mnist|colour-objects|fashion-scenes|colour-scenes: the reproduction tables,
// resumable across sessions.
import { BudgetName, FashionMnistExperiment } from '../experiments/fashion-mnist.js';
import { FashionScenesExperiment, SceneG } from '../experiments/fashion-scenes.js';
import { defineCommand, UsageError } from './args.js';
import { deviceFromArgs, deviceOption } from './device-arg.js';

export const command = defineCommand({
  name: 'experiment',
  summary:
    'the reproduction experiment: every guidance row trained and evaluated alike, long-tail rows, scale sweep, report',
  subcommands: ['fashion-mnist', 'colour-objects', 'fashion-scenes', 'colour-scenes'],
  usage: 'selfguided experiment fashion-mnist|colour-objects|fashion-scenes|colour-scenes [options]',
  options: {
    budget: {
      type: 'string',
      default: 'small',
      choices: BudgetName.options,
      help: "smoke: every stage in minutes on 2,000 images (a pipeline check); small: about 4 h on a 2-core CPU (tiny UNet, 3,000 steps, 2,000 samples at 25 network evaluations with the sampler a study picks, long-tailed rows at k = 10, 30, 100 and balanced, 3 seeds for the long-tail pair, 3 evaluation seeds per sweep point; g trained here for 6,000 steps unless --encoder); full: the paper's protocol (10k samples, DDIM-250, the small preset for 60,000 steps): days on a 2-core CPU, meant for --device cuda",
    },
    root: {
      type: 'string',
      metavar: 'DIR',
      help: 'experiment directory (default runs/experiments/<experiment>-<budget>)',
    },
    docs: {
      type: 'string',
      default: 'docs/results',
      metavar: 'DIR',
      help: 'where the page (<experiment>.md), its grids and plots are written',
    },
    stamps: {
      type: 'string',
      metavar: 'DIR',
      help: "colour-objects, colour-scenes: the cut-outs (one subfolder per category of 30 or more; default Tux Paint's stamps without symbols); a root keeps the ones it was started with",
    },
    encoder: { type: 'string', metavar: 'RUN_DIR', help: 'reuse this SimCLR encoder run as g instead of training one' },
    g: {
      type: 'string',
      choices: SceneG.options,
      help: "fashion-scenes: the g whose patches LOST, patch k-means and STEGO read: a ViT trained by DINO + iBOT (default for a new root) or the SimCLR ResNet's stride-2 stage; a root keeps the g it was started with",
    },
    rows: {
      type: 'string',
      metavar: 'ID,ID',
      help: 'fashion-scenes, colour-scenes: only these rows, in this order (e.g. self-boxes,self-masks-stego); the guidance sweep and the shifted-box control wait for a run without --rows; the report shows every row evaluated so far',
    },
    evalnet: { type: 'string', metavar: 'RUN_DIR', help: 'reuse this evaluation network run instead of training one' },
    seed: { type: 'int', default: 0, help: 'seed of every stage' },
    device: {
      ...deviceOption,
      help: 'where the diffusion models and the encoder train and sample (features and metrics stay on the CPU); a run may resume on another device',
    },
  },
  epilog: 'Stop it at any time (Ctrl-C lets the current step finish); the same command continues where it stopped.',
  async run(a, ctx) {
    const budget = a.budget;
    const device = deviceFromArgs('experiment', a);
    const colour = ctx.sub === 'colour-objects' || ctx.sub === 'colour-scenes';
    if (a.stamps !== undefined && !colour)
      throw new UsageError('experiment', '--stamps applies to colour-objects and colour-scenes only');
    const stamps = a.stamps ? { dir: a.stamps, exclude: [] } : undefined;
    if (ctx.sub === 'fashion-scenes' || ctx.sub === 'colour-scenes') {
      return new FashionScenesExperiment({
        budget,
        dataset: ctx.sub,
        root: a.root ?? `runs/experiments/${ctx.sub}-${budget}`,
        docs: a.docs,
        seed: a.seed,
        g: a.g as SceneG | undefined,
        stamps,
        rows: a.rows?.split(',').filter((id) => id !== ''),
        device,
      }).run();
    }
    if (a.g !== undefined) throw new UsageError('experiment', '--g applies to fashion-scenes and colour-scenes only');
    if (a.rows !== undefined)
      throw new UsageError('experiment', '--rows applies to fashion-scenes and colour-scenes only');
    const dataset = ctx.sub === 'colour-objects' ? 'colour-objects' : 'fashion-mnist';
    const exp = new FashionMnistExperiment({
      budget,
      dataset,
      stamps,
      root: a.root ?? `runs/experiments/${dataset}-${budget}`,
      docs: a.docs,
      encoder: a.encoder,
      evalnet: a.evalnet,
      seed: a.seed,
      device,
      command: [`bin/selfguided.mjs experiment ${dataset}`, ...ctx.argv].join(' '),
    });
    return exp.run();
  },
});
