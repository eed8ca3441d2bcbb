// Sampling a trained model: load a checkpoint (EMA weights by default), choose conditions, and run a
// sampler with classifier-free guidance in batches, seeded.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { hostRng, torchGenerator } from '../util/streams.js';
import { loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { oneHotVectors, type ConditionSet } from './conditions.js';
import { parseTrainConfig, type TrainConfig } from './config.js';
import { guidedEps } from './guidance.js';
import { numEvaluations, sample, type SamplerName } from './samplers.js';
import { NoiseSchedule } from './schedule.js';
import { UNet, type UNetConfig } from './unet.js';

export interface LoadedModel {
  model: UNet;
  schedule: NoiseSchedule;
  config: TrainConfig;
  step: number;
  path: string;
  /** where the network runs; generate() returns its images on the CPU */
  device: torch.Device;
  /** what the model was conditioned on: ids are one-hot of numIds classes/clusters when numIds is set */
  conditions: { source: string; numIds: number | null; oneHot: boolean };
  dispose(): void;
}

export function loadModel(pathOrRun: string, o: { ema?: boolean; device?: torch.Device } = {}): LoadedModel {
  const device = torch.parseDevice(o.device ?? 'cpu');
  const path = resolveCheckpoint(pathOrRun);
  const ck = loadCheckpoint(path);
  try {
    const config = parseTrainConfig(ck.meta.config, `${path} config`);
    const model = new UNet(ck.meta.unet as UNetConfig);
    model.loadStateDict(o.ema === false ? ck.model : ck.ema);
    model.eval().to(device);
    const schedule = new NoiseSchedule(config.diffusion.schedule, config.diffusion.T);
    const cinfo = (ck.meta.conditions ?? { source: 'none', numIds: null, oneHot: false }) as {
      source: string;
      numIds: number | null;
      oneHot?: boolean;
    };
    return {
      model,
      schedule,
      config,
      step: ck.step,
      path,
      device,
      conditions: { source: cinfo.source, numIds: cinfo.numIds, oneHot: cinfo.oneHot ?? cinfo.numIds !== null },
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
  const generator = torchGenerator(o.seed, 'sample.noise');
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
  const size = c.vectors?.shape[0] ?? c.maps?.shape[0];
  if (size === undefined) throw new Error('the training conditions are empty (an unconditional model)');
  const rng = hostRng(seed, 'sample.condition-rows');
  const rows = Int32Array.from({ length: n }, () => rng.int(size));
  return torch.tidy(() => {
    const idx = torch.tensor(rows).long();
    return {
      cond: c.vectors ? c.vectors.indexSelect(0, idx) : null,
      maps: c.maps ? c.maps.indexSelect(0, idx) : null,
      rows,
    };
  });
}
