// The evaluation network: a small CNN trained on the ground-truth labels for evaluation only (never for
// guidance). Its penultimate layer gives the features of the Frechet distance ("FD-evalnet", not FID)
// and its predictions the Inception-Score analogue and the label-consistency of samples. On multi-object
// canvases it is the canvas judge: trained on each canvas's hidden class set (multi-label, a sigmoid per
// class), scored by mAP on held-out canvases, its features giving FD and PRDC on canvases and its
// probabilities the presence check of guided samples (multi-label.ts).
import { z } from 'zod';
import { applyFlips, BatchSampler, type ImageDataset } from '../data/index.js';
import { DataSpec, loadDataset } from '../data/spec.js';
import type { FeatureExtractor } from '../features/extract.js';
import { sha256File } from '../features/features-file.js';
import * as nn from '../nn/index.js';
import * as optim from '../optim/index.js';
import { checkpointMeta, loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { TrainingLoop, type StepMetrics } from '../train/loop.js';
import type { OpenRunOptions, RunDir } from '../train/run-dir.js';
import type { TrainingState } from '../train/state.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { classSets, meanAveragePrecision } from './multi-label.js';

export const EVALNET_FORMAT = 'selfguided-evalnet/1';

export interface EvalNetOptions {
  /** a sigmoid per class (which classes an image holds) instead of a softmax (which one it shows) */
  multiLabel?: boolean;
  /** a dense head: per pixel, is it part of an object (from the full-resolution and the deepest features) */
  foreground?: boolean;
  featureDim?: number;
}

export class EvalNet extends nn.Module<[Tensor], { logits: Tensor; features: Tensor }> {
  readonly body: nn.Sequential;
  readonly head: nn.Linear;
  readonly fgHead: nn.Sequential | null;
  readonly multiLabel: boolean;
  readonly featureDim: number;
  constructor(
    readonly inChannels: number,
    readonly numClasses: number,
    o: EvalNetOptions = {},
  ) {
    super();
    this.multiLabel = o.multiLabel ?? false;
    this.featureDim = o.featureDim ?? 128;
    const block = (cin: number, cout: number) => [
      new nn.Conv2d(cin, cout, 3, { padding: 1 }),
      new nn.BatchNorm2d(cout),
      new nn.ReLU(),
    ];
    this.body = this.registerModule(
      'body',
      new nn.Sequential(
        ...block(inChannels, 32),
        ...block(32, 32),
        new nn.Lambda((x) => torch.maxPool2d(x, 2)),
        ...block(32, 64),
        ...block(64, 64),
        new nn.Lambda((x) => torch.maxPool2d(x, 2)),
        ...block(64, 128),
        new nn.Lambda((x) => torch.adaptiveAvgPool2d(x, 1)),
        new nn.Flatten(),
        new nn.Linear(128, this.featureDim),
        new nn.ReLU(),
      ),
    );
    this.head = this.registerModule('head', new nn.Linear(this.featureDim, numClasses));
    this.fgHead = o.foreground
      ? this.registerModule(
          'fgHead',
          new nn.Sequential(new nn.Conv2d(32 + 128, 32, 3, { padding: 1 }), new nn.ReLU(), new nn.Conv2d(32, 1, 1)),
        )
      : null;
  }
  get foreground(): boolean {
    return this.fgHead !== null;
  }
  forward(x: Tensor): { logits: Tensor; features: Tensor } {
    const features = this.body.call(x);
    return { logits: this.head.call(features), features };
  }
  /**
   * The outputs and the dense head's foreground logits [B, H, W] in one pass (training, judgeForeground);
   * forward() leaves the dense head out, so FD and the presence check pay nothing for it.
   */
  withForeground(x: Tensor): { logits: Tensor; features: Tensor; foreground: Tensor } {
    if (!this.fgHead) throw new Error('this evaluation network has no foreground head');
    // The dense head reads the full-resolution stage (where edges are) beside the deepest one, upsampled
    // (what the pixel belongs to): layers 0-5 are the first stage, 6-16 reach the deepest.
    let h = x;
    let fine: Tensor | null = null,
      deep: Tensor | null = null;
    for (const [i, m] of this.body.layers.entries()) {
      h = m.call(h);
      if (i === 5) fine = h;
      if (i === 16) deep = h;
    }
    const [, , H, W] = x.shape as [number, number, number, number];
    const up = torch.interpolate(deep!, { size: [H, W], mode: 'bilinear' });
    const foreground = this.fgHead.call(torch.cat([fine!, up], 1)).squeeze(1);
    return { logits: this.head.call(h), features: h, foreground };
  }
}

export const EvalNetTrainSettings = z.object({
  steps: z.number().int().positive(),
  batchSize: z.number().int().positive().default(128),
  lr: z.number().positive().default(2e-3),
  seed: z.number().int().min(0).default(0),
  checkpointEvery: z.number().int().positive().default(200),
  logEvery: z.number().int().positive().default(100),
  /**
   * what the network learns: 'label' (each image's label, softmax cross-entropy) or 'classes' (the set of
   * classes in each canvas's hidden annotations, a binary cross-entropy per class); default: 'classes' for
   * data with scene annotations, 'label' otherwise
   */
  target: z.enum(['label', 'classes']).optional(),
  /**
   * also learn, per pixel, whether it belongs to an object (the hidden masks): the foreground of samples on
   * canvases where no brightness threshold finds it (colour backgrounds); off unless asked for
   */
  foreground: z.boolean().optional(),
});

export const EvalNetConfig = z.object({
  data: DataSpec,
  test: DataSpec.optional(),
  train: EvalNetTrainSettings,
});
export type EvalNetConfig = z.infer<typeof EvalNetConfig>;

/** Classification accuracy of the network on a labeled dataset. */
export function accuracy(net: EvalNet, ds: ImageDataset, batchSize = 500): number {
  if (!ds.labels) throw new Error(`${ds.info.name} has no labels`);
  net.eval();
  let correct = 0;
  torch.noGrad(() => {
    for (let s = 0; s < ds.length; s += batchSize) {
      const idx = Int32Array.from({ length: Math.min(batchSize, ds.length - s) }, (_, i) => s + i);
      const pred = torch.tidy(() =>
        Int32Array.from(net.call(ds.images(idx)).logits.argmax(1).toTypedArray() as BigInt64Array, Number),
      );
      pred.forEach((p, i) => {
        if (p === ds.labels![idx[i]!]) correct++;
      });
    }
  });
  return correct / ds.length;
}

/** The n-hot class sets of a dataset's canvases, [N, C], from its hidden annotations. */
export function datasetClassSets(ds: ImageDataset, numClasses: number): Uint8Array {
  if (!ds.scene) throw new Error(`${ds.info.name} has no hidden class sets (scene annotations)`);
  const [n, m] = ds.scene.classes.shape as [number, number];
  return classSets(ds.scene.classes.to('int32').toTypedArray() as Int32Array, n, m, numClasses);
}

/** Mean average precision of a multi-label network on a dataset's hidden class sets, with each class's AP. */
export function canvasMAP(net: EvalNet, ds: ImageDataset): { mAP: number; perClass: number[] } {
  const truth = datasetClassSets(ds, net.numClasses);
  const scores = new Float32Array(ds.length * net.numClasses);
  net.eval();
  torch.noGrad(() => {
    for (let s = 0; s < ds.length; s += 500) {
      const idx = Int32Array.from({ length: Math.min(500, ds.length - s) }, (_, i) => s + i);
      scores.set(
        torch.tidy(() => net.call(ds.images(idx)).logits.toTypedArray() as Float32Array),
        s * net.numClasses,
      );
    }
  });
  return meanAveragePrecision(scores, truth, net.numClasses);
}

/** IoU of the judge's foreground with the hidden masks' (every object pixel) over a dataset's canvases. */
export function foregroundIoU(net: EvalNet, ds: ImageDataset): number {
  if (!ds.scene) throw new Error(`${ds.info.name} has no hidden masks`);
  let inter = 0,
    union = 0;
  for (let s = 0; s < ds.length; s += 500) {
    const idx = Array.from({ length: Math.min(500, ds.length - s) }, (_, i) => s + i);
    const images = ds.images(idx);
    const got = judgeForeground(net, images);
    images.dispose();
    const want = torch.tidy(
      () => ds.scene!.masks.narrow(0, s, idx.length).gt(0).to('uint8').toTypedArray() as Uint8Array,
    );
    for (let p = 0; p < got.length; p++) {
      if (got[p] && want[p]) inter++;
      if (got[p] || want[p]) union++;
    }
  }
  return union ? inter / union : 1;
}

/** Penultimate features and logits of a tensor of images, in one batched pass without gradients. */
export function evalnetOutputs(net: EvalNet, images: Tensor, batchSize = 256): { features: Tensor; logits: Tensor } {
  net.eval();
  return torch.noGrad(() =>
    torch.tidy(() => {
      const f: Tensor[] = [],
        l: Tensor[] = [];
      for (let s = 0; s < images.shape[0]!; s += batchSize) {
        const out = net.call(images.narrow(0, s, Math.min(batchSize, images.shape[0]! - s)));
        f.push(out.features);
        l.push(out.logits);
      }
      return { features: torch.cat(f, 0), logits: torch.cat(l, 0) };
    }),
  );
}

/** The judge's foreground of images [N, C, H, W] in [-1, 1]: [N * H * W] 0/1, its probability above one half. */
export function judgeForeground(net: EvalNet, images: Tensor, batchSize = 256): Uint8Array {
  net.eval();
  const [n, , h, w] = images.shape as [number, number, number, number];
  const out = new Uint8Array(n * h * w);
  torch.noGrad(() => {
    for (let s = 0; s < n; s += batchSize) {
      const len = Math.min(batchSize, n - s);
      out.set(
        torch.tidy(
          () =>
            net
              .withForeground(images.narrow(0, s, len))
              .foreground.gt(0)
              .to('uint8')
              .toTypedArray() as Uint8Array,
        ),
        s * h * w,
      );
    }
  });
  return out;
}

/** The evaluation network's training: cross-entropy on the labels with flips; the loop does the rest. */
export class EvalNetTrainer extends TrainingLoop<EvalNetConfig> {
  protected readonly format = EVALNET_FORMAT;

  private constructor(
    run: RunDir<EvalNetConfig>,
    readonly dataset: ImageDataset,
    /** per image: its label (long [N]), or its n-hot class set (float [N, C]) */
    readonly targets: Tensor,
    readonly model: EvalNet,
    readonly optimizer: optim.AdamW,
    readonly scheduler: optim.LRScheduler,
    readonly loader: BatchSampler,
    readonly generator: torch.Generator,
  ) {
    super(run);
  }

  static async open(runDir: string, o: OpenRunOptions = {}): Promise<EvalNetTrainer> {
    return TrainingLoop.openRun(runDir, o, EvalNetConfig, async (run) => {
      const { config } = run;
      const ds = await loadDataset(config.data, run.log);
      const target = config.train.target ?? (ds.scene ? 'classes' : 'label');
      const numClasses = target === 'classes' ? ds.scene?.classNames.length : ds.numClasses;
      if (!numClasses || (target === 'label' && !ds.labels)) {
        ds.dispose();
        throw new Error(
          target === 'classes'
            ? `the canvas judge needs hidden class sets (scene annotations), and ${ds.info.name} has none`
            : `the evaluation network needs labels, and ${ds.info.name} has none`,
        );
      }
      const targets = torch.keep(
        torch.tidy(() =>
          target === 'classes'
            ? torch.tensor(Float32Array.from(datasetClassSets(ds, numClasses)), { shape: [ds.length, numClasses] })
            : torch.tensor(ds.labels!).long(),
        ),
      );
      torch.manualSeed(config.train.seed);
      const foreground = config.train.foreground ?? false;
      if (foreground && !ds.scene) {
        ds.dispose();
        throw new Error(`a foreground head needs hidden masks, and ${ds.info.name} has none`);
      }
      const model = new EvalNet(ds.channels, numClasses, { multiLabel: target === 'classes', foreground });
      const optimizer = new optim.AdamW(model.parameters(), { lr: config.train.lr, weightDecay: 1e-4 });
      const scheduler = new optim.LRScheduler(
        optimizer,
        config.train.lr,
        optim.warmupCosine(100, config.train.steps, 0.02),
      );
      const loader = new BatchSampler(ds.length, {
        batchSize: config.train.batchSize,
        seed: config.train.seed,
        hflip: true,
      });
      const generator = torch.streamGenerator(config.train.seed, 'train.noise');
      return new EvalNetTrainer(run, ds, targets, model, optimizer, scheduler, loader, generator);
    });
  }

  protected trainingState(): TrainingState {
    return this;
  }

  protected override checkpointExtras() {
    const m = this.model;
    const classNames = m.multiLabel ? this.dataset.scene!.classNames : this.dataset.classNames;
    return {
      meta: {
        inChannels: m.inChannels,
        numClasses: m.numClasses,
        classNames,
        multiLabel: m.multiLabel,
        foreground: m.foreground,
      },
    };
  }

  protected optimizationStep(): StepMetrics {
    const b = this.loader.next();
    const idx = torch.tensor(Int32Array.from(b.indices)).long();
    const xf = applyFlips(this.dataset.images(b.indices), b.flips);
    const y = this.targets.indexSelect(0, idx);
    if (!this.model.foreground) {
      const logits = this.model.call(xf).logits;
      const loss = this.model.multiLabel
        ? torch.binaryCrossEntropyWithLogits(logits, y)
        : torch.crossEntropy(logits, y);
      return { loss: this.backward(loss) };
    }
    const out = this.model.withForeground(xf);
    // The masks flip with their images.
    const masks = applyFlips(this.dataset.scene!.masks.indexSelect(0, idx).unsqueeze(1).gt(0).float(), b.flips);
    const classes = this.model.multiLabel
      ? torch.binaryCrossEntropyWithLogits(out.logits, y)
      : torch.crossEntropy(out.logits, y);
    return { loss: this.backward(classes.add(torch.binaryCrossEntropyWithLogits(out.foreground, masks.squeeze(1)))) };
  }

  protected disposeState(): void {
    this.targets.dispose();
    this.model.dispose();
    this.optimizer.dispose();
    this.dataset.dispose();
  }
}

/**
 * Trains (or resumes) the evaluation network in a run directory; returns its test accuracy (labels) or its
 * test mAP (the canvas judge) once trained, when the config names a test set.
 */
export async function trainEvalNet(
  runDir: string,
  o: OpenRunOptions & { untilStep?: number; progress?: boolean },
): Promise<{
  step: number;
  testAccuracy: number | null;
  testMAP: number | null;
  testForegroundIoU: number | null;
  checkpoint: string | null;
}> {
  const trainer = await EvalNetTrainer.open(runDir, o);
  try {
    const r = await trainer.train({ untilStep: o.untilStep, progress: o.progress });
    let testAccuracy: number | null = null,
      testMAP: number | null = null,
      testForegroundIoU: number | null = null;
    const { config } = trainer;
    if (config.test && r.step >= config.train.steps) {
      const test = await loadDataset(config.test, trainer.run.log);
      if (trainer.model.multiLabel) testMAP = canvasMAP(trainer.model, test).mAP;
      else testAccuracy = accuracy(trainer.model, test);
      if (trainer.model.foreground) testForegroundIoU = foregroundIoU(trainer.model, test);
      test.dispose();
    }
    return { step: r.step, testAccuracy, testMAP, testForegroundIoU, checkpoint: r.checkpoint };
  } finally {
    trainer.dispose();
  }
}

export function loadEvalNet(pathOrRun: string): { net: EvalNet; path: string; classNames: string[] | null } {
  const path = resolveCheckpoint(pathOrRun);
  const ck = loadCheckpoint(path, EVALNET_FORMAT);
  try {
    const net = new EvalNet(
      checkpointMeta(ck, 'inChannels', z.number().int().positive()),
      checkpointMeta(ck, 'numClasses', z.number().int().positive()),
      {
        // Checkpoints from before the canvas judge have no flags: single-label, no foreground head.
        multiLabel: checkpointMeta(ck, 'multiLabel', z.boolean().nullish()) ?? false,
        foreground: checkpointMeta(ck, 'foreground', z.boolean().nullish()) ?? false,
      },
    );
    net.loadStateDict(ck.model);
    net.eval();
    return { net, path, classNames: checkpointMeta(ck, 'classNames', z.array(z.string()).nullish()) ?? null };
  } finally {
    ck.dispose();
  }
}

/** The evaluation network's penultimate features, for FD-evalnet and PRDC. */
export class EvalNetFeatures implements FeatureExtractor {
  readonly name = 'evalnet';
  readonly net: EvalNet;
  private readonly path: string;
  constructor(checkpoint: string) {
    const l = loadEvalNet(checkpoint);
    this.net = l.net;
    this.path = l.path;
  }
  provenance() {
    return {
      extractor: this.name,
      config: JSON.stringify({ checkpoint: this.path }),
      checkpointHash: sha256File(this.path),
    };
  }
  embed(images: Tensor): { features: Tensor } {
    return torch.tidy(() => ({ features: this.net.call(images).features }));
  }
  dispose(): void {
    this.net.dispose();
  }
}
