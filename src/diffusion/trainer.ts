// Training a guided diffusion model in a run directory: config.json, metrics.jsonl and checkpoints,
// written every N steps and on SIGINT/SIGTERM. Resuming restores model, EMA, optimizer, schedule,
// data order and RNG states, so an interrupted run continues exactly as if it had not stopped.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { applyFlips, BatchSampler, type ImageDataset } from '../data/index.js';
import { loadDataset } from '../data/spec.js';
import * as optim from '../optim/index.js';
import * as torch from '../torch/index.js';
import { Progress } from '../util/progress.js';
import {
  checkpointPath,
  latestCheckpoint,
  loadCheckpoint,
  pruneCheckpoints,
  saveCheckpoint,
} from '../optim/checkpoint.js';
import { captureTrainingState, openRunDir, restoreTrainingState, trapStopSignals } from '../optim/run-dir.js';
import {
  conditionDims,
  disposeConditions,
  dropConditions,
  gatherConditions,
  labelCondition,
  loadConditionFile,
  noCondition,
  type ConditionSet,
} from './conditions.js';
import { parseTrainConfig, type ConditionSpec, type TrainConfig, type TrainConfigInput } from './config.js';
import { NoiseSchedule } from './schedule.js';
import { UNet, unetConfig, type UNetConfig } from './unet.js';

export class NonFiniteLossError extends Error {
  constructor(msg: string) {
    super(msg);
    this.name = 'NonFiniteLossError';
  }
}

export interface TrainResult {
  step: number;
  status: 'done' | 'interrupted' | 'paused';
  checkpoint: string | null;
}

export function buildConditions(spec: ConditionSpec, ds: ImageDataset): ConditionSet {
  if (spec.kind === 'none') return noCondition();
  if (spec.kind === 'label') {
    if (!ds.labels)
      throw new Error(
        `condition 'label' needs ground-truth labels, and ${ds.info.name} has none (use --labels-from-folders for image folders)`,
      );
    if (ds.labels.some((l) => l < 0))
      throw new Error(
        `condition 'label': some images in ${ds.info.name} have no label (images directly in the root folder)`,
      );
    return labelCondition(ds.labels, ds.numClasses!);
  }
  return loadConditionFile(spec.path, ds.length);
}

export function buildUNetConfig(
  config: TrainConfig,
  ds: { size: number; channels: number },
  cond: { condDim: number; spatialCondChannels: number },
): UNetConfig {
  const { preset, ...overrides } = config.model;
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return unetConfig(preset, { imageSize: ds.size, channels: ds.channels, ...cond, ...defined });
}

export class DiffusionTrainer {
  private stepCount = 0;
  private stopRequested: string | null = null;

  private constructor(
    readonly runDir: string,
    readonly config: TrainConfig,
    readonly dataset: ImageDataset,
    readonly conditions: ConditionSet,
    readonly model: UNet,
    readonly ema: optim.EMA,
    readonly optimizer: optim.AdamW,
    readonly scheduler: optim.LRScheduler,
    readonly loader: BatchSampler,
    readonly schedule: NoiseSchedule,
    readonly generator: torch.Generator,
    /** where the model, EMA and optimizer live; batches, noise and RNG stay on the CPU and are moved */
    readonly device: torch.Device,
    private readonly log: (msg: string) => void,
  ) {}

  get step(): number {
    return this.stepCount;
  }

  /**
   * Opens a run directory: a new run writes config.json (refusing a directory that already has
   * checkpoints); with resume it reads config.json and the latest checkpoint. `steps` may extend a run.
   */
  static async open(
    runDir: string,
    o: {
      config?: TrainConfigInput;
      resume?: boolean;
      steps?: number;
      device?: torch.Device;
      log?: (msg: string) => void;
    } = {},
  ): Promise<DiffusionTrainer> {
    const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    const device = torch.parseDevice(o.device ?? 'cpu');
    const { config, resumeFrom } = openRunDir(runDir, o, parseTrainConfig);

    const dataset = await loadDataset(config.data, log);
    const conditions = buildConditions(config.condition, dataset);
    torch.manualSeed(config.train.seed);
    const model = new UNet(buildUNetConfig(config, dataset, conditionDims(conditions))).to(device);
    const ema = new optim.EMA(model, { decay: config.train.emaDecay, warmup: config.train.emaWarmup });
    const optimizer = new optim.AdamW(model.parameters(), {
      lr: config.train.lr,
      weightDecay: config.train.weightDecay,
    });
    const scheduler = new optim.LRScheduler(optimizer, config.train.lr, optim.linearWarmup(config.train.warmup));
    const loader = new BatchSampler(dataset.length, {
      batchSize: config.train.batchSize,
      shuffle: true,
      seed: config.train.seed,
      hflip: config.train.hflip,
    });
    const schedule = new NoiseSchedule(config.diffusion.schedule, config.diffusion.T);
    const generator = new torch.Generator(config.train.seed + 1);
    const trainer = new DiffusionTrainer(
      runDir,
      config,
      dataset,
      conditions,
      model,
      ema,
      optimizer,
      scheduler,
      loader,
      schedule,
      generator,
      device,
      log,
    );
    if (resumeFrom) trainer.restore(resumeFrom);
    else if (o.resume) log(`no checkpoint in ${runDir} yet; starting from step 0`);
    return trainer;
  }

  private restore(path: string): void {
    const ck = loadCheckpoint(path);
    try {
      this.stepCount = restoreTrainingState(ck, this);
      this.ema.loadStateDict({ tensors: ck.ema, numUpdates: ck.meta.emaUpdates as number });
    } finally {
      ck.dispose();
    }
    this.log(`resumed ${this.runDir} at step ${this.stepCount} from ${path}`);
  }

  /** Writes a checkpoint of the current state and prunes old ones; returns its path. */
  saveCheckpoint(): string {
    const path = checkpointPath(this.runDir, this.stepCount);
    const state = captureTrainingState(this);
    try {
      saveCheckpoint(path, {
        step: this.stepCount,
        model: state.model,
        ema: this.ema.stateDict().tensors,
        optim: state.optim,
        rng: state.rng,
        meta: {
          ...state.meta,
          config: this.config,
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
      });
    } finally {
      for (const t of state.rng.values()) t.dispose();
    }
    pruneCheckpoints(this.runDir, this.config.train.keepCheckpoints);
    return path;
  }

  /** One optimisation step; returns the loss and the gradient norm before clipping. */
  trainStep(): { loss: number; gradNorm: number } {
    const { train, diffusion } = this.config;
    return torch.tidy(() => {
      const batch = this.loader.next();
      const x0 = applyFlips(this.dataset.images(batch.indices), batch.flips);
      const gathered = gatherConditions(this.conditions, batch.indices);
      const maps = gathered.maps ? applyFlips(gathered.maps, batch.flips) : null;
      const { cond, maps: dropped } = dropConditions(gathered.cond, maps, train.condDrop, this.generator);
      const b = x0.shape[0]!;
      // Drawn on the CPU with the run's generator whatever the device, so a run's randomness (and its
      // resume) does not depend on where it trains.
      const t = torch.randint(0, diffusion.T, [b], { generator: this.generator });
      const noise = torch.randn(x0.shape, { generator: this.generator });
      const x0d = x0.to(this.device),
        td = t.to(this.device),
        noised = noise.to(this.device);
      const out = this.model.forward(
        this.schedule.qSample(x0d, td, noised),
        td,
        cond && cond.to(this.device),
        dropped && dropped.to(this.device),
      );
      const loss = torch.mseLoss(out, this.schedule.target(diffusion.prediction, x0d, noised, td));
      const value = loss.item();
      if (!Number.isFinite(value)) throw new NonFiniteLossError(`loss is ${value} at step ${this.stepCount + 1}`);
      this.optimizer.zeroGrad();
      loss.backward();
      const gradNorm = optim.clipGradNorm_(this.model.parameters(), train.gradClip);
      if (!Number.isFinite(gradNorm))
        throw new NonFiniteLossError(`gradient norm is ${gradNorm} at step ${this.stepCount + 1}`);
      this.optimizer.step();
      this.scheduler.step();
      this.ema.update(this.model);
      this.stepCount++;
      return { loss: value, gradNorm };
    });
  }

  /**
   * Trains until config.train.steps (or `untilStep`), checkpointing every checkpointEvery steps, at the
   * end, and when SIGINT/SIGTERM arrives (a second signal exits at once). Non-finite loss stops the run
   * with the last good checkpoint left in place.
   */
  async train(o: { untilStep?: number; progress?: boolean } = {}): Promise<TrainResult> {
    const { train } = this.config;
    const target = Math.min(o.untilStep ?? train.steps, train.steps);
    const untrap = trapStopSignals((sig) => {
      this.stopRequested = sig;
      this.log(`\n${sig}: stopping after this step and writing a checkpoint (send again to exit at once)`);
    });
    const progress =
      o.progress === false
        ? null
        : new Progress(train.steps, { label: 'train', every: train.logEvery }, this.stepCount);
    const metricsPath = join(this.runDir, 'metrics.jsonl');
    let sumLoss = 0,
      sumNorm = 0,
      n = 0,
      smooth = NaN;
    let windowStart = performance.now();
    let lastCheckpoint: string | null = null;
    this.model.train();
    try {
      while (this.stepCount < target && !this.stopRequested) {
        let r: { loss: number; gradNorm: number };
        try {
          r = this.trainStep();
        } catch (e) {
          if (e instanceof NonFiniteLossError) {
            const last = latestCheckpoint(this.runDir);
            throw new NonFiniteLossError(
              `${e.message}; training stopped. Last good checkpoint: ${last ?? 'none'}. Try a lower --lr.`,
            );
          }
          throw e;
        }
        sumLoss += r.loss;
        sumNorm += r.gradNorm;
        n++;
        smooth = Number.isNaN(smooth) ? r.loss : 0.98 * smooth + 0.02 * r.loss;
        const elapsed = (performance.now() - windowStart) / 1000;
        const ips = (n * train.batchSize) / elapsed;
        progress?.update(this.stepCount, { loss: smooth, 'img/s': ips });
        if (this.stepCount % train.logEvery === 0 || this.stepCount === target) {
          appendFileSync(
            metricsPath,
            `${JSON.stringify({ step: this.stepCount, loss: sumLoss / n, lr: this.optimizer.lr, grad_norm: sumNorm / n, images_per_s: ips, time: new Date().toISOString() })}\n`,
          );
          sumLoss = sumNorm = n = 0;
          windowStart = performance.now();
        }
        if (this.stepCount % train.checkpointEvery === 0) lastCheckpoint = this.saveCheckpoint();
        // Yield so signal handlers can run between steps.
        await new Promise((r) => setImmediate(r));
      }
      if (
        lastCheckpoint === null ||
        !lastCheckpoint.endsWith(`${String(this.stepCount).padStart(8, '0')}.safetensors`)
      ) {
        lastCheckpoint = this.saveCheckpoint();
      }
    } finally {
      untrap();
    }
    const status = this.stopRequested ? 'interrupted' : this.stepCount >= train.steps ? 'done' : 'paused';
    return { step: this.stepCount, status, checkpoint: lastCheckpoint };
  }

  /** Asks a running train() to stop after the current step, as a signal would. */
  requestStop(reason = 'stop requested'): void {
    this.stopRequested = reason;
  }

  dispose(): void {
    this.model.dispose();
    this.ema.dispose();
    this.optimizer.dispose();
    this.schedule.dispose();
    disposeConditions(this.conditions);
    this.dataset.dispose();
  }
}
