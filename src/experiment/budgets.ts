// The experiment's budgets: smoke (the pipeline in a minute), small (the 2-core development machine)
// and full (the paper's protocol, for a GPU).
import { z } from 'zod';
import { SAMPLERS, type SamplerName } from '../diffusion/schedulers.js';

export const BudgetName = z.enum(['smoke', 'small', 'full']);
export type BudgetName = z.infer<typeof BudgetName>;

/** A budget: the one model preset, step counts and sampling protocol every row of the table shares. */
export const Budget = z.object({
  preset: z.enum(['tiny', 'small']),
  steps: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  lr: z.number().positive(),
  warmup: z.number().int().min(0),
  emaDecay: z.number().min(0).max(1),
  checkpointEvery: z.number().int().positive(),
  samples: z.number().int().positive(),
  sampler: z.enum(SAMPLERS as [SamplerName, ...SamplerName[]]),
  sampleSteps: z.number().int().positive(),
  scale: z.number(),
  sweep: z.array(z.number()),
  encoderSteps: z.number().int().positive(),
  evalnetSteps: z.number().int().positive(),
  ks: z.array(z.number().int().positive()),
  rho: z.number().positive(),
  /** other seeds for the rows the claims compare (ground truth and the best self-labels, both sets) */
  replicateSeeds: z.array(z.number().int().min(0)),
  /** use only the first `limit` training images (the smoke budget) */
  limit: z.number().int().positive().optional(),
});
export type Budget = z.infer<typeof Budget>;

export const BUDGETS: Record<BudgetName, Budget> = {
  // Every stage in a minute or two on 2,000 images: checks the pipeline, measures nothing.
  smoke: {
    preset: 'tiny',
    steps: 8,
    batchSize: 8,
    lr: 1e-3,
    warmup: 2,
    emaDecay: 0.9,
    checkpointEvery: 4,
    samples: 48,
    sampler: 'ddim',
    sampleSteps: 3,
    scale: 2,
    sweep: [0, 2, 5],
    encoderSteps: 4,
    evalnetSteps: 10,
    ks: [4, 8],
    rho: 10,
    replicateSeeds: [1],
    limit: 2000,
  },
  // About 4.2 hours of the 2-core development machine in all, replicates included (see the report's time table).
  small: {
    preset: 'tiny',
    steps: 3000,
    batchSize: 32,
    lr: 1e-3,
    warmup: 100,
    emaDecay: 0.999,
    checkpointEvery: 250,
    samples: 2000,
    sampler: 'ddim',
    sampleSteps: 25,
    scale: 2,
    sweep: [0, 1, 1.5, 2, 3, 5],
    encoderSteps: 1500,
    evalnetSteps: 2000,
    ks: [10, 50, 100],
    rho: 100,
    replicateSeeds: [1],
  },
  // The paper's evaluation protocol (10k samples, DDIM-250) with the 2.2M-parameter preset.
  full: {
    preset: 'small',
    steps: 60000,
    batchSize: 128,
    lr: 3e-4,
    warmup: 500,
    emaDecay: 0.9999,
    checkpointEvery: 1000,
    samples: 10000,
    sampler: 'ddim',
    sampleSteps: 250,
    scale: 2,
    sweep: [0, 1, 1.5, 2, 3, 5],
    encoderSteps: 6000,
    evalnetSteps: 4000,
    ks: [10, 50, 100],
    rho: 100,
    replicateSeeds: [1, 2],
  },
};
