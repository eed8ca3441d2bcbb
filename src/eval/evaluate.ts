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
import { drawConditions, generate, loadModel } from '../diffusion/pipeline.js';
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
import { sceneBoxes } from '../data/scenes.js';
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
  selfLabelJudge,
  type Consistency,
  type ConsistencyJudge,
} from './consistency.js';
import { EvalNetFeatures, evalnetOutputs } from './evalnet.js';
import { disposeStats, featureStats, frechetDistance, loadStats, saveStats, type GaussianStats } from './frechet.js';
import { prdc } from './prdc.js';

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

export async function evaluate(o: EvaluateOptions): Promise<EvalMetrics> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const seed = o.seed ?? 0;
  const k = o.k ?? 5;
  if (!Number.isInteger(o.n) || o.n <= k) throw new RangeError(`--n must be an integer above k = ${k}, got ${o.n}`);
  const m = loadModel(o.checkpoint, { device: o.device });
  const ds = await loadDataset(m.config.data, log);
  const conditions = buildConditions(m.config.condition, ds);
  const evalnet = new EvalNetFeatures(o.evalnet);
  const owned: Tensor[] = [];
  let judge: ConsistencyJudge | null = null;
  try {
    if (evalnet.net.inChannels !== ds.channels)
      throw new Error(
        `the evaluation network takes ${evalnet.net.inChannels}-channel images, the model makes ${ds.channels}`,
      );
    // 1. Samples, conditioned on conditions drawn from the training annotations.
    const drawn =
      m.model.config.condDim > 0 || m.model.config.spatialCondChannels > 0
        ? drawConditions(conditions, o.n, seed)
        : null;
    const spatialKind = conditions.meta.kind;
    const layoutGuided = (spatialKind === 'boxes' || spatialKind === 'masks') && drawn?.maps;
    if (drawn && layoutGuided && o.shiftLayouts) {
      const moved = shiftMaps(drawn.maps!, o.shiftLayouts, o.shiftLayouts);
      drawn.maps!.dispose();
      drawn.maps = moved;
    } else if (o.shiftLayouts) throw new Error('--shift-layouts applies to box- and mask-guided models only');
    if (drawn) owned.push(...[drawn.cond, drawn.maps].filter((t): t is Tensor => t !== null));
    log(
      `sampling ${o.n} images from ${m.path} (step ${m.step}, ${o.sampler}-${o.steps}, scale ${o.scale}, conditions: ${conditions.source})`,
    );
    const t0 = performance.now();
    const samples = generate(m, {
      n: o.n,
      cond: drawn?.cond ?? null,
      maps: drawn?.maps ?? null,
      scale: o.scale,
      sampler: o.sampler,
      steps: o.steps,
      eta: o.eta ?? 0,
      seed,
      batchSize: o.batchSize ?? 32,
    });
    owned.push(samples);
    const samplingSeconds = (performance.now() - t0) / 1000;
    const t1 = performance.now();

    // 2. Distribution metrics on the evaluation network's features.
    log('metrics: real-set features (cached after the first time), sample features, FD, PRDC');
    const real = realFeatures(ds, evalnet, m.config.data, o.cacheDir);
    owned.push(real.features, real.stats.mu, real.stats.sigma);
    const { features: fake, logits } = evalnetOutputs(evalnet.net, samples);
    owned.push(fake, logits);
    const fakeStats = featureStats(fake);
    const fd: EvalMetrics['fd'] = { evalnet: frechetDistance(real.stats, fakeStats) };
    disposeStats(fakeStats);
    const realRows = hostRng(seed, 'eval.real-rows').permutation(ds.length).slice(0, Math.min(o.n, ds.length));
    const realSubset = torch.tidy(() => real.features.indexSelect(0, torch.tensor(realRows).long()));
    owned.push(realSubset);
    const pr = prdc(realSubset, fake, k);
    const isEvalnet = inceptionScore(logits);
    const confidence = meanMaxSoftmax(logits);
    let perClassRecall: EvalMetrics['perClassRecall'] = null;
    if (ds.labels && ds.numClasses) {
      const count = new Array<number>(ds.numClasses).fill(0),
        hit = new Array<number>(ds.numClasses).fill(0);
      realRows.forEach((r, i) => {
        const l = ds.labels![r]!;
        count[l]!++;
        hit[l]! += pr.recalled[i]!;
      });
      perClassRecall = count.map((c, l) => ({
        label: l,
        name: ds.classNames?.[l] ?? null,
        realImages: c,
        recall: c > 0 ? hit[l]! / c : Number.NaN,
      }));
    }

    // 3. Other feature spaces.
    for (const space of o.extraFeatures ?? []) {
      const ex = await space.make();
      try {
        const r = realFeatures(ds, ex, m.config.data, o.cacheDir);
        const f = embedImages(ex, samples);
        const fs = featureStats(f);
        fd[space.name] = frechetDistance(r.stats, fs);
        disposeStats(fs);
        disposeStats(r.stats);
        r.features.dispose();
        f.dispose();
      } finally {
        ex.dispose?.();
      }
    }

    // 3b. Object-level FD on scenes: the samples' foreground objects against the hidden objects of real canvases.
    if (ds.scene) {
      const realImgs = ds.images(realRows);
      const realCrops = objectCrops(realImgs, sceneBoxes(ds.scene, realRows));
      const sampleCrops = objectCrops(samples, foregroundObjects(foreground(samples), samples.shape[0]!, ds.size));
      if (realCrops && sampleCrops && realCrops.shape[0]! > 1 && sampleCrops.shape[0]! > 1) {
        const fr = evalnetOutputs(evalnet.net, realCrops),
          fs = evalnetOutputs(evalnet.net, sampleCrops);
        const sr = featureStats(fr.features),
          ss = featureStats(fs.features);
        fd.objects = frechetDistance(sr, ss);
        disposeStats(sr);
        disposeStats(ss);
        for (const t of [fr.features, fr.logits, fs.features, fs.logits]) t.dispose();
      }
      for (const t of [realImgs, realCrops, sampleCrops]) t?.dispose();
    }

    // 4. Do samples follow their conditions?
    let consistency: Consistency | null = null;
    let layout: LayoutMetrics | null = null;
    if (drawn && drawn.maps && layoutGuided) {
      log('layout following: foreground and self-consistency against the requested layouts, shuffled, and real');
      layout = await layoutMetrics(
        samples,
        drawn.maps,
        drawn.rows,
        spatialKind as 'boxes' | 'masks',
        conditions,
        ds,
        seed,
      );
      layout.shift = o.shiftLayouts ?? 0;
      log('diversity: 8 samples for each of 8 layouts, mean pairwise distance of their evaluation-network features');
      const per = 8,
        groups = Math.min(8, o.n);
      const rep = torch.tensor(Int32Array.from({ length: groups * per }, (_, i) => Math.floor(i / per))).long();
      const cond = drawn.cond ? drawn.cond.indexSelect(0, rep) : null;
      const maps = drawn.maps.indexSelect(0, rep);
      const same = generate(m, {
        n: groups * per,
        cond,
        maps,
        scale: o.scale,
        sampler: o.sampler,
        steps: o.steps,
        eta: o.eta ?? 0,
        seed: seed + 1,
        batchSize: o.batchSize ?? 32,
      });
      const realGroups = ds.images(
        Array.from(
          hostRng(seed, 'eval.real-rows')
            .permutation(ds.length)
            .slice(0, groups * per),
        ),
      );
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
    } else if (drawn && conditions.meta.multiLabel !== 'true') {
      judge =
        conditions.source === 'label' ? labelJudge(conditions, evalnet.net) : await selfLabelJudge(conditions, seed);
      if (judge) consistency = judge.score(samples, drawn.rows);
    }

    const metrics: EvalMetrics = {
      checkpoint: m.path,
      step: m.step,
      condition: conditions.source,
      dataset: ds.info.name,
      realImages: ds.length,
      n: o.n,
      scale: o.scale,
      sampler: o.sampler,
      steps: o.steps,
      eta: o.eta ?? 0,
      seed,
      fd,
      precision: pr.precision,
      recall: pr.recall,
      density: pr.density,
      coverage: pr.coverage,
      k,
      isEvalnet,
      confidence,
      perClassRecall,
      consistency,
      ...(layout ? { layout } : {}),
      seconds: { sampling: samplingSeconds, metrics: (performance.now() - t1) / 1000 },
      device: m.device,
    };
    if (o.out) {
      mkdirSync(o.out, { recursive: true });
      // The folder is one unit: metrics.json goes first and comes back last, so an interruption while the
      // samples are written leaves no metrics beside samples they were not measured on (and the runners,
      // which skip an evaluation that has metrics.json, make it again).
      rmSync(join(o.out, 'metrics.json'), { force: true });
      const pixels = toPixels(samples);
      const order = gridOrder(
        drawn ? (conditions.ids ? Int32Array.from(drawn.rows, (r) => conditions.ids![r]!) : null) : null,
        o.n,
      );
      const gridImages = samples.indexSelect(0, torch.tensor(order).long());
      try {
        const meta: Record<string, string> = {
          checkpoint: m.path,
          step: String(m.step),
          scale: String(o.scale),
          sampler: `${o.sampler}-${o.steps}`,
          seed: String(seed),
        };
        const tensors: Record<string, Tensor> = { images: pixels };
        let rowsT: Tensor | null = null;
        if (drawn) tensors.rows = rowsT = torch.tensor(drawn.rows);
        torch.safetensors.saveFile(join(o.out, 'samples.safetensors'), tensors, meta);
        rowsT?.dispose();
        await saveGrid(gridImages, join(o.out, 'samples.png'), { nrow: 8, scale: 2 });
        if (layout && drawn?.maps) {
          // The first 16 layouts, each beside the sample made from it.
          const pairs = layoutsBesideSamples(drawn.maps, samples, 16);
          await saveGrid(pairs, join(o.out, 'layouts.png'), { nrow: 8, scale: 2 });
          pairs.dispose();
        }
      } finally {
        pixels.dispose();
        gridImages.dispose();
      }
      writeJsonFile(join(o.out, 'metrics.json'), metrics);
    }
    return metrics;
  } finally {
    judge?.dispose();
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

/** Layout following of samples (see layout-following.ts), with its chance level and the real upper bound. */
async function layoutMetrics(
  samples: Tensor,
  maps: Tensor,
  rows: Int32Array,
  kind: 'boxes' | 'masks',
  conditions: ConditionSet,
  ds: ImageDataset,
  seed: number,
): Promise<LayoutMetrics> {
  const l = layoutsOf(maps, kind);
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
      method:
        kind === 'boxes'
          ? 'foreground (pixels above 0.25) bounding box vs the requested box; self-consistency: box IoU of LOST on g(sample)'
          : "foreground vs the requested mask's non-background segments; self-consistency: per-segment IoU of f(g(sample)) with the requested segments",
    };
  } finally {
    real.dispose();
  }
}
