// `selfguided encoder train`: SimCLR on the unlabeled training images. This file holds the SimCLR step,
// its state and its config; the run directory, checkpoints and resume are the training loop's.
import { z } from 'zod';
import { BatchSampler, type ImageDataset } from '../../data/index.js';
import { DataSpec, loadDataset } from '../../data/spec.js';
import { encodePng, makeGrid } from '../../data/png.js';
import { TrainingLoop, type Preview, type StepMetrics } from '../../train/loop.js';
import type { OpenRunOptions, RunDir } from '../../train/run-dir.js';
import type { TrainingState } from '../../train/state.js';
import * as nn from '../../nn/index.js';
import * as optim from '../../optim/index.js';
import { torchGenerator } from '../../util/streams.js';
import * as torch from '../../torch/index.js';
import { augment } from './augment.js';
import { ntXent } from './ntxent.js';
import { ProjectionHead, SmallResNet } from './resnet.js';

export const ENCODER_FORMAT = 'selfguided-encoder-checkpoint/1';

/** The optimisation and run settings (the CLI's defaults are read from here). */
export const EncoderTrainSettings = z.object({
  steps: z.number().int().positive(),
  batchSize: z.number().int().min(2).default(256),
  lr: z.number().positive().default(2e-3),
  weightDecay: z.number().min(0).default(1e-4),
  warmup: z.number().int().min(0).default(100),
  temperature: z.number().positive().default(0.2),
  cropScale: z.tuple([z.number().gt(0).max(1), z.number().gt(0).max(1)]).default([0.3, 1]),
  seed: z.number().int().min(0).default(0),
  checkpointEvery: z.number().int().positive().default(200),
  logEvery: z.number().int().positive().default(20),
});

export const EncoderConfig = z.object({
  data: DataSpec,
  model: z
    .object({
      widths: z.array(z.number().int().positive()).default([32, 64, 128]),
      blocksPerStage: z.number().int().positive().default(1),
      projHidden: z.number().int().positive().default(256),
      projDim: z.number().int().positive().default(128),
    })
    .default({ widths: [32, 64, 128], blocksPerStage: 1, projHidden: 256, projDim: 128 }),
  train: EncoderTrainSettings,
});
export type EncoderConfig = z.infer<typeof EncoderConfig>;
export type EncoderConfigInput = z.input<typeof EncoderConfig>;

/** Backbone + projection head; only the backbone is used for features. */
export class SimCLR extends nn.Module<[torch.Tensor], torch.Tensor> {
  readonly backbone: SmallResNet;
  readonly head: ProjectionHead;
  constructor(inChannels: number, m: EncoderConfig['model']) {
    super();
    this.backbone = this.registerModule(
      'backbone',
      new SmallResNet({ inChannels, widths: m.widths, blocksPerStage: m.blocksPerStage }),
    );
    this.head = this.registerModule('head', new ProjectionHead(this.backbone.featureDim, m.projHidden, m.projDim));
  }
  forward(x: torch.Tensor): torch.Tensor {
    return this.head.call(this.backbone.call(x).features);
  }
}

export class EncoderTrainer extends TrainingLoop<EncoderConfig> {
  protected readonly format = ENCODER_FORMAT;

  private constructor(
    run: RunDir<EncoderConfig>,
    readonly dataset: ImageDataset,
    readonly model: SimCLR,
    readonly optimizer: optim.AdamW,
    readonly scheduler: optim.LRScheduler,
    readonly loader: BatchSampler,
    readonly generator: torch.Generator,
    device: torch.Device,
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
      const ds = await loadDataset(config.data, run.log);
      torch.manualSeed(config.train.seed);
      const model = new SimCLR(ds.channels, config.model).to(device);
      const opt = new optim.AdamW(model.parameters(), { lr: config.train.lr, weightDecay: config.train.weightDecay });
      const sched = new optim.LRScheduler(
        opt,
        config.train.lr,
        optim.warmupCosine(config.train.warmup, config.train.steps, 0.05),
      );
      const loader = new BatchSampler(ds.length, {
        batchSize: config.train.batchSize,
        seed: config.train.seed,
      });
      const generator = torchGenerator(config.train.seed, 'train.noise');
      return new EncoderTrainer(run, ds, model, opt, sched, loader, generator, device);
    });
  }

  protected trainingState(): TrainingState {
    return this;
  }

  protected override checkpointExtras() {
    return {
      meta: {
        inChannels: this.dataset.channels,
        dataset: { name: this.dataset.info.name, n: this.dataset.length },
      },
    };
  }

  /**
   * One SimCLR step: two augmented views of a batch, NT-Xent, backward (the loop clips and steps). In a
   * data-parallel run every rank augments the global batch (one generator stream for all) and keeps its
   * rows; the negatives of NT-Xent and BatchNorm's statistics are those of its own rows, as in
   * DistributedDataParallel without SyncBatchNorm or a gathered loss.
   */
  protected optimizationStep(): StepMetrics {
    const tr = this.config.train;
    const batch = this.loader.next();
    const s = this.batchSlice(batch.indices.length);
    const x = this.dataset.images(batch.indices);
    const aug = { scale: tr.cropScale };
    const mine = (v: torch.Tensor) => (s.size === s.total ? v : v.narrow(0, s.offset, s.size));
    const v1 = mine(augment(x, this.generator, aug)),
      v2 = mine(augment(x, this.generator, aug));
    const z = this.model.call(torch.cat([v1, v2], 0).to(this.device));
    const [z1, z2] = z.chunk(2, 0);
    const loss = ntXent(z1!, z2!, tr.temperature);
    return { loss: this.backward(loss, { clipGradNorm: 5 }) };
  }

  /**
   * Eight fixed images, each followed by its seven nearest neighbours (cosine on the backbone's features)
   * among a fixed pool of up to 1,024 training images: neighbours that share shape and class show g
   * learning.
   */
  protected override async preview(): Promise<Preview> {
    const poolSize = Math.min(1024, this.dataset.length);
    const queries = Array.from({ length: 8 }, (_, i) => Math.floor((i * poolSize) / 8));
    this.model.eval();
    const grid = torch.noGrad(() =>
      torch.tidy(() => {
        const pool = this.dataset.images(Array.from({ length: poolSize }, (_, i) => i));
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
    try {
      const { png, height, width, channels } = await encodePng(grid, 2);
      return { png, size: { height, width, channels } };
    } finally {
      grid.dispose();
    }
  }

  protected disposeState(): void {
    this.model.dispose();
    this.optimizer.dispose();
    this.dataset.dispose();
  }
}
