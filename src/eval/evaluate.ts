// Evaluating a trained diffusion model as the paper does: draw n conditions from the training
// annotations, sample n images with guidance, and compare them with the real training distribution:
// Frechet distance on the evaluation network's features (FD-evalnet, never called FID) and on any other
// feature spaces given, precision/recall/density/coverage, the Inception-Score analogue, per-class recall
// where the data has labels, and condition consistency. The real features are cached per extractor and
// dataset, so a second evaluation against the same data costs only the sampling.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { saveGrid } from '../data/png.js';
import type { ImageDataset } from '../data/dataset.js';
import { toPixels } from '../data/dataset.js';
import { loadDataset } from '../data/spec.js';
import { drawConditions, generate, loadModel, type LoadedModel } from '../diffusion/pipeline.js';
import type { SamplerName } from '../diffusion/samplers.js';
import { buildConditions } from '../diffusion/conditions.js';
import type { FeatureExtractor } from '../features/extract.js';
import { embedImages, extractFeatures } from '../features/extract.js';
import { loadFeatures } from '../features/features-file.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { hostRng } from '../util/streams.js';
import { writeJsonFile } from '../util/json-file.js';
import type { EvalMetrics, LayoutMetrics } from './metrics-file.js';
import { foregroundObjects, objectCrops } from './object-fd.js';
import { sceneBoxes } from '../data/scene-annotations.js';
import { layoutsBesideSamples } from '../diffusion/layout.js';
import {
  derangement,
  foreground,
  foregroundScore,
  groupDiversity,
  layoutsOf,
  LayoutJudge,
  shiftMaps,
} from './layout-following.js';
import type { ConditionSet } from '../diffusion/conditions.js';
import {
  inceptionScore,
  labelJudge,
  meanMaxSoftmax,
  multiLabelConfidence,
  selfLabelJudge,
  type Consistency,
} from './consistency.js';
import { EvalNetFeatures, evalnetOutputs, judgeForeground, type EvalNet } from './evalnet.js';
import { disposeStats, featureStats, frechetDistance, loadStats, saveStats, type GaussianStats } from './frechet.js';
import { prdc } from './prdc.js';
import { presenceStage } from './presence.js';

export interface FeatureSpace {
  /** short name used in the metrics ("ssl", "inception", ...) */
  name: string;
  make: () => FeatureExtractor | Promise<FeatureExtractor>;
}

export interface EvaluateOptions {
  checkpoint: string;
  /** the evaluation network's run directory or checkpoint */
  evalnet: string;
  n: number;
  scale: number;
  sampler: SamplerName;
  steps: number;
  /** DDIM's stochasticity (0 deterministic, 1 DDPM-like); other samplers ignore it */
  eta?: number;
  seed?: number;
  batchSize?: number;
  /** k of the k-NN balls of precision/recall/density/coverage */
  k?: number;
  /** where real-set features and statistics are cached */
  cacheDir: string;
  /** writes metrics.json, samples.safetensors (uint8) and samples.png here */
  out?: string;
  /** more feature spaces for the Frechet distance (an SSL encoder, a TorchScript Inception, ...) */
  extraFeatures?: FeatureSpace[];
  /** where the diffusion model samples (the metrics run on the CPU); default cpu */
  device?: torch.Device;
  /** box- and mask-guided models: move every drawn layout by this many pixels right and down before sampling (the shifted-box control) */
  shiftLayouts?: number;
  log?: (msg: string) => void;
}

function cacheKey(ex: FeatureExtractor, data: unknown): string {
  return createHash('sha256')
    .update(JSON.stringify({ ex: ex.provenance(), data }))
    .digest('hex')
    .slice(0, 16);
}

/** Features of every real image and their Gaussian statistics, computed once and cached. */
export function realFeatures(
  ds: ImageDataset,
  ex: FeatureExtractor,
  dataSpec: unknown,
  cacheDir: string,
): { features: Tensor; stats: GaussianStats } {
  mkdirSync(cacheDir, { recursive: true });
  const base = join(cacheDir, `real-${ex.name}-${cacheKey(ex, dataSpec)}`);
  const featPath = `${base}.safetensors`,
    statsPath = `${base}.stats.safetensors`;
  const features = existsSync(featPath)
    ? loadFeatures(featPath, { dataset: ds }).features
    : torch.noGrad(
        () =>
          extractFeatures(ds, ex, {
            out: featPath,
            progress: false,
            extraProvenance: { dataSpec: JSON.stringify(dataSpec) },
          }).features,
      );
  if (existsSync(statsPath)) return { features, stats: loadStats(statsPath).stats };
  const stats = featureStats(features);
  saveStats(statsPath, stats, { dataset: ds.info.name, extractor: ex.name });
  return { features, stats };
}

/** Up to `perId` samples of each of the first `maxIds` ids (rows of the grid), or the first samples. */
function gridOrder(ids: Int32Array | null, n: number, perId = 8, maxIds = 10): Int32Array {
  if (!ids) return Int32Array.from({ length: Math.min(n, perId * maxIds) }, (_, i) => i);
  const byId = new Map<number, number[]>();
  ids.forEach((id, i) => {
    const l = byId.get(id) ?? [];
    if (l.length < perId) l.push(i);
    byId.set(id, l);
  });
  const chosen = [...byId.keys()]
    .sort((a, b) => a - b)
    .filter((id) => byId.get(id)!.length === perId)
    .slice(0, maxIds);
  if (chosen.length > 0) return Int32Array.from(chosen.flatMap((id) => byId.get(id)!));
  // Too few samples for full rows: all of them in id order.
  return Int32Array.from([...ids.keys()].sort((a, b) => ids[a]! - ids[b]! || a - b).slice(0, perId * maxIds));
}

/** Conditions drawn from the training annotations (rows of the condition set), as the sampler takes them. */
export type DrawnConditions = ReturnType<typeof drawConditions>;

export interface SampleSettings {
  n: number;
  scale: number;
  sampler: SamplerName;
  steps: number;
  eta: number;
  seed: number;
  batchSize: number;
}

/**
 * Stage 1, sample: n conditions drawn from the training annotations (layouts moved by `shift` pixels
 * right and down for the shifted-box control) and the images the model makes from them. `drawn` is null
 * for an unconditional model; the caller owns the tensors.
 */
export function sampleStage(
  m: LoadedModel,
  conditions: ConditionSet,
  s: SampleSettings,
  shift = 0,
): { drawn: DrawnConditions | null; samples: Tensor; seconds: number } {
  const conditional = m.model.config.condDim > 0 || m.model.config.spatialCondChannels > 0;
  const drawn = conditional ? drawConditions(conditions, s.n, s.seed) : null;
  if (shift) {
    if (!drawn?.maps || layoutKind(conditions, drawn) === null)
      throw new Error('--shift-layouts applies to box- and mask-guided models only');
    const moved = shiftMaps(drawn.maps, shift, shift);
    drawn.maps.dispose();
    drawn.maps = moved;
  }
  const t0 = performance.now();
  const samples = generate(m, { ...s, cond: drawn?.cond ?? null, maps: drawn?.maps ?? null });
  return { drawn, samples, seconds: (performance.now() - t0) / 1000 };
}

/** Whether drawn conditions guide by layouts (boxes or masks), and which. */
const layoutKind = (c: ConditionSet, drawn: DrawnConditions | null): 'boxes' | 'masks' | null =>
  (c.meta.kind === 'boxes' || c.meta.kind === 'masks') && drawn?.maps ? c.meta.kind : null;

/**
 * Stage 2, features: the evaluation network's features and logits of the samples. The real set's are
 * realFeatures' (cached per extractor and dataset).
 */
export function featureStage(evalnet: EvalNetFeatures, samples: Tensor): { features: Tensor; logits: Tensor } {
  return evalnetOutputs(evalnet.net, samples);
}

/** Stage 3, distances: the Frechet distance between the real set's statistics and the sample features'. */
export function distanceStage(real: GaussianStats, fake: Tensor): number {
  const stats = featureStats(fake);
  try {
    return frechetDistance(real, stats);
  } finally {
    disposeStats(stats);
  }
}

/** Stage 3 in another feature space (an SSL encoder, a TorchScript Inception): the FD of the samples there. */
export async function extraDistance(
  space: FeatureSpace,
  ds: ImageDataset,
  samples: Tensor,
  dataSpec: unknown,
  cacheDir: string,
): Promise<number> {
  const ex = await space.make();
  try {
    const r = realFeatures(ds, ex, dataSpec, cacheDir);
    const f = embedImages(ex, samples);
    try {
      return distanceStage(r.stats, f);
    } finally {
      disposeStats(r.stats);
      r.features.dispose();
      f.dispose();
    }
  } finally {
    ex.dispose?.();
  }
}

/**
 * Stage 3 on scenes: the FD of the samples' foreground objects against the hidden objects of the real
 * canvases `rows`, on the evaluation network's features; null when either side has under two objects.
 */
export function objectDistance(
  ds: ImageDataset,
  rows: ArrayLike<number>,
  samples: Tensor,
  evalnet: EvalNetFeatures,
): number | null {
  const realImgs = ds.images(Array.from(rows));
  const realCrops = objectCrops(realImgs, sceneBoxes(ds.scene!, rows));
  const sampleCrops = objectCrops(
    samples,
    foregroundObjects(foregroundBy(evalnet.net)(samples), samples.shape[0]!, ds.size),
  );
  try {
    if (!realCrops || !sampleCrops || realCrops.shape[0]! < 2 || sampleCrops.shape[0]! < 2) return null;
    const fr = evalnetOutputs(evalnet.net, realCrops),
      fs = evalnetOutputs(evalnet.net, sampleCrops);
    const sr = featureStats(fr.features);
    try {
      return distanceStage(sr, fs.features);
    } finally {
      disposeStats(sr);
      for (const t of [fr.features, fr.logits, fs.features, fs.logits]) t.dispose();
    }
  } finally {
    for (const t of [realImgs, realCrops, sampleCrops]) t?.dispose();
  }
}

/**
 * Stage 4, precision/recall/density/coverage of the samples against as many real images (rows drawn
 * from the seed's stream), with each class's recall where the data has labels.
 */
export function precisionRecallStage(
  ds: ImageDataset,
  realFeats: Tensor,
  fake: Tensor,
  k: number,
  seed: number,
): ReturnType<typeof prdc> & { rows: Int32Array; perClassRecall: EvalMetrics['perClassRecall'] } {
  const n = fake.shape[0]!;
  const rows = hostRng(seed, 'eval.real-rows').permutation(ds.length).slice(0, Math.min(n, ds.length));
  const subset = torch.tidy(() => realFeats.indexSelect(0, torch.tensor(rows).long()));
  try {
    const pr = prdc(subset, fake, k);
    return { ...pr, rows, perClassRecall: perClassRecall(ds, rows, pr.recalled) };
  } finally {
    subset.dispose();
  }
}

/** Each class's share of its real images that the samples' k-NN balls reach (null without labels). */
export function perClassRecall(
  ds: Pick<ImageDataset, 'labels' | 'numClasses' | 'classNames'>,
  rows: ArrayLike<number>,
  recalled: ArrayLike<number>,
): EvalMetrics['perClassRecall'] {
  if (!ds.labels || !ds.numClasses) return null;
  const count = new Array<number>(ds.numClasses).fill(0),
    hit = new Array<number>(ds.numClasses).fill(0);
  for (let i = 0; i < rows.length; i++) {
    const l = ds.labels[rows[i]!]!;
    count[l]!++;
    hit[l]! += recalled[i]!;
  }
  return count.map((c, l) => ({
    label: l,
    name: ds.classNames?.[l] ?? null,
    realImages: c,
    recall: c > 0 ? hit[l]! / c : Number.NaN,
  }));
}

/**
 * Stage 5, consistency: do the samples carry the labels they were asked for? By the evaluation network
 * for ground-truth labels, by g and f again for self-labels; null where neither applies (multi-label).
 */
export async function consistencyStage(
  conditions: ConditionSet,
  evalnet: EvalNetFeatures,
  samples: Tensor,
  rows: Int32Array,
  seed: number,
): Promise<Consistency | null> {
  if (conditions.meta.multiLabel === 'true') return null;
  const judge =
    conditions.source === 'label' ? labelJudge(conditions, evalnet.net) : await selfLabelJudge(conditions, seed);
  try {
    return judge ? judge.score(samples, rows) : null;
  } finally {
    judge?.dispose();
  }
}

/**
 * Stage 6, layout: how well the samples follow their boxes or masks (layoutMetrics), and how diverse the
 * samples of one layout are (8 samples for each of 8 layouts) beside real images grouped alike.
 */
export async function layoutStage(
  m: LoadedModel,
  drawn: DrawnConditions,
  samples: Tensor,
  conditions: ConditionSet,
  ds: ImageDataset,
  evalnet: EvalNetFeatures,
  s: SampleSettings,
  shift: number,
  log: (msg: string) => void,
): Promise<LayoutMetrics> {
  const kind = layoutKind(conditions, drawn)!;
  log('layout following: foreground and self-consistency against the requested layouts, shuffled, and real');
  const layout = await layoutMetrics(samples, drawn.maps!, drawn.rows, kind, conditions, ds, s.seed, evalnet.net);
  layout.shift = shift;
  log('diversity: 8 samples for each of 8 layouts, mean pairwise distance of their evaluation-network features');
  const per = 8,
    groups = Math.min(8, s.n);
  const rep = torch.tensor(Int32Array.from({ length: groups * per }, (_, i) => Math.floor(i / per))).long();
  const cond = drawn.cond ? drawn.cond.indexSelect(0, rep) : null;
  const maps = drawn.maps!.indexSelect(0, rep);
  const same = generate(m, { ...s, n: groups * per, cond, maps, seed: s.seed + 1 });
  const realRows = hostRng(s.seed, 'eval.real-rows')
    .permutation(ds.length)
    .slice(0, groups * per);
  const realGroups = ds.images(Array.from(realRows));
  const fSame = evalnetOutputs(evalnet.net, same),
    fReal = evalnetOutputs(evalnet.net, realGroups);
  layout.diversity = {
    samples: groupDiversity(fSame.features, per),
    real: groupDiversity(fReal.features, per),
    groups,
    per,
  };
  for (const t of [rep, cond, maps, same, realGroups, fSame.features, fSame.logits, fReal.features, fReal.logits])
    t?.dispose();
  return layout;
}

/**
 * Writes an evaluation's folder as one unit: metrics.json goes first and comes back last, so an
 * interruption while the samples are written leaves no metrics beside samples they were not measured on
 * (and the runners, which skip an evaluation that has metrics.json, make it again).
 */
async function writeEvaluation(
  out: string,
  metrics: EvalMetrics,
  samples: Tensor,
  drawn: DrawnConditions | null,
  conditions: ConditionSet,
): Promise<void> {
  mkdirSync(out, { recursive: true });
  rmSync(join(out, 'metrics.json'), { force: true });
  const pixels = toPixels(samples);
  const ids = drawn && conditions.ids ? Int32Array.from(drawn.rows, (r) => conditions.ids![r]!) : null;
  const gridImages = samples.indexSelect(0, torch.tensor(gridOrder(ids, metrics.n)).long());
  try {
    const meta: Record<string, string> = {
      checkpoint: metrics.checkpoint,
      step: String(metrics.step),
      scale: String(metrics.scale),
      sampler: `${metrics.sampler}-${metrics.steps}`,
      seed: String(metrics.seed),
    };
    const tensors: Record<string, Tensor> = { images: pixels };
    let rowsT: Tensor | null = null;
    if (drawn) tensors.rows = rowsT = torch.tensor(drawn.rows);
    torch.safetensors.saveFile(join(out, 'samples.safetensors'), tensors, meta);
    rowsT?.dispose();
    await saveGrid(gridImages, join(out, 'samples.png'), { nrow: 8, scale: 2 });
    if (metrics.layout && drawn?.maps) {
      // The first 16 layouts, each beside the sample made from it.
      const pairs = layoutsBesideSamples(drawn.maps, samples, 16);
      await saveGrid(pairs, join(out, 'layouts.png'), { nrow: 8, scale: 2 });
      pairs.dispose();
    }
  } finally {
    pixels.dispose();
    gridImages.dispose();
  }
  writeJsonFile(join(out, 'metrics.json'), metrics);
}

/** The rule on the sample count: precision/recall's k-NN balls need more than k samples. */
export const enoughSamples = (n: number, k: number): boolean => Number.isInteger(n) && n > k;

/**
 * A trained diffusion model evaluated as the paper does (the stages above, in order): samples from
 * conditions drawn from the training annotations, their distance to the real set, precision/recall,
 * and whether they follow their conditions (labels or layouts). Writes the folder `o.out` when given.
 */
export async function evaluate(o: EvaluateOptions): Promise<EvalMetrics> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const k = o.k ?? 5;
  if (!enoughSamples(o.n, k)) throw new RangeError(`--n must be an integer above k = ${k}, got ${o.n}`);
  const s: SampleSettings = {
    n: o.n,
    scale: o.scale,
    sampler: o.sampler,
    steps: o.steps,
    eta: o.eta ?? 0,
    seed: o.seed ?? 0,
    batchSize: o.batchSize ?? 32,
  };
  const m = loadModel(o.checkpoint, { device: o.device });
  const ds = await loadDataset(m.config.data, log);
  const conditions = buildConditions(m.config.condition, ds);
  const evalnet = new EvalNetFeatures(o.evalnet);
  const owned: Tensor[] = [];
  try {
    if (evalnet.net.inChannels !== ds.channels)
      throw new Error(
        `the evaluation network takes ${evalnet.net.inChannels}-channel images, the model makes ${ds.channels}`,
      );
    log(
      `sampling ${o.n} images from ${m.path} (step ${m.step}, ${o.sampler}-${o.steps}, scale ${o.scale}, conditions: ${conditions.source})`,
    );
    const { drawn, samples, seconds } = sampleStage(m, conditions, s, o.shiftLayouts ?? 0);
    owned.push(samples, ...[drawn?.cond, drawn?.maps].filter((t): t is Tensor => !!t));
    const t1 = performance.now();
    log('metrics: real-set features (cached after the first time), sample features, FD, PRDC');
    const real = realFeatures(ds, evalnet, m.config.data, o.cacheDir);
    const fake = featureStage(evalnet, samples);
    owned.push(real.features, real.stats.mu, real.stats.sigma, fake.features, fake.logits);
    const fd: EvalMetrics['fd'] = { evalnet: distanceStage(real.stats, fake.features) };
    const pr = precisionRecallStage(ds, real.features, fake.features, k, s.seed);
    for (const space of o.extraFeatures ?? [])
      fd[space.name] = await extraDistance(space, ds, samples, m.config.data, o.cacheDir);
    if (ds.scene) {
      const objects = objectDistance(ds, pr.rows, samples, evalnet);
      if (objects !== null) fd.objects = objects;
    }
    const layout =
      drawn && layoutKind(conditions, drawn)
        ? await layoutStage(m, drawn, samples, conditions, ds, evalnet, s, o.shiftLayouts ?? 0, log)
        : null;
    const consistency =
      drawn && !layout ? await consistencyStage(conditions, evalnet, samples, drawn.rows, s.seed) : null;
    const presence =
      drawn && !layout ? presenceStage(evalnet.net, conditions, ds, fake.logits, drawn.rows, s.seed) : null;
    const multi = evalnet.net.multiLabel;
    const metrics: EvalMetrics = {
      checkpoint: m.path,
      step: m.step,
      condition: conditions.source,
      dataset: ds.info.name,
      realImages: ds.length,
      n: s.n,
      scale: s.scale,
      sampler: s.sampler,
      steps: s.steps,
      eta: s.eta,
      seed: s.seed,
      fd,
      precision: pr.precision,
      recall: pr.recall,
      density: pr.density,
      coverage: pr.coverage,
      k,
      // A multi-label judge has no one class per image: no IS; its confidence is per class decision.
      isEvalnet: multi ? NaN : inceptionScore(fake.logits),
      confidence: multi ? multiLabelConfidence(fake.logits) : meanMaxSoftmax(fake.logits),
      perClassRecall: pr.perClassRecall,
      consistency,
      ...(layout ? { layout } : {}),
      ...(presence ? { presence } : {}),
      seconds: { sampling: seconds, metrics: (performance.now() - t1) / 1000 },
      device: m.device,
    };
    if (o.out) await writeEvaluation(o.out, metrics, samples, drawn, conditions);
    return metrics;
  } finally {
    for (const t of owned) t.dispose();
    evalnet.dispose();
    conditions.vectors?.dispose();
    conditions.maps?.dispose();
    ds.dispose();
    m.dispose();
  }
}

export { METRICS_HEADER, metricsRow } from './format.js';
export { EvalMetricsFile, evalRunName, readEvalMetrics, type EvalMetrics } from './metrics-file.js';

/**
 * How a sample's foreground is found: by the judge's foreground head when it has one (canvases whose
 * background no brightness threshold separates, as colour scenes), else by the brightness threshold.
 */
function foregroundBy(judge: EvalNet): (images: Tensor) => Uint8Array {
  return judge.foreground ? (images) => judgeForeground(judge, images) : (images) => foreground(images);
}

/** Layout following of samples (see layout-following.ts), with its chance level and the real upper bound. */
async function layoutMetrics(
  samples: Tensor,
  maps: Tensor,
  rows: Int32Array,
  kind: 'boxes' | 'masks',
  conditions: ConditionSet,
  ds: ImageDataset,
  seed: number,
  judge: EvalNet,
): Promise<LayoutMetrics> {
  const l = layoutsOf(maps, kind);
  const foreground = foregroundBy(judge);
  const n = rows.length;
  const same = Array.from({ length: n }, (_, i) => i);
  const shuffled = derangement(n, seed);
  const real = ds.images(rows);
  try {
    const fgS = foreground(samples),
      fgR = foreground(real);
    const asked = foregroundScore(fgS, l, same),
      chance = foregroundScore(fgS, l, shuffled),
      upper = foregroundScore(fgR, l, same);
    let self: LayoutMetrics['selfConsistency'] = null;
    try {
      const judge = await LayoutJudge.fromConditionFile(conditions.source, conditions.meta);
      try {
        self = {
          value: judge.score(samples, l, same),
          chance: judge.score(samples, l, shuffled),
          real: judge.score(real, l, same),
        };
      } finally {
        judge.dispose();
      }
    } catch (e) {
      process.stderr.write(`layout self-consistency not measured: ${(e as Error).message}\n`);
    }
    return {
      kind,
      foreground: {
        iou: asked.iou,
        inside: asked.inside,
        chanceIou: chance.iou,
        chanceInside: chance.inside,
        realIou: upper.iou,
        realInside: upper.inside,
      },
      selfConsistency: self,
      method: `foreground (${judge.foreground ? "the judge's foreground head, probability above 1/2" : 'pixels above 0.25'}) ${
        kind === 'boxes'
          ? 'bounding box vs the requested box; self-consistency: box IoU of LOST on g(sample)'
          : "vs the requested mask's non-background segments; self-consistency: per-segment IoU of f(g(sample)) with the requested segments"
      }`,
    };
  } finally {
    real.dispose();
  }
}
