// Sampling a trained model: load a checkpoint (EMA weights by default), choose conditions, and run a
// sampler with classifier-free guidance in batches, seeded.
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { hostRng } from '../util/streams.js';
import { checkpointMeta, loadCheckpoint, readCheckpointMeta, resolveCheckpoint } from '../train/checkpoint.js';
import { loadDataset } from '../data/spec.js';
import {
  buildConditions,
  disposeConditions,
  gatherConditions,
  oneHotVectors,
  type ConditionSet,
} from './conditions.js';
import { TrainConfig } from './config.js';
import { guidedEps } from './guidance.js';
import { numEvaluations, sample, type SamplerName } from './samplers.js';
import { NoiseSchedule } from './schedule.js';
import { UNet, UNetConfig } from './unet.js';

/** What a diffusion checkpoint says about its conditions. */
const CheckpointConditions = z
  .object({
    source: z.string(),
    numIds: z.number().int().positive().nullable(),
    oneHot: z.boolean().optional(),
    meta: z.record(z.string(), z.string()).optional(),
  })
  .default({ source: 'none', numIds: null, oneHot: false });

/**
 * What a diffusion checkpoint's metadata says of its network and conditions, validated with the schemas
 * loadModel uses, without reading a tensor (for pages and listings that describe a model).
 */
export function readModelMeta(checkpoint: string): {
  unet: UNetConfig;
  conditions: z.output<typeof CheckpointConditions>;
} {
  return {
    unet: readCheckpointMeta(checkpoint, 'unet', UNetConfig),
    conditions: readCheckpointMeta(checkpoint, 'conditions', CheckpointConditions),
  };
}

export interface LoadedModel {
  model: UNet;
  schedule: NoiseSchedule;
  config: TrainConfig;
  step: number;
  path: string;
  /** where the network runs; generate() returns its images on the CPU */
  device: torch.Device;
  /** what the model was conditioned on: ids are one-hot of numIds classes/clusters when numIds is set */
  conditions: { source: string; numIds: number | null; oneHot: boolean; meta: Record<string, string> };
  dispose(): void;
}

export function loadModel(pathOrRun: string, o: { ema?: boolean; device?: torch.Device } = {}): LoadedModel {
  const device = torch.parseDevice(o.device ?? 'cpu');
  const path = resolveCheckpoint(pathOrRun);
  const ck = loadCheckpoint(path);
  try {
    const config = checkpointMeta(ck, 'config', TrainConfig);
    const model = new UNet(checkpointMeta(ck, 'unet', UNetConfig));
    model.loadStateDict(o.ema === false ? ck.model : ck.ema);
    model.eval().to(device);
    const schedule = new NoiseSchedule(config.diffusion.schedule, config.diffusion.T, {
      zeroTerminalSnr: config.diffusion.zeroTerminalSnr,
    });
    const cinfo = checkpointMeta(ck, 'conditions', CheckpointConditions);
    return {
      model,
      schedule,
      config,
      step: ck.step,
      path,
      device,
      conditions: {
        source: cinfo.source,
        numIds: cinfo.numIds,
        oneHot: cinfo.oneHot ?? cinfo.numIds !== null,
        meta: cinfo.meta ?? {},
      },
      dispose: () => {
        model.dispose();
        schedule.dispose();
      },
    };
  } finally {
    ck.dispose();
  }
}

export interface GenerateOptions {
  n: number;
  /** [n, D] condition vectors (or null for an unconditional model) */
  cond: Tensor | null;
  /** [n, K, H, W] condition maps, or null */
  maps?: Tensor | null;
  scale: number;
  sampler: SamplerName;
  steps: number;
  eta?: number;
  seed: number;
  batchSize?: number;
  clipX0?: boolean;
  /** guidance rescale phi in [0, 1] (see GuidanceOptions.rescale); 0 by default */
  guidanceRescale?: number;
  onProgress?: (done: number, total: number) => void;
}

/** n images [n, C, H, W] in [-1, 1]. The same seed and options give the same images. */
export function generate(m: LoadedModel, o: GenerateOptions): Tensor {
  const cfg = m.model.config;
  if (cfg.condDim > 0 && !o.cond)
    throw new Error(`this model is conditional (condition size ${cfg.condDim}); give conditions`);
  if (o.cond && o.cond.shape[0] !== o.n) throw new RangeError(`${o.cond.shape[0]} conditions for ${o.n} images`);
  if (cfg.condDim === 0 && o.cond) throw new Error('this model is unconditional; it takes no conditions');
  const bs = o.batchSize ?? 64;
  // A batch of 0 would loop forever; a fractional one would make ragged batches.
  if (!Number.isInteger(bs) || bs < 1) throw new RangeError(`batchSize must be a positive integer, got ${bs}`);
  const generator = torch.streamGenerator(o.seed, 'sample.noise');
  const denoise = (x: Tensor, t: Tensor, c: Tensor | null, mp: Tensor | null) => m.model.call(x, t, c, mp);
  const chunks: Tensor[] = [];
  const totalEvals = Math.ceil(o.n / bs) * numEvaluations(o.sampler, o.steps);
  let done = 0;
  try {
    for (let start = 0; start < o.n; start += bs) {
      const len = Math.min(bs, o.n - start);
      const out = torch.tidy(() => {
        const cond = o.cond ? o.cond.narrow(0, start, len).to(m.device) : null;
        const maps = o.maps ? o.maps.narrow(0, start, len).to({ dtype: 'float32', device: m.device }) : null;
        const eps = guidedEps(denoise, m.schedule, {
          scale: o.scale,
          cond,
          maps,
          prediction: m.config.diffusion.prediction,
          rescale: o.guidanceRescale,
        });
        return sample(m.schedule, eps, [len, cfg.channels, cfg.imageSize, cfg.imageSize], {
          sampler: o.sampler,
          steps: o.steps,
          eta: o.eta,
          generator,
          clipX0: o.clipX0,
          device: m.device,
          onStep: () => o.onProgress?.(++done, totalEvals),
        }).cpu();
      });
      chunks.push(out);
    }
    return torch.cat(chunks, 0).clamp(-1, 1);
  } finally {
    for (const c of chunks) c.dispose();
  }
}

/** One-hot conditions for the given ids (class or cluster per image). */
export function idConditions(ids: number[], numIds: number): Tensor {
  return oneHotVectors(Int32Array.from(ids), numIds);
}

/** n conditions drawn at random (seeded) from a training condition set, as the paper samples. */
export function drawConditions(
  c: ConditionSet,
  n: number,
  seed: number,
): { cond: Tensor | null; maps: Tensor | null; rows: Int32Array } {
  const size = c.vectors?.shape[0] ?? c.maps?.shape[0] ?? c.segments?.shape[0];
  if (size === undefined) throw new Error('the training conditions are empty (an unconditional model)');
  const rng = hostRng(seed, 'sample.condition-rows');
  const rows = Int32Array.from({ length: n }, () => rng.int(size));
  return { ...gatherConditions(c, rows), rows };
}

/** A sampling request the model cannot serve (ids of an unconditional model, an id out of range, ...). */
export class ConditionRequestError extends RangeError {
  constructor(msg: string) {
    super(msg);
    this.name = 'ConditionRequestError';
  }
}

export interface SamplingConditions {
  n: number;
  /** images per grid row: perId for ids, about sqrt(n) otherwise */
  nrow: number;
  cond: Tensor | null;
  maps: Tensor | null;
}

/**
 * The conditions to sample with: `perId` images of each of `ids` (one-hot ids of a class- or
 * cluster-guided model), or else `n` conditions drawn (seeded) from the model's training annotations, as
 * the paper samples; none for an unconditional model.
 */
export async function samplingConditions(
  m: LoadedModel,
  o: { ids?: number[]; perId?: number; n?: number; seed: number },
): Promise<SamplingConditions> {
  const conditional = m.model.config.condDim > 0 || m.model.config.spatialCondChannels > 0;
  if (o.ids !== undefined) {
    const numIds = m.conditions.numIds;
    if (!conditional) throw new ConditionRequestError('this model is unconditional: --ids does not apply');
    if (numIds === null || !m.conditions.oneHot)
      throw new ConditionRequestError(
        `this model's conditions (${m.conditions.source}) are not one-hot ids; leave out --ids to draw them from the training conditions`,
      );
    if (m.model.config.spatialCondChannels > 0)
      throw new ConditionRequestError(
        'this model also needs spatial maps; leave out --ids to draw them from the training conditions',
      );
    const bad = o.ids.find((i) => i >= numIds);
    if (bad !== undefined)
      throw new ConditionRequestError(`id ${bad} is out of range: the model knows ${numIds} ids (0-${numIds - 1})`);
    const per = o.perId ?? 1;
    const n = o.ids.length * per;
    if (n < 1) throw new ConditionRequestError('nothing to sample (n must be >= 1)');
    return {
      n,
      nrow: per,
      cond: idConditions(
        o.ids.flatMap((i) => Array<number>(per).fill(i)),
        numIds,
      ),
      maps: null,
    };
  }
  const n = o.n ?? 1;
  if (n < 1) throw new ConditionRequestError('nothing to sample (n must be >= 1)');
  const nrow = Math.ceil(Math.sqrt(n));
  if (!conditional) return { n, nrow, cond: null, maps: null };
  const ds = await loadDataset(m.config.data);
  const set = buildConditions(m.config.condition, ds);
  try {
    const drawn = drawConditions(set, n, o.seed);
    return { n, nrow, cond: drawn.cond, maps: drawn.maps };
  } finally {
    disposeConditions(set);
    ds.dispose();
  }
}
