// Training a guided diffusion model: the diffusion step, its state (UNet, EMA, AdamW, conditions) and its
// checkpoint extras. The run directory, signals, metrics, checkpoints and resume are the training loop's.
import { applyFlips } from '../data/loader.js';
import type { BatchSource, DatasetMeta, ImageBatch } from '../data/batches.js';
import { openTrainingData, type TrainingData } from '../data/training-data.js';
import { encodePng, makeGrid } from '../data/png.js';
import * as optim from '../optim/index.js';
import * as torch from '../torch/index.js';
import { z } from 'zod';
import { CHECKPOINT_FORMAT, checkpointMeta, type LoadedCheckpoint } from '../train/checkpoint.js';
import { NonFiniteLossError, TrainingLoop, type Preview, type StepMetrics, type TrainResult } from '../train/loop.js';
import type { OpenRunOptions, RunDir } from '../train/run-dir.js';
import type { TrainingState } from '../train/state.js';
import {
  buildConditions,
  conditionDims,
  disposeConditions,
  dropConditions,
  gatherConditions,
  type ConditionSet,
} from './conditions.js';
import { TrainConfig, type TrainConfigInput } from './config.js';
import { layoutsBesideSamples } from './layout.js';
import { diffusionLoss } from './loss.js';
import { drawConditions, generate, type LoadedModel } from './pipeline.js';
import { NoiseSchedule } from './schedule.js';

export { NonFiniteLossError, type TrainResult };
import { UNet, unetConfig, type UNetConfig } from './unet.js';

export function buildUNetConfig(
  config: TrainConfig,
  ds: { size: number; channels: number },
  cond: { condDim: number; spatialCondChannels: number },
): UNetConfig {
  const { preset, ...overrides } = config.model;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return unetConfig(preset, { imageSize: ds.size, channels: ds.channels, ...cond, ...defined });
}

export class DiffusionTrainer extends TrainingLoop<TrainConfig> {
  protected readonly format = CHECKPOINT_FORMAT;
  /** the network previews sample with, loaded with the EMA weights each time */
  private previewNet: UNet | null = null;
  /** the batch the next step trains on (prepareStep fetches it) */
  private batch: ImageBatch | null = null;

  private constructor(
    run: RunDir<TrainConfig>,
    readonly data: TrainingData,
    readonly conditions: ConditionSet,
    readonly model: UNet,
    readonly ema: optim.EMA,
    readonly optimizer: optim.AdamW,
    readonly scheduler: optim.LRScheduler,
    readonly schedule: NoiseSchedule,
    readonly generator: torch.Generator,
    device: torch.Device,
  ) {
    super(run, device);
  }

  /**
   * Opens a run directory: a new run validates its config (refusing a directory that already has
   * checkpoints); with resume it reads config.json and the newest intact checkpoint. `steps` may extend
   * a run. config.json is written only once all of that has succeeded.
   */
  static async open(
    runDir: string,
    o: OpenRunOptions & { config?: TrainConfigInput; device?: torch.Device } = {},
  ): Promise<DiffusionTrainer> {
    const device = torch.parseDevice(o.device ?? 'cpu');
    return TrainingLoop.openRun(runDir, o, TrainConfig, async (run) => {
      const { config } = run;
      const data = await openTrainingData(config.data, {
        batchSize: config.train.batchSize,
        seed: config.train.seed,
        hflip: config.train.hflip,
        parallel: run.parallel,
        labels: config.condition.kind === 'label',
        log: run.log,
      });
      const dataset = data.dataset;
      const conditions = buildConditions(config.condition, dataset);
      torch.manualSeed(config.train.seed);
      const model = new UNet(buildUNetConfig(config, dataset, conditionDims(conditions))).to(device);
      const ema = new optim.EMA(model, { decay: config.train.emaDecay, warmup: config.train.emaWarmup });
      const optimizer = new optim.AdamW(model.parameters(), {
        lr: config.train.lr,
        weightDecay: config.train.weightDecay,
      });
      const scheduler = new optim.LRScheduler(optimizer, config.train.lr, optim.linearWarmup(config.train.warmup));
      const schedule = new NoiseSchedule(config.diffusion.schedule, config.diffusion.T, {
        zeroTerminalSnr: config.diffusion.zeroTerminalSnr,
      });
      const generator = torch.streamGenerator(config.train.seed, 'train.noise');
      return new DiffusionTrainer(run, data, conditions, model, ema, optimizer, scheduler, schedule, generator, device);
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
    return {
      ema: this.ema.stateDict().tensors,
      meta: {
        unet: this.model.config,
        emaUpdates: this.ema.numUpdates,
        conditions: {
          source: this.conditions.source,
          numIds: this.conditions.numIds,
          oneHot: this.conditions.oneHot,
          meta: this.conditions.meta,
        },
        dataset: { name: this.dataset.info.name, n: this.dataset.length },
      },
    };
  }

  protected override restoreExtras(ck: LoadedCheckpoint): void {
    const numUpdates = checkpointMeta(ck, 'emaUpdates', z.number().int().min(0));
    this.ema.loadStateDict({ tensors: ck.ema, numUpdates });
  }

  /**
   * The diffusion loss on this process's rows of the global batch (its random draws taken from the global
   * batch's, so the number of processes does not change them) and backward; the loop clips and steps.
   */
  protected optimizationStep(): StepMetrics {
    const { train, diffusion } = this.config;
    const { indices, flips, images, slice } = this.batch!;
    this.batch = null;
    const x0 = applyFlips(images, flips);
    images.dispose();
    const gathered = gatherConditions(this.conditions, indices);
    const maps = gathered.maps ? applyFlips(gathered.maps, flips) : null;
    const { cond, maps: dropped } = dropConditions(gathered.cond, maps, train.condDrop, this.generator, slice);
    const loss = diffusionLoss(this.model, this.schedule, x0, {
      cond,
      maps: dropped,
      prediction: diffusion.prediction,
      generator: this.generator,
      device: this.device,
      slice,
    });
    return { loss: this.backward(loss, { clipGradNorm: train.gradClip }) };
  }

  protected override afterUpdate(): void {
    this.ema.update(this.model);
  }

  /**
   * 16 samples from the EMA weights with fixed noise and fixed conditions drawn from the training
   * annotations (DDIM-10, s = 2), so that previews compare over the run; a spatial model's layouts
   * beside its samples.
   */
  protected override async preview(): Promise<Preview> {
    const n = 16;
    const seed = this.config.train.seed;
    const net = (this.previewNet ??= new UNet(this.model.config).to(this.device));
    net.loadStateDict(this.ema.stateDict().tensors);
    net.eval();
    const cfg = this.model.config;
    const drawn = cfg.condDim > 0 || cfg.spatialCondChannels > 0 ? drawConditions(this.conditions, n, seed) : null;
    const m: LoadedModel = {
      model: net,
      schedule: this.schedule,
      config: this.config,
      step: this.step,
      path: this.runDir,
      device: this.device,
      conditions: {
        source: this.conditions.source,
        numIds: this.conditions.numIds,
        oneHot: this.conditions.oneHot,
        meta: {},
      },
      dispose: () => {},
    };
    const grid = torch.tidy(() => {
      const images = generate(m, {
        n,
        cond: drawn?.cond ?? null,
        maps: drawn?.maps ?? null,
        scale: 2,
        sampler: 'ddim',
        steps: 10,
        seed,
        batchSize: n,
      });
      return makeGrid(drawn?.maps ? layoutsBesideSamples(drawn.maps, images, n) : images, 8);
    });
    try {
      const { png, height, width, channels } = await encodePng(grid, 2);
      return { png, size: { height, width, channels } };
    } finally {
      grid.dispose();
      drawn?.cond?.dispose();
      drawn?.maps?.dispose();
    }
  }

  protected disposeState(): void {
    this.previewNet?.dispose();
    this.model.dispose();
    this.ema.dispose();
    this.optimizer.dispose();
    this.schedule.dispose();
    disposeConditions(this.conditions);
    this.batch?.images.dispose();
    this.data.dispose();
  }
}
