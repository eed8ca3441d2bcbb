// The one training loop. A trainer extends TrainingLoop and supplies its step, its state and its
// checkpoint extras; the loop owns everything a run shares: the run directory and its lock, stop signals,
// progress, metrics.jsonl and a TensorBoard event file, previews, checkpoint cadence, naming and pruning,
// bit-exact resume from the newest intact checkpoint, and the rule that a run is never lost or silently
// corrupted.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { StateDictError } from '../nn/module.js';
import { clipGradNorm_ } from '../optim/clip.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { writeFileAtomic } from '../util/files.js';
import { Progress } from '../util/progress.js';
import { EventWriter, type ImageSize } from '../util/tensorboard/event-writer.js';
import {
  checkpointPath,
  latestCheckpoint,
  loadNewestIntact,
  pruneCheckpoints,
  saveCheckpoint,
  type LoadedCheckpoint,
} from './checkpoint.js';
import { wholeBatch, type BatchSlice, type DataParallel } from './data-parallel.js';
import { RunDir, type OpenRunOptions, type RunConfig } from './run-dir.js';
import { captureTrainingState, restoreTrainingState, type TrainingState } from './state.js';

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

/** Numbers a step reports (loss first); the loop averages them over each logging window. */
export type StepMetrics = { loss: number } & Record<string, number>;

export interface TrainOptions {
  /** stop (status 'paused') at this step instead of config.train.steps */
  untilStep?: number;
  /** the progress bar on stderr (default true) */
  progress?: boolean;
  /** called after every step with its metrics (previews, a live view) */
  onStep?: (step: number, metrics: StepMetrics) => void;
  /** every this many steps (and at the end) the trainer's preview, if it has one, goes to previews/ and
   * the TensorBoard event file; 0 or absent: none */
  previewEvery?: number;
}

/** An encoded picture of the model's progress (a grid of samples, of neighbours...). */
export interface Preview {
  png: Uint8Array;
  size: ImageSize;
}

/**
 * Routes SIGINT/SIGTERM to onStop (a second signal exits at once with 130); returns the function that
 * removes the handlers.
 */
export function trapStopSignals(onStop: (signal: string) => void): () => void {
  let stopping = false;
  const handler = (sig: string) => () => {
    if (stopping) process.exit(130);
    stopping = true;
    onStop(sig);
  };
  const h = { SIGINT: handler('SIGINT'), SIGTERM: handler('SIGTERM') };
  process.on('SIGINT', h.SIGINT);
  process.on('SIGTERM', h.SIGTERM);
  return () => {
    process.off('SIGINT', h.SIGINT);
    process.off('SIGTERM', h.SIGTERM);
  };
}

export abstract class TrainingLoop<C extends RunConfig> {
  private stepCount = 0;
  private stopRequested: string | null = null;
  /**
   * Data-parallel runs stop on the ranks' agreed decision only (any stop request seen in a step's
   * all-reduce): a signal that reaches one rank between the all-reduce and the next step must not stop it
   * alone, or the others would wait for it in their next all-reduce.
   */
  private agreedStop = false;
  private eventWriter: EventWriter | null = null;
  /** the clipping that backward() asked for, applied once the gradients are final */
  private pendingClip: number | undefined = undefined;
  /**
   * Sums a step wants over the whole global batch (DINO's teacher outputs for its centre): set by
   * optimizationStep as this process's sums, they hold every process's total by afterUpdate.
   */
  protected stepSums: number[] | null = null;

  /** the checkpoint format this trainer writes and reads */
  protected abstract readonly format: string;

  protected constructor(
    readonly run: RunDir<C>,
    /** where the model and optimizer live; data and random draws stay on the CPU and are moved */
    readonly device: torch.Device = 'cpu',
  ) {}

  get config(): C {
    return this.run.config;
  }
  get runDir(): string {
    return this.run.dir;
  }
  get step(): number {
    return this.stepCount;
  }
  protected get log(): (msg: string) => void {
    return this.run.log;
  }
  /** the data-parallel group this process trains in, or null */
  get parallel(): DataParallel | null {
    return this.run.parallel;
  }

  /** This process's rows of a global batch of `total` (all of them without data parallelism). */
  protected batchSlice(total: number): BatchSlice {
    return this.parallel ? this.parallel.slice(total) : wholeBatch(total);
  }

  /** Model, optimizer, lr schedule, data order and generator: what every checkpoint restores. */
  protected abstract trainingState(): TrainingState;
  /**
   * The forward and backward half of a step (inside a memory scope): compute the loss and call
   * backward(loss). The loop then averages the gradients over the ranks, clips, steps the optimizer and
   * the schedule, and calls afterUpdate().
   */
  protected abstract optimizationStep(): StepMetrics;
  /** What follows the optimizer step (an EMA update). */
  protected afterUpdate(): void {}
  /**
   * What a step waits for before it computes (the next batch, which a streamed dataset's reader thread
   * may still be decoding); optimizationStep itself runs synchronously.
   */
  protected async prepareStep(): Promise<void> {}
  /** Frees the trainer's model, optimizer and data. */
  protected abstract disposeState(): void;
  /** An EMA and metadata saved beside the training state. */
  protected checkpointExtras(): { ema?: Map<string, Tensor>; meta?: Record<string, unknown> } {
    return {};
  }
  /** Restores what checkpointExtras saved. */
  protected restoreExtras(_ck: LoadedCheckpoint): void {}
  /** A picture of the model now (fixed inputs, so that previews compare over time); null: none. */
  protected async preview(): Promise<Preview | null> {
    return null;
  }

  /**
   * This process's TensorBoard event file (train() opens it, so a run that fails to open writes none).
   * It starts with the config as text; a resumed run's file first purges what the interrupted process
   * logged after the checkpoint it resumed from.
   */
  get events(): EventWriter {
    if (!this.eventWriter) {
      this.eventWriter = new EventWriter(this.runDir, this.stepCount > 0 ? { purgeFrom: this.stepCount + 1 } : {});
      this.eventWriter.text('config', `\`\`\`json\n${JSON.stringify(this.config, null, 2)}\n\`\`\``, this.stepCount);
    }
    return this.eventWriter;
  }

  private async writePreview(): Promise<void> {
    // Previews draw nothing from the training streams (building a preview network draws initial weights
    // from the global generator): a run with previews trains, and resumes, exactly as one without.
    const p = await torch.forkRng(() => this.preview());
    if (!p) return;
    mkdirSync(join(this.runDir, 'previews'), { recursive: true });
    writeFileAtomic(join(this.runDir, 'previews', `step-${String(this.stepCount).padStart(8, '0')}.png`), p.png);
    this.events.image('preview', p.png, p.size, this.stepCount);
  }

  /** Throws NonFiniteLossError (the run stops, its last good checkpoint kept) unless value is finite. */
  protected ensureFinite(what: string, value: number): void {
    if (!Number.isFinite(value)) throw new NonFiniteLossError(`${what} is ${value} at step ${this.stepCount + 1}`);
  }

  /**
   * Opens a run: validates the configuration, takes the directory's lock, builds the trainer, restores
   * the newest intact checkpoint on resume, and only then writes config.json. If any of it fails,
   * nothing of the run is changed (and a directory this call created is removed).
   */
  protected static async openRun<C extends RunConfig, T extends TrainingLoop<C>>(
    dir: string,
    o: OpenRunOptions,
    schema: z.ZodType<C>,
    build: (run: RunDir<C>) => Promise<T> | T,
  ): Promise<T> {
    const run = RunDir.open(dir, o, schema);
    let trainer: T | undefined;
    try {
      trainer = await build(run);
      if (o.resume) {
        trainer.restoreNewest();
        run.purgeAfter(trainer.stepCount);
      }
      run.writeConfig();
      return trainer;
    } catch (e) {
      trainer?.disposeState();
      run.abandon();
      run.release();
      throw e;
    }
  }

  private restoreNewest(): void {
    const ck = loadNewestIntact(this.runDir, this.format, this.log);
    if (!ck) {
      this.log(`no checkpoint in ${this.runDir} yet; starting from step 0`);
      return;
    }
    try {
      const steps = this.config.train.steps;
      if (ck.step > steps) {
        throw new Error(
          `--steps ${steps} is below step ${ck.step}, which ${this.runDir} has already reached; give --steps ${ck.step} or more`,
        );
      }
      try {
        this.stepCount = restoreTrainingState(ck, this.trainingState());
        this.restoreExtras(ck);
      } catch (e) {
        if (!(e instanceof StateDictError)) throw e;
        throw new Error(
          `${ck.path} does not match the model that ${this.run.configPath} describes (${e.message}); ` +
            'was config.json edited, or the checkpoint copied from another run?',
        );
      }
    } finally {
      ck.dispose();
    }
    this.log(`resumed ${this.runDir} at step ${this.stepCount} from ${ck.path}`);
  }

  /**
   * The loss checked finite, zeroGrad, backward; `clipGradNorm` clips the gradients once they are final
   * (averaged over the ranks). Returns the loss.
   */
  protected backward(loss: Tensor, o: { clipGradNorm?: number } = {}): number {
    const { optimizer } = this.trainingState();
    const value = loss.item();
    this.ensureFinite('loss', value);
    optimizer.zeroGrad();
    loss.backward();
    this.pendingClip = o.clipGradNorm;
    return value;
  }

  /** The forward-backward half, counted against a non-finite loss that names the last good checkpoint. */
  private computeGradients(): StepMetrics {
    try {
      return torch.tidy(() => this.optimizationStep());
    } catch (e) {
      if (!(e instanceof NonFiniteLossError)) throw e;
      const last = latestCheckpoint(this.runDir);
      throw new NonFiniteLossError(
        `${e.message}; training stopped. Last good checkpoint: ${last ?? 'none'}. Try a lower --lr.`,
      );
    }
  }

  /** Clipping (its norm checked finite and reported as grad_norm), the optimizer and schedule steps, afterUpdate. */
  private applyUpdate(m: StepMetrics): StepMetrics {
    const { model, optimizer, scheduler } = this.trainingState();
    const clip = this.pendingClip;
    this.pendingClip = undefined;
    torch.tidy(() => {
      if (clip !== undefined) {
        const gradNorm = clipGradNorm_(model.parameters(), clip);
        this.ensureFinite('gradient norm', gradNorm);
        m.grad_norm = gradNorm;
      }
      optimizer.step();
      scheduler.step();
      this.afterUpdate();
    });
    this.stepCount++;
    return m;
  }

  /** One optimisation step of a single-process run, counted. */
  async trainStep(): Promise<StepMetrics> {
    if (this.parallel)
      throw new Error('a data-parallel trainer steps inside train(), which waits for the gradient all-reduce');
    await this.prepareStep();
    return this.applyUpdate(this.computeGradients());
  }

  /**
   * One step of a data-parallel run: gradients averaged over the ranks in the same round as each rank's
   * stop request and loss, so that all ranks stop after the same step and log the mean loss.
   */
  private async parallelStep(dp: DataParallel): Promise<StepMetrics> {
    await this.prepareStep();
    const m = this.computeGradients();
    const [stops, lossSum, ...sums] = await dp.syncGradients(this.trainingState().model.parameters(), [
      this.stopRequested ? 1 : 0,
      m.loss,
      ...(this.stepSums ?? []),
    ]);
    if (stops! > 0) {
      this.agreedStop = true;
      this.stopRequested ??= 'a peer process stopped';
    }
    m.loss = lossSum! / dp.worldSize;
    if (this.stepSums) this.stepSums = sums;
    return this.applyUpdate(m);
  }

  /** Rank 0's weights on every rank: parameters, buffers and the EMA (the loop's first act in parallel). */
  private async broadcastState(dp: DataParallel): Promise<void> {
    const { model } = this.trainingState();
    const ema = this.checkpointExtras().ema;
    await dp.broadcast([...model.parameters(), ...model.buffers(), ...(ema ? ema.values() : [])]);
  }

  /**
   * Writes a checkpoint of the current state, verified on disk before it takes its name; only then are
   * older ones pruned. Returns its path.
   */
  saveCheckpoint(): string {
    const path = checkpointPath(this.runDir, this.stepCount);
    // Every rank holds the same state; rank 0 writes it.
    if (!this.run.isWriter) return path;
    const state = captureTrainingState(this.trainingState());
    const extras = this.checkpointExtras();
    try {
      saveCheckpoint(
        path,
        {
          step: this.stepCount,
          model: state.model,
          ema: extras.ema ?? new Map(),
          optim: state.optim,
          rng: state.rng,
          meta: { ...state.meta, config: this.config, ...extras.meta },
        },
        this.format,
      );
    } finally {
      for (const t of state.rng.values()) t.dispose();
    }
    pruneCheckpoints(this.runDir, this.config.train.keepCheckpoints ?? 2);
    return path;
  }

  /**
   * Trains until config.train.steps (or `untilStep`): metrics every logEvery steps, a checkpoint every
   * checkpointEvery steps and at the end, and on SIGINT/SIGTERM after the current step (a second signal
   * exits at once). A failure (non-finite loss, full disk) stops the run with the cause and leaves the
   * last good checkpoint in place.
   */
  async train(o: TrainOptions = {}): Promise<TrainResult> {
    const s = this.config.train;
    const every = o.previewEvery ?? 0;
    if (!Number.isInteger(every) || every < 0)
      throw new RangeError(`preview every ${every} steps: give a whole number >= 0 (0: no previews)`);
    const target = Math.min(o.untilStep ?? s.steps, s.steps);
    const untrap = trapStopSignals((sig) => {
      this.stopRequested = sig;
      this.log(`\n${sig}: stopping after this step and writing a checkpoint (send again to exit at once)`);
    });
    const label = this.constructor.name.replace(/Trainer$/, '').toLowerCase() || 'train';
    const writer = this.run.isWriter;
    const dp = this.parallel;
    const progress =
      o.progress === false || !writer ? null : new Progress(s.steps, { label, every: s.logEvery }, this.stepCount);
    const state = this.trainingState();
    const events = writer ? this.events : null;
    const window = new MetricWindow();
    let smooth = NaN;
    let last: string | null = null;
    state.model.train();
    try {
      if (dp) await this.broadcastState(dp);
      while (this.stepCount < target && !(dp ? this.agreedStop : this.stopRequested)) {
        const m = dp ? await this.parallelStep(dp) : await this.trainStep();
        window.add(m);
        smooth = Number.isNaN(smooth) ? m.loss : 0.98 * smooth + 0.02 * m.loss;
        // The batch is the global one, however many processes share it.
        const ips = (window.steps * s.batchSize) / window.seconds();
        progress?.update(this.stepCount, { loss: smooth, 'img/s': ips });
        o.onStep?.(this.stepCount, m);
        if (this.stepCount % s.logEvery === 0 || this.stepCount === target) {
          const values = { ...window.means(), lr: state.optimizer.lr, images_per_s: ips };
          this.run.appendMetrics({ step: this.stepCount, ...values, time: new Date().toISOString() });
          events?.scalars(values, this.stepCount, 'train/');
          window.reset();
        }
        if (writer && every > 0 && (this.stepCount % every === 0 || this.stepCount === target)) {
          await this.writePreview();
          state.model.train();
        }
        if (this.stepCount % s.checkpointEvery === 0) last = this.saveCheckpoint();
        // Yield so signal handlers can run between steps.
        await new Promise((r) => setImmediate(r));
      }
      if (last !== checkpointPath(this.runDir, this.stepCount)) last = this.saveCheckpoint();
    } catch (e) {
      this.run.abandon();
      throw e;
    } finally {
      untrap();
    }
    const stopped = dp ? this.agreedStop : this.stopRequested !== null;
    const status = stopped ? 'interrupted' : this.stepCount >= s.steps ? 'done' : 'paused';
    return { step: this.stepCount, status, checkpoint: last };
  }

  /** Asks a running train() to stop after the current step, as a signal would. */
  requestStop(reason = 'stop requested'): void {
    this.stopRequested = reason;
  }

  /** Frees the model, optimizer and data, and releases the run directory. */
  dispose(): void {
    this.disposeState();
    this.run.release();
  }
}

/** Running means of step metrics over one logging window, and its wall time. */
class MetricWindow {
  private sums: Record<string, number> = {};
  private start = performance.now();
  steps = 0;

  add(m: StepMetrics): void {
    for (const [k, v] of Object.entries(m)) this.sums[k] = (this.sums[k] ?? 0) + v;
    this.steps++;
  }
  means(): Record<string, number> {
    return Object.fromEntries(Object.entries(this.sums).map(([k, v]) => [k, v / this.steps]));
  }
  seconds(): number {
    return (performance.now() - this.start) / 1000;
  }
  reset(): void {
    this.sums = {};
    this.steps = 0;
    this.start = performance.now();
  }
}
