// metrics.json: what an evaluation measured, as evaluate() writes it and every report reads it back.
import { z } from 'zod';
import { SAMPLERS, type SamplerName } from '../diffusion/schedulers.js';
import { readJsonFile } from '../util/json-file.js';
import type { Consistency } from './consistency.js';
import type { PresenceMetrics } from './presence.js';

export interface LayoutMetrics {
  kind: 'boxes' | 'masks';
  /** the sample's foreground against the requested layout; chance: shuffled layouts; real: real images, own layouts */
  foreground: {
    iou: number;
    inside: number | null;
    chanceIou: number;
    chanceInside: number | null;
    realIou: number;
    realInside: number | null;
  };
  /** the same g and f on the samples against the requested layout (null when g could not be rebuilt) */
  selfConsistency: { value: number; chance: number; real: number } | null;
  /** mean pairwise evaluation-network feature distance of samples sharing a layout, and of random real images */
  diversity?: { samples: number; real: number; groups: number; per: number };
  /** pixels every layout was moved right and down before sampling (the shifted-box control) */
  shift?: number;
  method: string;
}

export interface EvalMetrics {
  checkpoint: string;
  step: number;
  condition: string;
  dataset: string;
  realImages: number;
  n: number;
  scale: number;
  sampler: SamplerName;
  steps: number;
  /** DDIM's eta (0 for the deterministic sampler) */
  eta: number;
  seed: number;
  /** Frechet distance per feature space: "evalnet" always */
  fd: { evalnet: number } & Record<string, number>;
  precision: number;
  recall: number;
  density: number;
  coverage: number;
  k: number;
  /** the Inception-Score analogue from the evaluation network */
  isEvalnet: number;
  /**
   * the evaluation network's mean largest class probability on the samples (a stable fidelity measure); for
   * the multi-label canvas judge, the mean of max(p, 1 - p) over samples and classes; IS is NaN there
   */
  confidence: number;
  /** recall restricted to the real images of each class (when the data has labels) */
  perClassRecall: { label: number; name: string | null; realImages: number; recall: number }[] | null;
  consistency: Consistency | null;
  /** box- and mask-guided models: do samples follow their layouts */
  layout?: LayoutMetrics;
  /** label-set guidance judged by a multi-label evaluation network (the canvas judge): are the classes asked for there */
  presence?: PresenceMetrics;
  seconds: { sampling: number; metrics: number };
  /** where the samples were drawn ("cpu", "cuda:0"); the seconds depend on it */
  device: string;
}

/** JSON writes NaN as null; read back it is NaN again. */
const num = z
  .number()
  .nullable()
  .transform((v) => v ?? NaN);

/** metrics.json as read back (files written before evaluation ran on CUDA have no device: the CPU). */
export const EvalMetricsFile = z.looseObject({
  checkpoint: z.string(),
  step: z.number().int().min(0),
  condition: z.string(),
  dataset: z.string(),
  realImages: z.number().int().min(0),
  n: z.number().int().positive(),
  scale: z.number(),
  sampler: z.enum(SAMPLERS as [SamplerName, ...SamplerName[]]),
  steps: z.number().int().positive(),
  // files written before these measures existed
  eta: z.number().min(0).default(0),
  seed: z.number().int().min(0),
  fd: z.object({ evalnet: num }).catchall(num),
  precision: num,
  recall: num,
  density: num,
  coverage: num,
  k: z.number().int().positive(),
  isEvalnet: num,
  confidence: z
    .number()
    .nullable()
    .optional()
    .transform((v) => v ?? NaN),
  perClassRecall: z
    .array(z.object({ label: z.number().int(), name: z.string().nullable(), realImages: z.number(), recall: num }))
    .nullable(),
  consistency: z
    .looseObject({
      kind: z.enum(['evalnet-label', 'self-label', 'feature-cosine']),
      value: num,
      chance: num,
      k: z.number().int().nullable(),
      method: z.string(),
    })
    .nullable(),
  seconds: z.object({ sampling: z.number(), metrics: z.number() }),
  device: z.string().default('cpu'),
});

/** Reads and validates a metrics.json written by evaluate(). */
export function readEvalMetrics(path: string): EvalMetrics {
  return readJsonFile(path, EvalMetricsFile) as EvalMetrics;
}

/** The name of an evaluation's folder under `<run>/eval/`: sampler, steps, eta, scale, samples, seed. */
export function evalRunName(o: {
  sampler: string;
  steps: number;
  eta?: number;
  scale: number;
  n: number;
  seed: number;
}): string {
  return `${o.sampler}${o.steps}${o.eta ? `-eta${o.eta}` : ''}-s${o.scale}-n${o.n}-seed${o.seed}`;
}
