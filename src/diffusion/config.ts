// The training configuration: what a run directory's config.json holds, validated with zod.
import { z } from 'zod';
import { DataSpec } from '../data/spec.js';
import { parseWith } from '../util/json-file.js';
import { UNET_PRESET_NAMES } from './unet.js';

export { DataSpec };

export const ConditionSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('none') }),
  z.object({ kind: z.literal('label') }),
  z.object({ kind: z.literal('file'), path: z.string() }),
]);
export type ConditionSpec = z.infer<typeof ConditionSpec>;

export const ModelSpec = z.object({
  preset: z.enum(UNET_PRESET_NAMES),
  condMode: z.enum(['concat', 'add']).optional(),
  baseChannels: z.number().int().positive().optional(),
  channelMult: z.array(z.number().int().positive()).optional(),
  numResBlocks: z.number().int().positive().optional(),
  attentionDs: z.array(z.number().int().positive()).optional(),
  numHeads: z.number().int().positive().optional(),
  dropout: z.number().min(0).max(1).optional(),
  scaleShiftNorm: z.boolean().optional(),
  resblockUpdown: z.boolean().optional(),
});
export type ModelSpec = z.infer<typeof ModelSpec>;

/**
 * The noise process. The defaults, cosine betas with v prediction, were chosen by the study in
 * docs/diffusion.md (LDM's linear + eps, the first default, gave colour fields on colour data and
 * twice the FD on Fashion-MNIST); a config.json always records all of it, so older runs keep theirs.
 */
export const DiffusionSpec = z
  .object({
    schedule: z.enum(['linear', 'ddpm-linear', 'cosine']).default('cosine'),
    T: z.number().int().positive().default(1000),
    prediction: z.enum(['eps', 'v']).default('v'),
    /** betas rescaled to zero terminal SNR (Lin et al.); run directories from before it train without */
    zeroTerminalSnr: z.boolean().default(false),
  })
  .refine((d) => !d.zeroTerminalSnr || d.prediction === 'v', {
    message: 'zero terminal SNR needs v prediction: at t = T the input is pure noise and an eps model cannot say x0',
    path: ['zeroTerminalSnr'],
  });

/** The optimisation and run settings (the CLI's defaults are read from here). */
export const TrainSettings = z.object({
  steps: z.number().int().positive(),
  batchSize: z.number().int().positive().default(64),
  lr: z.number().positive().default(3e-4),
  warmup: z.number().int().min(0).default(500),
  weightDecay: z.number().min(0).default(0.01),
  gradClip: z.number().positive().default(1),
  emaDecay: z.number().min(0).max(1).default(0.9999),
  emaWarmup: z.boolean().default(true),
  condDrop: z.number().min(0).max(1).default(0.1),
  hflip: z.boolean().default(false),
  seed: z.number().int().min(0).default(0),
  checkpointEvery: z.number().int().positive().default(500),
  logEvery: z.number().int().positive().default(50),
  keepCheckpoints: z.number().int().positive().default(2),
});

export const TrainConfig = z.object({
  data: DataSpec,
  condition: ConditionSpec.default({ kind: 'none' }),
  model: ModelSpec.default({ preset: 'small' }),
  diffusion: DiffusionSpec.default({ schedule: 'cosine', T: 1000, prediction: 'v', zeroTerminalSnr: false }),
  train: TrainSettings,
});
export type TrainConfig = z.infer<typeof TrainConfig>;
export type TrainConfigInput = z.input<typeof TrainConfig>;

export function parseTrainConfig(raw: unknown, source = 'config'): TrainConfig {
  return parseWith(TrainConfig, raw, source);
}
