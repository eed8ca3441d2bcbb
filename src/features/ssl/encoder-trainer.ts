// `selfguided encoder train`: a self-supervised encoder g on the unlabeled training images, by SimCLR's
// contrastive loss or DINO's self-distillation. This file holds the steps, their state and the config;
// the run directory, checkpoints and resume are the training loop's.
import { z } from 'zod';
import type { BatchSource, DatasetMeta, ImageBatch } from '../../data/batches.js';
import { openTrainingData, type TrainingData } from '../../data/training-data.js';
import { DataSpec } from '../../data/spec.js';
import { encodePng, makeGrid } from '../../data/png.js';
import { TrainingLoop, type Preview, type StepMetrics } from '../../train/loop.js';
import type { OpenRunOptions, RunDir } from '../../train/run-dir.js';
import type { TrainingState } from '../../train/state.js';
import type { LoadedCheckpoint } from '../../train/checkpoint.js';
import * as nn from '../../nn/index.js';
import * as optim from '../../optim/index.js';
import * as torch from '../../torch/index.js';
import { augment, type AugmentOptions } from './augment.js';
import {
  DinoHead,
  dinoLoss,
  targetEntropy,
  teacherMomentum,
  teacherTemperature,
  updateCenter,
  updateTeacher,
} from './dino.js';
import { ntXent } from './ntxent.js';
import { maskedPatchLoss, patchMasks } from './ibot.js';
import { ProjectionHead, SmallResNet } from './resnet.js';
import { VisionTransformer } from './vit.js';

export const ENCODER_FORMAT = 'selfguided-encoder-checkpoint/1';
const TEACHER = 'teacher.';

/** A DINO checkpoint's teacher weights, from its moving-average part. */
export function teacherState(ema: Map<string, torch.Tensor>): Map<string, torch.Tensor> {
  return new Map([...ema].filter(([k]) => k.startsWith(TEACHER)).map(([k, t]) => [k.slice(TEACHER.length), t]));
}

/** Whether a model config trains with iBOT's masked patch loss (a ViT under DINO with a weight above 0). */
export const maskedPatches = (m: EncoderConfig['model']): boolean =>
  m.arch === 'vit' && m.objective === 'dino' && m.ibot.weight > 0;

/** The optimisation and run settings (the CLI's defaults are read from here). */
export const EncoderTrainSettings = z.object({
  steps: z.number().int().positive(),
  batchSize: z.number().int().min(2).default(256),
  lr: z.number().positive().default(2e-3),
  weightDecay: z.number().min(0).default(1e-4),
  warmup: z.number().int().min(0).default(100),
  temperature: z.number().positive().default(0.2),
  cropScale: z.tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)]).default([0.3, 1]),
  /**
   * brightness/contrast (and saturation) jitter: its strength, and the fraction of views it touches. On
   * the clutter canvases the default's grey-level changes outweigh what two views of a canvas share for an
   * untrained network (docs/self-annotation.md), which leaves DINO nothing to start from
   */
  jitter: z.number().min(0).max(1).default(0.4),
  jitterP: z.number().min(0).max(1).default(0.8),
  seed: z.number().int().min(0).default(0),
  checkpointEvery: z.number().int().positive().default(200),
  logEvery: z.number().int().positive().default(20),
});

/** DINO's settings (used when model.objective is 'dino'); defaults after Caron et al., sized for small images. */
export const DinoSettings = z.object({
  /** prototypes K of the head's last layer */
  outDim: z.number().int().min(2).default(1024),
  hidden: z.number().int().positive().default(512),
  bottleneck: z.number().int().positive().default(128),
  studentTemp: z.number().positive().default(0.1),
  /** the teacher's temperature warms up from teacherTempStart to teacherTemp over teacherTempWarmup steps */
  teacherTempStart: z.number().positive().default(0.04),
  teacherTemp: z.number().positive().default(0.07),
  teacherTempWarmup: z.number().int().min(0).default(300),
  centerMomentum: z.number().min(0).max(1).default(0.9),
  /** the teacher's EMA momentum rises from this to 1 along a cosine */
  momentum: z.number().min(0).max(1).default(0.996),
  /** small views per image (the two global views are the trainer's usual crops) */
  localCrops: z.number().int().min(0).default(4),
  localScale: z.tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)]).default([0.15, 0.45]),
  /** side of the local views as a fraction of the image's */
  localSize: z.number().gt(0).max(1).default(0.5),
  /**
   * batch-normalised hidden layers in the head. DINO leaves them out for ViTs; here, without them, a
   * small ViT's CLS tokens start out alike for every image as the ResNet's pooled features do, and its
   * centred teacher went uniform (entropy log K) within 140 steps on the clutter canvases
   */
  headBatchNorm: z.boolean().default(true),
});
export type DinoSettings = z.infer<typeof DinoSettings>;

/**
 * The ViT's shape (model.arch 'vit'). The defaults are sized for 32-64 px images on a CPU: 4 px patches
 * give a 12x12 grid at 48 px (LOST's graph of 144 patches, as the CNN's stride-4 stage), width 128 in 4
 * heads of 32 and 4 blocks: about 0.8M parameters, a fifth of a ViT-Tiny's forward cost per token.
 */
export const ViTSettings = z.object({
  patchSize: z.number().int().positive().default(4),
  dim: z.number().int().positive().default(128),
  depth: z.number().int().positive().default(4),
  heads: z.number().int().positive().default(4),
  mlpRatio: z.number().positive().default(4),
});

/** iBOT's masked patch distillation beside DINO's (a ViT trained with objective 'dino'). */
export const IbotSettings = z.object({
  /** weight of the masked-patch loss beside DINO's CLS loss; 0: DINO alone */
  weight: z.number().min(0).default(1),
  /** the fraction of global views that are masked at all (iBOT: 0.5) */
  maskProb: z.number().min(0).max(1).default(0.5),
  /** a masked view's ratio of masked patches, drawn uniformly from this range (iBOT: 0.1-0.5) */
  maskRatio: z.tuple([z.number().min(0).max(1), z.number().min(0).max(1)]).default([0.1, 0.5]),
  /** the teacher's temperature on patches (iBOT: 0.07, after the same warm-up as the CLS one) */
  teacherTemp: z.number().positive().default(0.07),
});

export const EncoderConfig = z.object({
  data: DataSpec,
  model: z
    .object({
      widths: z.array(z.number().int().positive()).default([32, 64, 128]),
      blocksPerStage: z.number().int().positive().default(1),
      projHidden: z.number().int().positive().default(256),
      projDim: z.number().int().positive().default(128),
      objective: z.enum(['simclr', 'dino']).default('simclr'),
      dino: DinoSettings.default(DinoSettings.parse({})),
      /** the backbone: the small ResNet, or a Vision Transformer (dense features for LOST and STEGO) */
      arch: z.enum(['resnet', 'vit']).default('resnet'),
      vit: ViTSettings.default(ViTSettings.parse({})),
      ibot: IbotSettings.default(IbotSettings.parse({})),
    })
    .default({
      widths: [32, 64, 128],
      blocksPerStage: 1,
      projHidden: 256,
      projDim: 128,
      objective: 'simclr',
      dino: DinoSettings.parse({}),
      arch: 'resnet',
      vit: ViTSettings.parse({}),
      ibot: IbotSettings.parse({}),
    }),
  train: EncoderTrainSettings,
});
export type EncoderConfig = z.infer<typeof EncoderConfig>;
export type EncoderConfigInput = z.input<typeof EncoderConfig>;

/** Backbone + head (SimCLR's projection or DINO's prototypes); features come from the backbone. */
export class SslEncoder extends nn.Module<[torch.Tensor], torch.Tensor> {
  readonly backbone: SmallResNet | VisionTransformer;
  readonly head: ProjectionHead | DinoHead;
  /** `imageSize`: the side a ViT's position embeddings are learned for (the training images') */
  constructor(inChannels: number, m: EncoderConfig['model'], imageSize?: number) {
    super();
    if (m.arch === 'vit' && imageSize === undefined) throw new Error('a ViT encoder needs its image size');
    this.backbone = this.registerModule(
      'backbone',
      m.arch === 'vit'
        ? new VisionTransformer({ inChannels, imageSize: imageSize!, ...m.vit })
        : new SmallResNet({ inChannels, widths: m.widths, blocksPerStage: m.blocksPerStage }),
    );
    const dim = this.backbone.featureDim;
    this.head = this.registerModule(
      'head',
      m.objective === 'dino'
        ? new DinoHead(dim, m.dino.hidden, m.dino.bottleneck, m.dino.outDim, m.dino.headBatchNorm)
        : new ProjectionHead(dim, m.projHidden, m.projDim),
    );
  }
  /** The ViT backbone, for its tokens, keys and attention; a ResNet has none of them. */
  get vit(): VisionTransformer {
    if (!(this.backbone instanceof VisionTransformer)) throw new Error('this encoder is a ResNet, not a ViT');
    return this.backbone;
  }
  forward(x: torch.Tensor): torch.Tensor {
    return this.head.call(this.backbone.call(x).features);
  }
  /** What the head makes of backbone features as a feature: SimCLR's projection, DINO's normalised bottleneck. */
  projection(features: torch.Tensor): torch.Tensor {
    return this.head instanceof DinoHead ? this.head.embed(features).bottleneck : this.head.call(features);
  }
}

export class EncoderTrainer extends TrainingLoop<EncoderConfig> {
  protected readonly format = ENCODER_FORMAT;

  /** the batch the next step trains on (prepareStep fetches it) */
  private batch: ImageBatch | null = null;

  private constructor(
    run: RunDir<EncoderConfig>,
    readonly data: TrainingData,
    readonly model: SslEncoder,
    readonly optimizer: optim.AdamW,
    readonly scheduler: optim.LRScheduler,
    readonly generator: torch.Generator,
    device: torch.Device,
    /** DINO: the teacher (the student's moving average) and the centre of its outputs */
    readonly teacher: SslEncoder | null = null,
    readonly center: torch.Tensor | null = null,
    /** iBOT: the centre of the teacher's patch outputs */
    readonly patchCenter: torch.Tensor | null = null,
  ) {
    super(run, device);
  }

  static async open(
    runDir: string,
    o: OpenRunOptions & { config?: EncoderConfigInput; device?: torch.Device } = {},
  ): Promise<EncoderTrainer> {
    const device = torch.parseDevice(o.device ?? 'cpu');
    return TrainingLoop.openRun(runDir, o, EncoderConfig, async (run) => {
      const { config } = run;
      const data = await openTrainingData(config.data, {
        batchSize: config.train.batchSize,
        seed: config.train.seed,
        parallel: run.parallel,
        log: run.log,
      });
      const ds = data.dataset;
      torch.manualSeed(config.train.seed);
      const model = new SslEncoder(ds.channels, config.model, ds.size).to(device);
      let teacher: SslEncoder | null = null;
      let center: torch.Tensor | null = null;
      let patchCenter: torch.Tensor | null = null;
      if (config.model.objective === 'dino') {
        teacher = new SslEncoder(ds.channels, config.model, ds.size).to(device);
        teacher.loadStateDict(model.stateDict());
        for (const p of teacher.parameters()) p.requiresGrad_(false);
        center = torch.keep(torch.zeros([config.model.dino.outDim], { device }));
        if (maskedPatches(config.model)) patchCenter = torch.keep(torch.zeros([config.model.dino.outDim], { device }));
      }
      const opt = new optim.AdamW(model.parameters(), { lr: config.train.lr, weightDecay: config.train.weightDecay });
      const sched = new optim.LRScheduler(
        opt,
        config.train.lr,
        optim.warmupCosine(config.train.warmup, config.train.steps, 0.05),
      );
      const generator = torch.streamGenerator(config.train.seed, 'train.noise');
      return new EncoderTrainer(run, data, model, opt, sched, generator, device, teacher, center, patchCenter);
    });
  }

  get dataset(): DatasetMeta {
    return this.data.dataset;
  }
  /** the data order a checkpoint keeps */
  get loader(): BatchSource {
    return this.data.batches;
  }

  protected trainingState(): TrainingState {
    return this;
  }

  protected override async prepareStep(): Promise<void> {
    this.batch ??= await this.loader.next();
  }

  protected override checkpointExtras() {
    // DINO's teacher and centre travel as the checkpoint's moving-average part: the teacher is one.
    const ema = this.teacher
      ? new Map<string, torch.Tensor>([
          ...[...this.teacher.stateDict()].map(([k, t]) => [`${TEACHER}${k}`, t] as const),
          ['center', this.center!],
          ...(this.patchCenter ? [['patch_center', this.patchCenter] as const] : []),
        ])
      : undefined;
    return {
      ema,
      meta: {
        inChannels: this.dataset.channels,
        imageSize: this.dataset.size,
        dataset: { name: this.dataset.info.name, n: this.dataset.length },
      },
    };
  }

  protected override restoreExtras(ck: LoadedCheckpoint): void {
    if (!this.teacher) return;
    const center = ck.ema.get('center');
    if (!center) throw new Error(`${ck.path} is a DINO run's checkpoint without its teacher's centre`);
    this.teacher.loadStateDict(teacherState(ck.ema));
    torch.noGrad(() => this.center!.copy_(center));
    if (this.patchCenter) {
      const patch = ck.ema.get('patch_center');
      if (!patch) throw new Error(`${ck.path} is an iBOT run's checkpoint without its patch centre`);
      torch.noGrad(() => this.patchCenter!.copy_(patch));
    }
  }

  /**
   * One step: SimCLR's (two views, NT-Xent) or DINO's (two global and several local views, the student
   * against the teacher), then backward; the loop clips and steps. In a data-parallel run (SimCLR) every
   * rank augments the global batch (one generator stream for all) and keeps its rows; the negatives of
   * NT-Xent and BatchNorm's statistics are those of its own rows, as in DistributedDataParallel without
   * SyncBatchNorm or a gathered loss.
   */
  protected optimizationStep(): StepMetrics {
    const tr = this.config.train;
    const { images, slice: s } = this.batch!;
    this.batch = null;
    // Augmentations are drawn for the whole global batch from the one generator every rank shares, and
    // each rank keeps its rows' (augment treats every row on its own, so the other rows can be zeros).
    const rest = images.shape.slice(1);
    const x =
      s.size === s.total
        ? images.alias()
        : torch.cat([torch.zeros([s.offset, ...rest]), images, torch.zeros([s.total - s.offset - s.size, ...rest])]);
    images.dispose();
    const mine = (v: torch.Tensor) => (s.size === s.total ? v : v.narrow(0, s.offset, s.size));
    const view = (o: AugmentOptions) =>
      mine(augment(x, this.generator, { jitter: tr.jitter, jitterP: tr.jitterP, ...o }));
    if (this.teacher) return this.dinoStep(view, mine, s.total);
    const v1 = view({ scale: tr.cropScale }),
      v2 = view({ scale: tr.cropScale });
    const z = this.model.call(torch.cat([v1, v2], 0).to(this.device));
    const [z1, z2] = z.chunk(2, 0);
    const loss = ntXent(z1!, z2!, tr.temperature);
    return { loss: this.backward(loss, { clipGradNorm: 5 }), view_rank: viewRank(z1!, z2!) };
  }

  private dinoStep(
    view: (o: AugmentOptions) => torch.Tensor,
    mine: (v: torch.Tensor) => torch.Tensor,
    total: number,
  ): StepMetrics {
    const d = this.config.model.dino;
    const size = Math.max(8, Math.round(this.dataset.size * d.localSize));
    const globals = torch.cat([
      view({ scale: this.config.train.cropScale }),
      view({ scale: this.config.train.cropScale }),
    ]);
    const locals = Array.from({ length: d.localCrops }, () => view({ scale: d.localScale, size }));
    const g = globals.to(this.device);
    const teacherTemp = teacherTemperature(d.teacherTempStart, d.teacherTemp, d.teacherTempWarmup, this.step);
    const local = locals.length ? this.model.call(torch.cat(locals).to(this.device)) : null;
    const withLocal = (t: torch.Tensor) => (local ? torch.cat([t, local]) : t);
    let loss: torch.Tensor;
    let teacherOut: torch.Tensor;
    let patchSums: number[] = [];
    let patchEntropy: number | undefined;
    if (this.patchCenter) {
      // iBOT: the global views' patches are masked for the student; the teacher sees them whole.
      const ib = this.config.model.ibot;
      const n = (this.dataset.size / this.config.model.vit.patchSize) ** 2;
      const drawn = patchMasks(2 * total, n, { prob: ib.maskProb, ratio: ib.maskRatio }, this.generator);
      const mask = torch.cat([mine(drawn.narrow(0, 0, total)), mine(drawn.narrow(0, total, total))]).to(this.device);
      const student = tokenScores(this.model, this.model.vit.tokens(g, mask));
      const teacher = torch.noGrad(() => tokenScores(this.teacher!, this.teacher!.vit.tokens(g)));
      teacherOut = teacher.cls;
      const teacherPatches = teacher.patches;
      const patchTemp = teacherTemperature(d.teacherTempStart, ib.teacherTemp, d.teacherTempWarmup, this.step);
      const cls = dinoLoss(withLocal(student.cls), teacherOut, this.center!, {
        studentTemp: d.studentTemp,
        teacherTemp,
      });
      const patches = maskedPatchLoss(student.patches, teacherPatches, mask, this.patchCenter, {
        studentTemp: d.studentTemp,
        teacherTemp: patchTemp,
      });
      loss = cls.add(patches.mul(ib.weight));
      patchSums = [
        ...(teacherPatches.sum([0, 1]).double().toTypedArray() as Float64Array),
        teacherPatches.shape[0]! * n,
      ];
      patchEntropy = targetEntropy(teacherPatches, this.patchCenter, patchTemp);
    } else {
      teacherOut = torch.noGrad(() => this.teacher!.call(g));
      loss = dinoLoss(withLocal(this.model.call(g)), teacherOut, this.center!, {
        studentTemp: d.studentTemp,
        teacherTemp,
      });
    }
    const [t1, t2] = teacherOut.chunk(2, 0);
    // The centres follow the teacher's means over the whole global batch: the loop sums them over processes.
    this.stepSums = [
      ...(teacherOut.sum(0).double().toTypedArray() as Float64Array),
      teacherOut.shape[0]!,
      ...patchSums,
    ];
    return {
      loss: this.backward(loss, { clipGradNorm: 3 }),
      teacher_entropy: targetEntropy(teacherOut, this.center!, teacherTemp),
      view_rank: viewRank(t1!, t2!),
      ...(patchEntropy !== undefined ? { patch_entropy: patchEntropy } : {}),
    };
  }

  protected override afterUpdate(): void {
    if (!this.teacher) return;
    const d = this.config.model.dino;
    const sums = this.stepSums!;
    this.stepSums = null;
    const k = d.outDim;
    // [CLS sums (K), rows] and, with iBOT, [patch sums (K), patches].
    const follow = (center: torch.Tensor, at: number) => {
      const rows = sums[at + k]!;
      const mean = torch
        .tensor(Float64Array.from(sums.slice(at, at + k), (x) => x / rows))
        .float()
        .to(center.device);
      updateCenter(center, mean.unsqueeze(0), d.centerMomentum);
    };
    follow(this.center!, 0);
    if (this.patchCenter) follow(this.patchCenter, k + 1);
    updateTeacher(this.teacher, this.model, teacherMomentum(d.momentum, this.step, this.config.train.steps));
  }

  /**
   * Eight fixed images, each followed by its seven nearest neighbours (cosine on the backbone's features)
   * among a fixed pool of up to 1,024 training images: neighbours that share shape and class show g
   * learning.
   */
  protected override async preview(): Promise<Preview> {
    const poolSize = Math.min(1024, this.dataset.length);
    const queries = Array.from({ length: 8 }, (_, i) => Math.floor((i * poolSize) / 8));
    const poolImages = await this.data.firstImages(poolSize);
    this.model.eval();
    const grid = torch.noGrad(() =>
      torch.tidy(() => {
        const pool = poolImages;
        const feats: torch.Tensor[] = [];
        for (let s = 0; s < poolSize; s += 256) {
          const x = pool.narrow(0, s, Math.min(256, poolSize - s)).to(this.device);
          feats.push(this.model.backbone.call(x).features.cpu());
        }
        const f = torch.normalize(torch.cat(feats, 0));
        const q = f.index([torch.tensor(Int32Array.from(queries)).long()]);
        // Rank 0 is the query itself (similarity 1); the rest are its neighbours.
        const nearest = q.matmul(f.t()).topk(Math.min(8, poolSize)).indices;
        return makeGrid(pool.index([nearest.flatten()]), nearest.shape[1]!);
      }),
    );
    poolImages.dispose();
    try {
      const { png, height, width, channels } = await encodePng(grid, 2);
      return { png, size: { height, width, channels } };
    } finally {
      grid.dispose();
    }
  }

  protected disposeState(): void {
    this.model.dispose();
    this.teacher?.dispose();
    this.center?.dispose();
    this.patchCenter?.dispose();
    this.optimizer.dispose();
    this.batch?.images.dispose();
    this.data.dispose();
  }
}

/**
 * The DINO head's scores of a ViT's tokens [B, 1 + n, D]: the CLS rows' [B, K] and the patches' [B, n, K].
 * Two calls, so that the head's batch norm never mixes them: one CLS row beside n patch rows per image
 * normalised the CLS by the patches' statistics, and the CLS teacher went uniform within 20 steps on the
 * clutter canvases.
 */
export function tokenScores(m: SslEncoder, tokens: torch.Tensor): { cls: torch.Tensor; patches: torch.Tensor } {
  const [b, len, dim] = tokens.shape as [number, number, number];
  const patches = m.head.call(tokens.narrow(1, 1, len - 1).reshape(b * (len - 1), dim));
  return { cls: m.head.call(tokens.select(1, 0)), patches: patches.reshape(b, len - 1, -1) };
}

/**
 * How well outputs tell an image's two views from other images': for each row of a [B, D], the fraction of
 * b's other rows closer (cosine) to it than its own partner row in b. 0: every view finds its partner; 0.5:
 * chance. DINO learns nothing while it stays near 0.5 (its targets for one view do not predict the other).
 */
export function viewRank(a: torch.Tensor, b: torch.Tensor): number {
  const n = a.shape[0]!;
  if (n < 2) return 0;
  return torch.tidy(() => {
    const s = torch.normalize(a, 2, 1).matmul(torch.normalize(b, 2, 1).t());
    return s.gt(s.diagonal().unsqueeze(1)).sum(1).float().mean().item() / (n - 1);
  });
}
