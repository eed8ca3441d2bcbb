// `selfguided encoder train`: SimCLR on the unlabeled training images, in a run directory with
// config.json, metrics.jsonl and checkpoints (every N steps and on SIGINT/SIGTERM), resumable exactly.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { BatchSampler, type ImageDataset } from '../../data/index.js';
import { DataSpec, loadDataset } from '../../data/spec.js';
import { checkpointPath, loadCheckpoint, pruneCheckpoints, saveCheckpoint } from '../../optim/checkpoint.js';
import { captureTrainingState, openRunDir, restoreTrainingState, trapStopSignals } from '../../optim/run-dir.js';
import * as nn from '../../nn/index.js';
import * as optim from '../../optim/index.js';
import * as torch from '../../torch/index.js';
import { Progress } from '../../util/progress.js';
import { augment } from './augment.js';
import { ntXent } from './ntxent.js';
import { ProjectionHead, SmallResNet } from './resnet.js';

export const ENCODER_FORMAT = 'selfguided-encoder-checkpoint/1';

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
  train: z.object({
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
  }),
});
export type EncoderConfig = z.infer<typeof EncoderConfig>;
export type EncoderConfigInput = z.input<typeof EncoderConfig>;

function parse(raw: unknown, src: string): EncoderConfig {
  const r = EncoderConfig.safeParse(raw);
  if (!r.success)
    throw new Error(`invalid ${src}: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  return r.data;
}

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
    return torch.tidy(() => this.head.forward(this.backbone.forward(x).features));
  }
}

export class EncoderTrainer {
  private stepCount = 0;
  private stop: string | null = null;
  private constructor(
    readonly runDir: string,
    readonly config: EncoderConfig,
    readonly dataset: ImageDataset,
    readonly model: SimCLR,
    readonly optimizer: optim.AdamW,
    readonly scheduler: optim.LRScheduler,
    readonly loader: BatchSampler,
    readonly generator: torch.Generator,
    /** where the network and optimizer live; the augmentations are drawn on the CPU and moved */
    readonly device: torch.Device,
    private readonly log: (m: string) => void,
  ) {}

  get step(): number {
    return this.stepCount;
  }

  static async open(
    runDir: string,
    o: {
      config?: EncoderConfigInput;
      resume?: boolean;
      steps?: number;
      device?: torch.Device;
      log?: (m: string) => void;
    } = {},
  ): Promise<EncoderTrainer> {
    const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    const device = torch.parseDevice(o.device ?? 'cpu');
    const { config, resumeFrom } = openRunDir(runDir, o, parse);
    const ds = await loadDataset(config.data, log);
    torch.manualSeed(config.train.seed);
    const model = new SimCLR(ds.channels, config.model).to(device);
    const opt = new optim.AdamW(model.parameters(), { lr: config.train.lr, weightDecay: config.train.weightDecay });
    const sched = new optim.LRScheduler(
      opt,
      config.train.lr,
      optim.warmupCosine(config.train.warmup, config.train.steps, 0.05),
    );
    const loader = new BatchSampler(ds.length, { batchSize: config.train.batchSize, seed: config.train.seed });
    const t = new EncoderTrainer(
      runDir,
      config,
      ds,
      model,
      opt,
      sched,
      loader,
      new torch.Generator(config.train.seed + 1),
      device,
      log,
    );
    if (resumeFrom) t.restore(resumeFrom);
    return t;
  }

  private restore(path: string): void {
    const ck = loadCheckpoint(path, ENCODER_FORMAT);
    try {
      this.stepCount = restoreTrainingState(ck, this);
    } finally {
      ck.dispose();
    }
    this.log(`resumed ${this.runDir} at step ${this.stepCount}`);
  }

  saveCheckpoint(): string {
    const path = checkpointPath(this.runDir, this.stepCount);
    const state = captureTrainingState(this);
    try {
      saveCheckpoint(
        path,
        {
          step: this.stepCount,
          model: state.model,
          ema: new Map(),
          optim: state.optim,
          rng: state.rng,
          meta: {
            ...state.meta,
            config: this.config,
            inChannels: this.dataset.channels,
            dataset: { name: this.dataset.info.name, n: this.dataset.length },
          },
        },
        ENCODER_FORMAT,
      );
    } finally {
      for (const t of state.rng.values()) t.dispose();
    }
    pruneCheckpoints(this.runDir, 2);
    return path;
  }

  trainStep(): number {
    const tr = this.config.train;
    return torch.tidy(() => {
      const batch = this.loader.next();
      const x = this.dataset.images(batch.indices);
      const aug = { scale: tr.cropScale };
      const v1 = augment(x, this.generator, aug),
        v2 = augment(x, this.generator, aug);
      const z = this.model.forward(torch.cat([v1, v2], 0).to(this.device));
      const [z1, z2] = z.chunk(2, 0);
      const loss = ntXent(z1!, z2!, tr.temperature);
      const value = loss.item();
      if (!Number.isFinite(value))
        throw new Error(
          `encoder loss is ${value} at step ${this.stepCount + 1}; stopped (last checkpoint kept). Try a lower --lr.`,
        );
      this.optimizer.zeroGrad();
      loss.backward();
      optim.clipGradNorm_(this.model.parameters(), 5);
      this.optimizer.step();
      this.scheduler.step();
      this.stepCount++;
      return value;
    });
  }

  async train(
    o: { untilStep?: number; progress?: boolean } = {},
  ): Promise<{ step: number; status: 'done' | 'interrupted' | 'paused'; checkpoint: string }> {
    const tr = this.config.train;
    const target = Math.min(o.untilStep ?? tr.steps, tr.steps);
    const untrap = trapStopSignals((sig) => {
      this.stop = sig;
      this.log(`\n${sig}: stopping after this step and writing a checkpoint (send again to exit at once)`);
    });
    const progress =
      o.progress === false ? null : new Progress(tr.steps, { label: 'encoder', every: tr.logEvery }, this.stepCount);
    let sum = 0,
      n = 0,
      smooth = NaN,
      t0 = performance.now();
    let last = '';
    this.model.train();
    try {
      while (this.stepCount < target && !this.stop) {
        const l = this.trainStep();
        sum += l;
        n++;
        smooth = Number.isNaN(smooth) ? l : 0.95 * smooth + 0.05 * l;
        const ips = (n * tr.batchSize) / ((performance.now() - t0) / 1000);
        progress?.update(this.stepCount, { loss: smooth, 'img/s': ips });
        if (this.stepCount % tr.logEvery === 0 || this.stepCount === target) {
          appendFileSync(
            join(this.runDir, 'metrics.jsonl'),
            `${JSON.stringify({ step: this.stepCount, loss: sum / n, lr: this.optimizer.lr, images_per_s: ips, time: new Date().toISOString() })}\n`,
          );
          sum = n = 0;
          t0 = performance.now();
        }
        if (this.stepCount % tr.checkpointEvery === 0) last = this.saveCheckpoint();
        await new Promise((r) => setImmediate(r));
      }
      if (!last.endsWith(`${String(this.stepCount).padStart(8, '0')}.safetensors`)) last = this.saveCheckpoint();
    } finally {
      untrap();
    }
    return {
      step: this.stepCount,
      status: this.stop ? 'interrupted' : this.stepCount >= tr.steps ? 'done' : 'paused',
      checkpoint: last,
    };
  }

  dispose(): void {
    this.model.dispose();
    this.optimizer.dispose();
    this.dataset.dispose();
  }
}
