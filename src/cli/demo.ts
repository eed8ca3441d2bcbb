// selfguided demo: flags for the library's demo pipeline (src/pipelines/demo.ts).
import { SAMPLERS } from '../diffusion/schedulers.js';
import { runDemo as demo } from '../pipelines/demo.js';
import { defineCommand } from './args.js';

export const command = defineCommand({
  name: 'demo',
  summary:
    'the self-guided pipeline on Fashion-MNIST within a time budget: encoder, self-labels, guided vs unguided diffusion',
  options: {
    out: { type: 'string', default: 'runs/demo', metavar: 'DIR', help: 'run directory' },
    minutes: {
      type: 'number',
      default: 12,
      help: 'total time budget (encoder about a quarter, diffusion most of the rest)',
    },
    k: { type: 'int', min: 1, default: 10, help: 'number of self-label clusters' },
    guidance: {
      type: 'string',
      default: 'self',
      choices: ['self', 'label'],
      help: 'guide by self-labels (clusters of encoder features) or, for comparison, by the ground-truth labels',
    },
    seed: { type: 'int', default: 0, help: 'random seed for every stage' },
    scale: { type: 'number', default: 3, help: 'guidance scale s for the guided samples' },
    sampler: {
      type: 'string',
      default: 'ddpm',
      choices: SAMPLERS,
      help: 'sampler of the pictures (default ddpm: cleaner than DDIM eta 0 on briefly trained models, docs/results/fashion-mnist.md)',
    },
    'sample-steps': { type: 'int', min: 1, default: 50, help: 'sampling steps' },
    eta: { type: 'number', default: 0, help: 'DDIM stochasticity: 0 deterministic, 1 as DDPM' },
    'per-row': { type: 'int', min: 1, default: 8, help: 'samples per cluster (grid columns)' },
  },
  async run(a) {
    const r = await demo({
      out: a.out,
      minutes: a.minutes,
      k: a.k,
      guidance: a.guidance,
      seed: a.seed,
      scale: a.scale,
      sampler: a.sampler,
      sampleSteps: a['sample-steps'],
      eta: a.eta,
      perRow: a['per-row'],
    });
    if (r.status === 'interrupted') return 130;
    process.stdout.write(`demo done in ${r.minutes.toFixed(1)} min: ${r.png} and ${r.summary}\n`);
    return 0;
  },
});
