// The experiment's budgets: smoke (the pipeline in a minute), small (the 2-core development machine)
// and full (the paper's protocol, for a GPU).
import { z } from 'zod';
import { SAMPLERS, type SamplerName } from '../diffusion/schedulers.js';

export const BudgetName = z.enum(['smoke', 'small', 'full']);
export type BudgetName = z.infer<typeof BudgetName>;

/** A sampler with its DDIM stochasticity (eta; other samplers ignore it). */
export const SamplerChoice = z.object({
  sampler: z.enum(SAMPLERS as [SamplerName, ...SamplerName[]]),
  eta: z.number().min(0).max(1).default(0),
});
export type SamplerChoice = z.infer<typeof SamplerChoice>;

/** A sampler's short name in directory and stage names: ddim, ddim-eta1, ddpm, dpm++2m. */
export function samplerTag(c: SamplerChoice): string {
  return c.sampler === 'ddim' && c.eta > 0 ? `ddim-eta${c.eta}` : c.sampler;
}

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
  /** the evaluation's sampler when there is no sampler study (otherwise the study's choice) */
  sampler: z.enum(SAMPLERS as [SamplerName, ...SamplerName[]]),
  sampleSteps: z.number().int().positive(),
  /**
   * Samplers compared at equal network evaluations (sampleSteps each) on the unguided row and the first
   * self-label row before anything else is evaluated; the one with the lowest mean FD-evalnet evaluates
   * the whole table. Empty: no study, `sampler` with eta 0.
   */
  samplerStudy: z.array(SamplerChoice),
  scale: z.number(),
  sweep: z.array(z.number()),
  /**
   * evaluations of every sweep point, with seeds seed, seed + 1, ... (the model stays the same; the
   * samples, their conditions and the real subset they are measured against change)
   */
  sweepEvals: z.number().int().positive(),
  encoderSteps: z.number().int().positive(),
  evalnetSteps: z.number().int().positive(),
  /** k of the self-label rows on the balanced set */
  ks: z.array(z.number().int().positive()).min(1),
  /** k of the self-label rows on the long-tailed set (none: no long-tailed rows at all) */
  ltKs: z.array(z.number().int().positive()),
  /** k of the long-tailed row with Sinkhorn-balanced clusters (equal-sized clusters); null: no such row */
  ltBalancedK: z.number().int().positive().nullable(),
  /** k of the self-label rows whose f is SCAN's clustering head (balanced set) */
  scanKs: z.array(z.number().int().positive()),
  /** k of the long-tailed self-label rows whose f is SCAN's clustering head */
  ltScanKs: z.array(z.number().int().positive()),
  /**
   * SCAN's entropy weight on the long-tailed set: the entropy term pulls cluster sizes toward equal,
   * which a long tail contradicts
   */
  ltScanEntropyWeight: z.number().min(0),
  /** the control rows: diffusion-feature labels, the continuous g feature, random ids */
  controls: z.boolean(),
  rho: z.number().positive(),
  /** other seeds for the long-tailed ground-truth row and the best long-tailed self-label row */
  replicateSeeds: z.array(z.number().int().min(0)),
  /** use only the first `limit` training images (the smoke budget) */
  limit: z.number().int().positive().optional(),
});
export type Budget = z.infer<typeof Budget>;

const STUDY: SamplerChoice[] = [
  { sampler: 'ddim', eta: 0 },
  { sampler: 'ddim', eta: 1 },
  { sampler: 'ddpm', eta: 0 },
  { sampler: 'dpm++2m', eta: 0 },
];

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
    samplerStudy: [STUDY[0]!, STUDY[1]!],
    scale: 2,
    sweep: [0, 2, 5],
    sweepEvals: 2,
    encoderSteps: 4,
    evalnetSteps: 10,
    ks: [4, 8],
    ltKs: [4, 8],
    ltBalancedK: 4,
    scanKs: [4],
    ltScanKs: [4],
    ltScanEntropyWeight: 1,
    controls: true,
    rho: 10,
    replicateSeeds: [1],
    limit: 2000,
  },
  // About 4.2 hours of the 2-core development machine in all, replicates included (see the report's time
  // table), with an encoder g trained beforehand (docs/self-labels.md) and passed with --encoder.
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
    samplerStudy: STUDY,
    scale: 2,
    sweep: [0, 1, 2, 3, 5],
    sweepEvals: 3,
    encoderSteps: 6000,
    evalnetSteps: 2000,
    ks: [10, 100],
    ltKs: [10, 30, 100],
    ltBalancedK: 100,
    scanKs: [10],
    ltScanKs: [10],
    ltScanEntropyWeight: 1,
    controls: false,
    rho: 100,
    replicateSeeds: [1, 2],
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
    samplerStudy: [],
    scale: 2,
    sweep: [0, 1, 1.5, 2, 3, 5],
    sweepEvals: 3,
    encoderSteps: 6000,
    evalnetSteps: 4000,
    ks: [10, 100],
    ltKs: [100],
    ltBalancedK: null,
    scanKs: [10],
    ltScanKs: [],
    ltScanEntropyWeight: 1,
    controls: false,
    rho: 100,
    replicateSeeds: [1, 2],
  },
};

/**
 * The colour objects' budgets (experiment colour-objects): Fashion-MNIST's model, steps and sampling, on a
 * set that is unbalanced by nature (5.1 : 1, docs/data.md), so no long-tailed subset is drawn; k at the
 * number of categories (9) and ten times it; DDPM, which the Fashion-MNIST sampler study chose, without a
 * study of its own.
 */
export const COLOUR_OBJECT_BUDGETS: Record<BudgetName, Budget> = {
  smoke: {
    ...BUDGETS.smoke,
    sampler: 'ddpm',
    samplerStudy: [],
    ks: [3, 6],
    scanKs: [3],
    controls: false,
    ltKs: [],
    ltBalancedK: null,
    ltScanKs: [],
    replicateSeeds: [],
  },
  small: {
    ...BUDGETS.small,
    sampler: 'ddpm',
    samplerStudy: [],
    sweepEvals: 2,
    encoderSteps: 3000,
    ks: [9, 90],
    scanKs: [9],
    ltKs: [],
    ltBalancedK: null,
    ltScanKs: [],
    replicateSeeds: [],
  },
  full: { ...BUDGETS.full, ks: [9, 90], scanKs: [9], ltKs: [], ltBalancedK: null, ltScanKs: [], replicateSeeds: [] },
};
