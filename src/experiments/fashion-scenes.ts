// `selfguided experiment fashion-scenes|colour-scenes`: box- and pixel-level self-guidance against no guidance
// and the ground-truth layouts, on the grey or the colour canvases, every row with the same model, steps and seed. Stages are files
// under the root (encoder, patch features, annotations with their quality reports, STEGO, one run and one
// evaluation per row), so the same command continues where it stopped; after every row the report is
// rewritten. The report says which of the issue's claims held.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { z } from 'zod';
import { saveAnnotations } from '../annotate/annotations.js';
import { StegoTrainer } from '../annotate/stego.js';
import { selfBoxes } from '../annotate/self-boxes.js';
import type { DataSpecInput } from '../data/spec.js';
import { loadDataset } from '../data/spec.js';
import type { TrainConfigInput } from '../diffusion/config.js';
import { DiffusionTrainer } from '../diffusion/trainer.js';
import { evaluate, readEvalMetrics, type EvalMetrics } from '../eval/evaluate.js';
import { canvasMAP, EvalNetTrainer, foregroundIoU, loadEvalNet } from '../eval/evalnet.js';
import { extractFeatures } from '../features/extract.js';
import { loadFeatures } from '../features/features-file.js';
import { EncoderTrainer, type EncoderConfigInput } from '../features/ssl/encoder-trainer.js';
import { SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import type { Device } from '../torch/index.js';
import { latestStep } from '../train/checkpoint.js';
import { readJsonFile, writeJsonFile } from '../util/json-file.js';
import { groundTruthAnnotations } from '../pipelines/ground-truth.js';
import { selfBoxesFile } from '../pipelines/self-boxes-file.js';
import { selfMasksFile } from '../pipelines/self-masks-file.js';
import { StageInterrupted, trainStage } from '../pipelines/stage.js';
import { SamplerChoice, samplerTag } from './budgets.js';
import { ExperimentRecord, runFingerprint, tensorFingerprint, type RecordInputs } from './record.js';
import { samplerName } from './report.js';
import { renderLineCharts } from './svg-plot.js';

export const ScenesBudget = z.object({
  /** training canvases used (the first n) */
  trainCount: z.number().int().positive(),
  /** test canvases the judge's mAP is measured on */
  testCount: z.number().int().positive(),
  preset: z.enum(['tiny', 'small']),
  steps: z.number().int().positive(),
  batchSize: z.number().int().positive(),
  encoderSteps: z.number().int().positive(),
  stegoSteps: z.number().int().positive(),
  evalnetSteps: z.number().int().positive(),
  /** the batch of g's training and of the judge's (default: 64 for the ViT, 128 for the ResNet and the judge) */
  trainingBatch: z.number().int().positive().optional(),
  samples: z.number().int().positive(),
  /** the evaluation's sampler (DDPM since the Fashion-MNIST sampler study, docs/results/fashion-mnist.md) */
  sampler: SamplerChoice,
  sampleSteps: z.number().int().positive(),
  scale: z.number(),
  sweep: z.array(z.number()),
  /** pixels the shifted-box control moves every layout */
  shift: z.number().int(),
  k: z.number().int().positive(),
  K: z.number().int().min(2),
});
export type ScenesBudget = z.infer<typeof ScenesBudget>;

export const SCENES_BUDGETS: Record<'smoke' | 'small' | 'full', ScenesBudget> = {
  // Every stage in a minute or two: checks the pipeline, measures nothing.
  smoke: {
    trainCount: 64,
    testCount: 64,
    preset: 'tiny',
    steps: 4,
    batchSize: 8,
    encoderSteps: 3,
    stegoSteps: 3,
    evalnetSteps: 10,
    // A ViT step at batch 64 took most of a smoke run's minute and a half.
    trainingBatch: 8,
    samples: 16,
    sampler: { sampler: 'ddpm', eta: 0 },
    sampleSteps: 2,
    scale: 3,
    sweep: [1, 5],
    shift: 3,
    k: 3,
    K: 4,
  },
  // Sized for the 2-core development machine (about 4 hours in all).
  small: {
    trainCount: 5000,
    testCount: 2000,
    preset: 'tiny',
    steps: 3000,
    batchSize: 32,
    encoderSteps: 600,
    stegoSteps: 500,
    evalnetSteps: 2000,
    samples: 500,
    sampler: { sampler: 'ddpm', eta: 0 },
    sampleSteps: 25,
    scale: 3,
    sweep: [1, 2, 5],
    shift: 4,
    k: 10,
    K: 11,
  },
  // For a GPU: every training canvas, the 2.2M-parameter preset.
  full: {
    trainCount: 20000,
    testCount: 2000,
    preset: 'small',
    steps: 30000,
    batchSize: 128,
    encoderSteps: 3000,
    stegoSteps: 2000,
    evalnetSteps: 4000,
    samples: 2000,
    sampler: { sampler: 'ddpm', eta: 0 },
    sampleSteps: 100,
    scale: 3,
    sweep: [1, 2, 3, 5],
    shift: 4,
    k: 10,
    K: 11,
  },
};

/**
 * The g whose patches LOST, patch k-means and STEGO read: the SimCLR ResNet's stride-2 stage, or the ViT
 * trained by DINO + iBOT (LOST on its last keys, the masks on its tokens), which even untrained finds
 * more items than the trained ResNet (docs/self-annotation.md).
 */
export const SceneG = z.enum(['resnet', 'vit']);
export type SceneG = z.infer<typeof SceneG>;

/** The canvases: grey Fashion-MNIST items on 48 px, or colour stamps on 64 px (docs/data.md). */
export const ScenesDataset = z.enum(['fashion-scenes', 'colour-scenes']);
export type ScenesDataset = z.infer<typeof ScenesDataset>;
const CANVAS_SIZE: Record<ScenesDataset, number> = { 'fashion-scenes': 48, 'colour-scenes': 64 };

export interface ScenesExperimentOptions {
  budget: 'smoke' | 'small' | 'full';
  /** the canvases (default fashion-scenes; a root keeps the dataset it was started with) */
  dataset?: ScenesDataset;
  /** colour-scenes: the cut-outs (default Tux Paint's stamps; a root keeps what it was started with) */
  stamps?: { dir: string; exclude?: string[]; minPerCategory?: number };
  /** g (default: a new root's is the ViT; a root keeps the g it was started with) */
  g?: SceneG;
  root: string;
  docs: string;
  seed?: number;
  device?: Device;
  /**
   * Only these rows, in this order (train, evaluate, report); the guidance sweep and the shifted-box control
   * wait for a run without it. The report always shows every row whose evaluation is on disk.
   */
  rows?: string[];
  log?: (m: string) => void;
}

interface Row {
  id: string;
  title: string;
  /** the condition file, or null for no guidance */
  condition: () => Promise<string | null>;
  /** f's quality against the hidden annotations, as a phrase */
  quality: () => string;
}

const Plan = z.object({
  budget: z.enum(['smoke', 'small', 'full']),
  seed: z.number().int().min(0),
  /** roots started before the ViT g existed used the ResNet */
  g: SceneG.default('resnet'),
  /** roots started before the colour scenes existed used fashion-scenes */
  dataset: ScenesDataset.default('fashion-scenes'),
  stamps: z
    .object({ dir: z.string(), exclude: z.array(z.string()).optional(), minPerCategory: z.number().optional() })
    .optional(),
});

/**
 * The claims' thresholds. A layout is followed when its score reaches an absolute level and is a
 * multiple of the same score against shuffled layouts (the chance level): boxes by the foreground's box
 * IoU, masks by self-consistency (f(g(sample)) against the requested segments), which is lower by nature.
 */
export const BOXES_FOLLOWED = { iou: 0.6, timesShuffled: 3 } as const;
export const MASKS_FOLLOWED = { iou: 0.5, timesShuffled: 2 } as const;

/** The row the guidance sweep and the shifted-box control sample again. */
const SWEEP_ROW = 'self-boxes';

/** Whether a layout score beat both of a claim's thresholds, as the report says it. */
const held = (score: number, shuffled: number, t: { iou: number; timesShuffled: number }) =>
  score >= t.iou && score >= t.timesShuffled * shuffled ? 'held' : 'did not hold';

export class FashionScenesExperiment {
  private readonly root: string;
  private readonly b: ScenesBudget;
  private readonly seed: number;
  private readonly g: SceneG;
  private readonly dataset: ScenesDataset;
  private readonly stamps: ScenesExperimentOptions['stamps'];
  private readonly log: (m: string) => void;
  private readonly record: ExperimentRecord;

  constructor(private readonly o: ScenesExperimentOptions) {
    this.root = resolve(o.root);
    this.log = o.log ?? ((m: string) => process.stderr.write(`experiment: ${m}\n`));
    mkdirSync(this.root, { recursive: true });
    const planPath = join(this.root, 'plan.json');
    if (existsSync(planPath)) {
      const plan = readJsonFile(planPath, Plan);
      if (plan.budget !== o.budget)
        throw new Error(`${this.root} holds the '${plan.budget}' budget; use another --root for '${o.budget}'`);
      if (o.g && plan.g !== o.g)
        throw new Error(`${this.root} was made with the ${plan.g} g; use another --root for --g ${o.g}`);
      if (o.dataset && plan.dataset !== o.dataset)
        throw new Error(`${this.root} holds ${plan.dataset}; use another --root for ${o.dataset}`);
      this.seed = plan.seed;
      this.g = plan.g;
      this.dataset = plan.dataset;
      this.stamps = plan.stamps;
    } else {
      this.seed = o.seed ?? 0;
      this.g = o.g ?? 'vit';
      this.dataset = o.dataset ?? 'fashion-scenes';
      this.stamps = o.stamps;
      writeJsonFile(planPath, {
        budget: o.budget,
        seed: this.seed,
        g: this.g,
        dataset: this.dataset,
        ...(o.stamps ? { stamps: o.stamps } : {}),
      });
    }
    this.b = SCENES_BUDGETS[o.budget];
    this.record = new ExperimentRecord(
      join(o.docs, this.dataset, 'record'),
      {
        experiment: this.dataset,
        budget: this.b,
        seed: this.seed,
        g: this.g,
        ...(this.stamps ? { stamps: this.stamps } : {}),
      },
      this.log,
    );
  }

  private get data(): DataSpecInput {
    // The colour canvases are made to the count asked for (canvas i is the same at any count); the grey
    // ones keep the first n of the default 20,000, as their roots always did.
    return this.dataset === 'colour-scenes'
      ? { kind: this.dataset, count: this.b.trainCount, ...(this.stamps ? { stamps: this.stamps } : {}) }
      : { kind: this.dataset, limit: this.b.trainCount };
  }
  private path(...p: string[]): string {
    return join(this.root, ...p);
  }

  private async encoder(): Promise<string> {
    const dir = this.path('encoder');
    const steps = this.b.encoderSteps;
    this.record.restoreRun('encoder', dir, { root: this.root });
    if (latestStep(dir) >= steps) {
      this.record.keepRun('encoder', dir, { root: this.root });
      return dir;
    }
    const vit = this.g === 'vit';
    this.log(`training the ${vit ? 'DINO + iBOT ViT' : 'SimCLR ResNet'} encoder g on the canvases (${steps} steps)`);
    // The ViT's settings are those of docs/self-annotation.md's runs.
    const config: EncoderConfigInput = vit
      ? {
          data: this.data,
          model: { arch: 'vit', objective: 'dino', dino: { outDim: 512, localCrops: 2 } },
          train: {
            steps,
            batchSize: Math.min(this.b.trainingBatch ?? 64, this.b.trainCount),
            lr: 5e-4,
            warmup: Math.min(40, steps),
            seed: this.seed,
          },
        }
      : {
          data: this.data,
          model: { widths: [32, 64, 128] },
          train: { steps, batchSize: Math.min(this.b.trainingBatch ?? 128, this.b.trainCount), seed: this.seed },
        };
    await this.record.trainCarried('encoder', dir, { root: this.root }, () =>
      trainStage(dir, (how) => EncoderTrainer.open(dir, { ...how, device: this.o.device, log: this.log }), config, {
        steps,
      }),
    );
    return dir;
  }

  /**
   * Patch features of the training canvases for boxes (LOST) or masks: the ResNet's stage 1 (24x24 at
   * 48x48) for both; the ViT's last keys for boxes, its tokens for masks (12x12).
   */
  private async features(use: 'boxes' | 'masks'): Promise<string> {
    const source = this.g === 'vit' && use === 'boxes' ? 'keys' : 'tokens';
    const out = this.path(this.g === 'vit' ? `features-${source}.safetensors` : 'features.safetensors');
    if (existsSync(out)) return out;
    const enc = await this.encoder();
    const ds = await loadDataset(this.data);
    const ex =
      this.g === 'vit'
        ? new SslEncoderFeatures(enc, 'backbone', -1, source)
        : new SslEncoderFeatures(enc, 'backbone', 1);
    try {
      this.log(
        `extracting the patch features (${this.g === 'vit' ? `the ViT's ${source}` : "the ResNet's stage 1"}) of the training canvases`,
      );
      const f = extractFeatures(ds, ex, {
        patches: true,
        out,
        extraProvenance: { dataSpec: JSON.stringify(this.data) },
      });
      f.features.dispose();
      f.patches?.dispose();
    } finally {
      ex.dispose();
      ds.dispose();
    }
    return out;
  }

  private async truth(kind: 'labels' | 'boxes' | 'masks'): Promise<string> {
    const out = this.path('annotations', `gt-${kind}.safetensors`);
    if (existsSync(out)) return out;
    mkdirSync(this.path('annotations'), { recursive: true });
    const ds = await loadDataset(this.data);
    try {
      const a = groundTruthAnnotations(ds, kind);
      // The data spec lets `selfguided inspect` and the web app reload the images these annotate.
      saveAnnotations(out, { ...a, meta: { ...a.meta, dataSpec: JSON.stringify(this.data) } });
      for (const t of [a.vectors, a.maps, a.segments]) t?.dispose();
    } finally {
      ds.dispose();
    }
    return out;
  }

  private async selfLabels(): Promise<string> {
    const out = this.path('annotations', 'self-labels.safetensors');
    if (existsSync(out)) return out;
    const path = await this.features('boxes');
    const feats = loadFeatures(path, { patches: true });
    try {
      const r = selfBoxes(path, feats, {
        imageSize: CANVAS_SIZE[this.dataset],
        k: this.b.k,
        objects: 'all',
        channel: false,
        seed: this.seed,
      });
      mkdirSync(this.path('annotations'), { recursive: true });
      saveAnnotations(out, r.annotations);
      for (const t of [r.annotations.vectors, r.annotations.centroids]) t?.dispose();
    } finally {
      feats.features.dispose();
      feats.patches?.dispose();
    }
    return out;
  }

  private async selfBoxes(): Promise<string> {
    const out = this.path('annotations', 'self-boxes.safetensors');
    if (!existsSync(out)) {
      mkdirSync(this.path('annotations'), { recursive: true });
      await selfBoxesFile(await this.features('boxes'), { k: this.b.k, seed: this.seed, out, log: this.log });
    }
    return out;
  }

  private async selfMasks(method: 'kmeans' | 'stego'): Promise<string> {
    const out = this.path('annotations', `self-masks-${method}.safetensors`);
    if (existsSync(out)) return out;
    const features = await this.features('masks');
    let stego: string | undefined;
    if (method === 'stego') {
      const dir = this.path('stego');
      stego = dir;
      const carry = { inputs: { g: runFingerprint(await this.encoder()) } };
      this.record.restoreRun('stego', dir, { ...carry, root: this.root });
      if (latestStep(dir) < this.b.stegoSteps) {
        this.log(`training the STEGO head (${this.b.stegoSteps} steps)`);
        await this.record.trainCarried('stego', dir, { ...carry, root: this.root }, () =>
          trainStage(
            dir,
            (how) => StegoTrainer.open(dir, { ...how, log: this.log }),
            {
              features,
              model: { K: this.b.K },
              train: { steps: this.b.stegoSteps, batchSize: Math.min(16, this.b.trainCount), seed: this.seed },
            },
            { steps: this.b.stegoSteps },
          ),
        );
      }
      this.record.keepRun('stego', dir, { ...carry, root: this.root });
    }
    mkdirSync(this.path('annotations'), { recursive: true });
    await selfMasksFile(features, { K: this.b.K, seed: this.seed, stego, out, log: this.log });
    return out;
  }

  private qualityOf(file: string): string {
    const report = file.replace(/\.safetensors$/, '.json');
    if (!existsSync(report)) return '';
    const r = JSON.parse(readFileSync(report, 'utf8')) as {
      corLoc?: number;
      quality?: { mIoU: number; foregroundIoU: number };
    };
    if (r.corLoc !== undefined) return `CorLoc ${r.corLoc.toFixed(3)}`;
    if (r.quality) return `mIoU ${r.quality.mIoU.toFixed(3)}, fg IoU ${r.quality.foregroundIoU.toFixed(3)}`;
    return '';
  }

  private rows(): Row[] {
    const ann = (f: string) => this.path('annotations', `${f}.safetensors`);
    return [
      { id: 'none', title: 'no guidance', condition: async () => null, quality: () => '' },
      {
        id: 'gt-labels',
        title: 'ground-truth multi-hot labels',
        condition: () => this.truth('labels'),
        quality: () => 'oracle',
      },
      {
        id: 'self-labels',
        title: 'self-labels (n-hot over LOST boxes)',
        condition: () => this.selfLabels(),
        quality: () => '',
      },
      {
        id: 'gt-boxes',
        title: 'ground-truth box (largest) + class',
        condition: () => this.truth('boxes'),
        quality: () => 'oracle',
      },
      {
        id: 'self-boxes',
        title: 'self-boxes (LOST) + box self-label',
        condition: () => this.selfBoxes(),
        quality: () => this.qualityOf(ann('self-boxes')),
      },
      { id: 'gt-masks', title: 'ground-truth masks', condition: () => this.truth('masks'), quality: () => 'oracle' },
      {
        id: 'self-masks-kmeans',
        title: 'self-masks (patch k-means)',
        condition: () => this.selfMasks('kmeans'),
        quality: () => this.qualityOf(ann('self-masks-kmeans')),
      },
      {
        id: 'self-masks-stego',
        title: 'self-masks (STEGO head)',
        condition: () => this.selfMasks('stego'),
        quality: () => this.qualityOf(ann('self-masks-stego')),
      },
    ];
  }

  /**
   * The canvas judge: an evaluation network trained on the training canvases' hidden class sets (for
   * evaluation only); its test mAP is kept in judge.json beside it. It replaced the Fashion-MNIST item
   * classifier, which judged whole canvases it had never seen.
   */
  private async evalnet(): Promise<string> {
    const dir = this.path('judge');
    const record = this.path('judge.json');
    const carry = { root: this.root, extras: ['judge.json'] };
    this.record.restoreRun('judge', dir, carry);
    if (latestStep(dir) >= this.b.evalnetSteps && existsSync(record)) {
      this.record.keepRun('judge', dir, carry);
      return dir;
    }
    this.log("training the canvas judge (the canvases' hidden class sets; for evaluation only)");
    await this.record.trainCarried('judge', dir, { root: this.root }, () =>
      trainStage(
        dir,
        (how) => EvalNetTrainer.open(dir, { ...how, log: this.log }),
        {
          data: this.data,
          train: {
            steps: this.b.evalnetSteps,
            batchSize: Math.min(this.b.trainingBatch ?? 128, this.b.trainCount),
            seed: this.seed,
            // On colour canvases no brightness threshold finds the samples' objects: the judge learns to.
            ...(this.dataset === 'colour-scenes' ? { foreground: true } : {}),
          },
        },
        { steps: this.b.evalnetSteps },
      ),
    );
    const test = await loadDataset(
      this.dataset === 'colour-scenes'
        ? {
            kind: this.dataset,
            split: 'test',
            count: this.b.testCount,
            ...(this.stamps ? { stamps: this.stamps } : {}),
          }
        : { kind: this.dataset, split: 'test', count: this.b.testCount },
    );
    const { net, path } = loadEvalNet(dir);
    try {
      writeJsonFile(record, {
        checkpoint: path,
        testMAP: canvasMAP(net, test).mAP,
        ...(net.foreground ? { testForegroundIoU: foregroundIoU(net, test) } : {}),
        test: `${this.dataset}/test`,
      });
    } finally {
      net.dispose();
      test.dispose();
    }
    this.record.keepRun('judge', dir, carry);
    return dir;
  }

  /** The judge's mAP on the test canvases, once trained. */
  private judgeMAP(): number | null {
    const p = this.path('judge.json');
    return existsSync(p) ? readJsonFile(p, z.looseObject({ testMAP: z.number() })).testMAP : null;
  }

  private async trainRow(r: Row): Promise<string> {
    const dir = this.path('runs', r.id);
    const cond = await r.condition();
    const carry = { inputs: { condition: cond ? tensorFingerprint(cond) : 'none' } };
    this.record.restoreRun(`row-${r.id}`, dir, { ...carry, root: this.root });
    if (latestStep(dir) >= this.b.steps) {
      this.record.keepRun(`row-${r.id}`, dir, { ...carry, root: this.root });
      return dir;
    }
    this.log(`training row ${r.id} (${this.b.steps} steps)`);
    const config: TrainConfigInput = {
      data: this.data,
      condition: cond ? { kind: 'file', path: cond } : { kind: 'none' },
      model: { preset: this.b.preset },
      train: {
        steps: this.b.steps,
        batchSize: this.b.batchSize,
        lr: 1e-3,
        warmup: Math.min(100, Math.floor(this.b.steps / 5)),
        emaDecay: 0.999,
        hflip: true,
        seed: this.seed,
        checkpointEvery: 250,
      },
    };
    await this.record.trainCarried(`row-${r.id}`, dir, { ...carry, root: this.root }, () =>
      trainStage(dir, (how) => DiffusionTrainer.open(dir, { ...how, device: this.o.device, log: this.log }), config, {
        steps: this.b.steps,
      }),
    );
    return dir;
  }

  /**
   * A row's evaluation folder: scale, layout shift, the sampler (so another sampler never reuses it) and the
   * judge (evaluations made with the Fashion-MNIST classifier before the canvas judge are not reused).
   */
  private evalDir(id: string, scale: number, shift = 0): string {
    return this.path('eval', `${id}-s${scale}${shift ? `-shift${shift}` : ''}-${samplerTag(this.b.sampler)}-judge`);
  }

  /** What a row's evaluations are measured against, for the record: g, the judge, the condition file. */
  private async inputs(r: Row): Promise<RecordInputs> {
    const cond = await r.condition();
    return {
      g: runFingerprint(await this.encoder()),
      judge: runFingerprint(await this.evalnet()),
      condition: cond ? tensorFingerprint(cond) : 'none',
    };
  }

  /**
   * A row's evaluation: on disk, else from the record when it was measured against the same g, judge and
   * condition file, else the row trained (if it is not yet) and evaluated, and the evaluation recorded.
   */
  private async evaluateRow(r: Row, scale: number, shift = 0): Promise<EvalMetrics> {
    const out = this.evalDir(r.id, scale, shift);
    const key = basename(out);
    if (existsSync(join(out, 'metrics.json'))) {
      // measured before the record existed
      if (!this.record.has(key)) this.record.keep(key, out, await this.inputs(r));
      return readEvalMetrics(join(out, 'metrics.json'));
    }
    if (this.record.has(key) && this.record.restore(key, out, await this.inputs(r)))
      return readEvalMetrics(join(out, 'metrics.json'));
    await this.trainRow(r);
    // Trained before sampling: an interruption while training g would otherwise lose the samples.
    const encoder = await this.encoder();
    const m = await evaluate({
      checkpoint: this.path('runs', r.id),
      evalnet: await this.evalnet(),
      n: this.b.samples,
      scale,
      sampler: this.b.sampler.sampler,
      eta: this.b.sampler.eta,
      steps: this.b.sampleSteps,
      seed: this.seed,
      cacheDir: this.path('cache'),
      out,
      device: this.o.device,
      shiftLayouts: shift || undefined,
      // FD on the canvas encoder's own features (g), beside FD-judge.
      extraFeatures: [{ name: 'canvas', make: async () => new SslEncoderFeatures(encoder, 'backbone') }],
      log: this.log,
    });
    this.record.keep(key, out, await this.inputs(r));
    // The sweep and the shifted-box control sample the self-boxes row again; no other row is used after.
    if (r.id !== SWEEP_ROW) this.record.dropRun(`row-${r.id}`);
    return m;
  }

  /** Every row whose evaluation at the reported scale is on disk, in the report's order. */
  private finishedRows(): { row: Row; m: EvalMetrics }[] {
    return this.rows().flatMap((row) => {
      const path = join(this.evalDir(row.id, this.b.scale), 'metrics.json');
      return existsSync(path) ? [{ row, m: readEvalMetrics(path) }] : [];
    });
  }

  /** The rows this run works through: all of them, or the ones --rows names, in its order. */
  private selectedRows(): Row[] {
    const all = this.rows();
    if (!this.o.rows) return all;
    return this.o.rows.map((id) => {
      const row = all.find((r) => r.id === id);
      if (!row) throw new Error(`no row '${id}'; the rows are ${all.map((r) => r.id).join(', ')}`);
      return row;
    });
  }

  /** Runs (or continues) every stage; returns the exit code. */
  async run(): Promise<number> {
    try {
      for (const row of this.selectedRows()) {
        await this.evaluateRow(row, this.b.scale);
        this.report(this.finishedRows(), [], null);
      }
      if (this.o.rows) return 0;
      const boxes = this.rows().find((r) => r.id === SWEEP_ROW)!;
      const sweep: { scale: number; m: EvalMetrics }[] = [];
      for (const s of this.b.sweep) sweep.push({ scale: s, m: await this.evaluateRow(boxes, s) });
      const shifted = await this.evaluateRow(boxes, this.b.scale, this.b.shift);
      this.record.dropRun(`row-${SWEEP_ROW}`);
      this.report(this.finishedRows(), sweep, shifted);
      return 0;
    } catch (e) {
      if (!(e instanceof StageInterrupted)) throw e;
      this.log('stopped; run the same command again to continue');
      return 130;
    }
  }

  /** The sweep as an SVG (layout following and diversity against the guidance scale); markdown that shows it. */
  private sweepPlot(sweep: { scale: number; m: EvalMetrics }[]): string[] {
    const done = sweep.filter((x) => x.m.layout);
    if (done.length < 2) return [];
    const svg = renderLineCharts([
      {
        title: 'layout following vs guidance scale (self-boxes)',
        xLabel: 'guidance scale s',
        yLabel: 'box IoU',
        series: [
          { name: 'foreground IoU', points: done.map(({ scale, m }) => [scale, m.layout!.foreground.iou]) },
          { name: 'shuffled', points: done.map(({ scale, m }) => [scale, m.layout!.foreground.chanceIou]) },
          ...(done.every((x) => x.m.layout!.selfConsistency)
            ? [
                {
                  name: 'self-consistency',
                  points: done.map(({ scale, m }) => [scale, m.layout!.selfConsistency!.value] as [number, number]),
                },
              ]
            : []),
        ],
      },
      {
        title: 'diversity vs guidance scale',
        xLabel: 'guidance scale s',
        yLabel: 'mean pairwise feature distance',
        series: [
          {
            name: 'samples sharing a layout',
            points: done
              .map(({ scale, m }) => [scale, m.layout!.diversity?.samples ?? NaN] as [number, number])
              .filter(([, y]) => Number.isFinite(y)),
          },
        ],
      },
    ]);
    mkdirSync(join(this.o.docs, this.dataset), { recursive: true });
    writeFileSync(join(this.o.docs, this.dataset, 'sweep.svg'), svg);
    return [`![layout following and diversity vs guidance scale](${this.dataset}/sweep.svg)`, ''];
  }

  /** Copies each spatial row's layouts-beside-samples grid into the docs; markdown lines that show them. */
  private grids(ids: string[]): string[] {
    const dir = join(this.o.docs, this.dataset);
    const lines: string[] = [];
    for (const id of ids) {
      const src = join(this.evalDir(id, this.b.scale), 'layouts.png');
      if (!existsSync(src)) continue;
      mkdirSync(dir, { recursive: true });
      copyFileSync(src, join(dir, `${id}.png`));
      lines.push(
        `**${id}**: each requested layout beside the sample made from it`,
        '',
        `![${id}](${this.dataset}/${id}.png)`,
        '',
      );
    }
    return lines.length ? ['## Layouts and samples', '', ...lines] : [];
  }

  private report(
    rows: { row: Row; m: EvalMetrics }[],
    sweep: { scale: number; m: EvalMetrics }[],
    shifted: EvalMetrics | null,
  ): void {
    const f = (x: number | null | undefined, d = 3) =>
      x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(d);
    const lay = (m: EvalMetrics) => {
      const l = m.layout;
      if (!l) return ['', '', ''];
      return [
        `${f(l.foreground.iou)} (${f(l.foreground.chanceIou)}, ${f(l.foreground.realIou)})`,
        l.selfConsistency ? `${f(l.selfConsistency.value)} (${f(l.selfConsistency.chance)})` : 'n/a',
        l.diversity ? `${f(l.diversity.samples, 2)} (${f(l.diversity.real, 2)})` : '',
      ];
    };
    const by = (id: string) => rows.find((r) => r.row.id === id)?.m;
    const none = by('none')?.fd.evalnet;
    const claims: string[] = [];
    for (const id of ['self-boxes', 'self-masks-kmeans', 'self-masks-stego']) {
      const m = by(id);
      if (!m || none === undefined) continue;
      claims.push(
        `- ${id} vs no guidance, FD-judge: ${f(m.fd.evalnet, 2)} vs ${f(none, 2)}: **${m.fd.evalnet < none ? 'held' : 'did not hold'}**`,
      );
    }
    const box = by('self-boxes')?.layout;
    if (box)
      claims.push(
        `- self-boxes followed (foreground box IoU >= ${BOXES_FOLLOWED.iou} and >= ${BOXES_FOLLOWED.timesShuffled}x shuffled): ${f(box.foreground.iou)} vs ${f(box.foreground.chanceIou)}: **${held(box.foreground.iou, box.foreground.chanceIou, BOXES_FOLLOWED)}**`,
      );
    for (const id of ['self-masks-kmeans', 'self-masks-stego']) {
      const l = by(id)?.layout;
      if (l?.selfConsistency)
        claims.push(
          `- ${id} followed (self-consistency >= ${MASKS_FOLLOWED.iou} and >= ${MASKS_FOLLOWED.timesShuffled}x shuffled): ${f(l.selfConsistency.value)} vs ${f(l.selfConsistency.chance)}: **${held(l.selfConsistency.value, l.selfConsistency.chance, MASKS_FOLLOWED)}**`,
        );
    }
    for (const [self, gt] of [
      ['self-boxes', 'gt-boxes'],
      ['self-masks-stego', 'gt-masks'],
      ['self-labels', 'gt-labels'],
    ] as const) {
      const a = by(self),
        g = by(gt);
      if (a && g)
        claims.push(
          `- ${self} vs ${gt}, FD-judge: ${f(a.fd.evalnet, 2)} vs ${f(g.fd.evalnet, 2)} (ratio ${f(a.fd.evalnet / g.fd.evalnet, 2)})`,
        );
    }
    for (const id of ['gt-labels', 'self-labels']) {
      const p = by(id)?.presence;
      if (p)
        claims.push(
          `- ${id}: the classes asked for (${p.via}) are found in ${f(p.samples.present)} of cases (shuffled requests ${f(p.shuffled.present)}, the real canvases ${f(p.real.present)}); classes not asked for are absent in ${f(p.samples.absent)} (shuffled ${f(p.shuffled.absent)}, real ${f(p.real.absent)}): **${p.samples.present > p.shuffled.present && p.samples.absent >= p.shuffled.absent ? 'held' : 'did not hold'}** (above the shuffled requests on both)`,
        );
    }
    const missing = [
      ...this.rows()
        .filter((r) => !by(r.id))
        .map((r) => `row ${r.id}`),
      ...(sweep.length ? [] : ['the guidance sweep', 'the shifted-box control']),
    ];
    const lines = [
      `# ${this.dataset}: box- and pixel-level self-guidance (${this.o.budget} budget)`,
      '',
      `Written by \`bin/selfguided.mjs experiment ${this.dataset} --budget ${this.o.budget}${this.g === 'resnet' ? ' --g resnet' : ''}\` (root ${this.root}); g: ${this.g === 'vit' ? 'a ViT trained by DINO + iBOT (LOST on its last keys, the masks on its tokens)' : "the SimCLR ResNet's stride-2 stage"}, ${this.b.encoderSteps} steps; every row: the \`${this.b.preset}\` UNet, ${this.b.steps} steps at batch ${this.b.batchSize} on the first ${this.b.trainCount} training canvases, seed ${this.seed}; ${this.b.samples} samples ${samplerName(this.b.sampler, this.b.sampleSteps)} at s = ${this.b.scale}, conditions drawn from the row's training annotations. The judge: an evaluation network trained ${this.b.evalnetSteps} steps on the training canvases' hidden class sets (mAP ${f(this.judgeMAP())} on ${this.b.testCount} test canvases${this.dataset === 'colour-scenes' ? "; it also learned the hidden masks' foreground, which finds the samples' objects for the layout columns where a brightness threshold cannot" : ''}); FD-judge and precision/recall on its features, the presence check from its class probabilities; FD-canvas on g's features. Each evaluation's metrics and images are kept in [${this.dataset}/record](${this.dataset}/record) with fingerprints of the g, judge and condition file they were measured against: the same command on a fresh root takes the ones whose fingerprints it reproduces and measures the rest.`,
      '',
      ...(missing.length ? [`Not measured yet: ${missing.join(', ')}.`, ''] : []),
      '| row | guidance | f quality | FD-judge | FD-canvas | FD-objects | precision | recall | classes present / absent (shuffled) | layout: foreground IoU (shuffled, real) | self-consistency (shuffled) | diversity (real) |',
      '|---|---|---|---|---|---|---|---|---|---|---|---|',
      ...rows.map(
        ({ row, m }) =>
          `| ${row.id} | ${row.title} | ${row.quality()} | ${f(m.fd.evalnet, 2)} | ${f(m.fd.canvas, 3)} | ${f(m.fd.objects, 2)} | ${f(m.precision)} | ${f(m.recall)} | ${m.presence ? `${f(m.presence.samples.present, 2)} / ${f(m.presence.samples.absent, 2)} (${f(m.presence.shuffled.present, 2)} / ${f(m.presence.shuffled.absent, 2)})` : ''} | ${lay(m).join(' | ')} |`,
      ),
      '',
      ...this.sweepPlot(sweep),
      ...(sweep.length
        ? [
            '## Guidance scale (self-boxes)',
            '',
            '| s | FD-judge | foreground IoU (shuffled) | self-consistency | diversity |',
            '|---|---|---|---|---|',
            ...sweep.map(
              ({ scale, m }) => `| ${scale} | ${f(m.fd.evalnet, 2)} | ${lay(m)[0]} | ${lay(m)[1]} | ${lay(m)[2]} |`,
            ),
            '',
          ]
        : []),
      ...(shifted?.layout
        ? [
            '## Shifted-box control',
            '',
            `Every self-box moved ${this.b.shift} px right and down at sampling: foreground IoU with the moved boxes ${f(shifted.layout.foreground.iou)} (shuffled ${f(shifted.layout.foreground.chanceIou)}, real canvases ${f(shifted.layout.foreground.realIou)}).`,
            '',
          ]
        : []),
      ...this.grids(rows.map((r) => r.row.id)),
      '## What held',
      '',
      ...(claims.length ? claims : ['- pending']),
      '',
    ];
    // The hand-written reading of the results, kept in its own file so that rewriting the report keeps it.
    const notes = join(this.o.docs, `${this.dataset}.notes.md`);
    if (existsSync(notes)) lines.push(readFileSync(notes, 'utf8').trim(), '');
    mkdirSync(this.o.docs, { recursive: true });
    writeFileSync(join(this.o.docs, `${this.dataset}.md`), lines.join('\n'));
  }
}
