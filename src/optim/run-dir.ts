// What every trainer's run directory shares: config.json written on a new run and read back on resume
// (only the step count may change), refusal to start over existing checkpoints, and stop signals that
// let the current step finish and a checkpoint be written.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AnyModule } from '../nn/module.js';
import { defaultGenerator, type Generator, type Tensor } from '../torch/index.js';
import { latestCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import type { Optimizer, OptimizerState } from './optimizer.js';
import type { LRScheduler } from './schedule.js';

export interface RunDirOptions {
  config?: unknown;
  resume?: boolean;
  /** a new total step count (extends a resumed run) */
  steps?: number;
}

/** Validates or reads the run's config and prepares the directory; returns the latest checkpoint on resume. */
export function openRunDir<C extends { train: { steps: number } }>(
  runDir: string,
  o: RunDirOptions,
  parse: (raw: unknown, source: string) => C,
): { config: C; resumeFrom: string | null } {
  const configPath = join(runDir, 'config.json');
  const latest = existsSync(runDir) ? latestCheckpoint(runDir) : null;
  let config: C;
  if (o.resume) {
    if (!existsSync(configPath)) throw new Error(`cannot resume: ${configPath} does not exist`);
    config = parse(JSON.parse(readFileSync(configPath, 'utf8')), configPath);
    if (o.steps !== undefined) config.train.steps = o.steps;
  } else {
    if (o.config === undefined) throw new Error('a new run needs a config');
    if (latest)
      throw new Error(
        `run directory ${runDir} already has checkpoints; pass --resume to continue it or choose another --run-dir`,
      );
    config = parse(o.config, 'config');
  }
  mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
  return { config, resumeFrom: o.resume ? latest : null };
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

/** The pieces of a training run that a checkpoint restores, whatever the model. */
export interface TrainingState {
  model: AnyModule;
  optimizer: Optimizer<{ lr: number }>;
  scheduler: LRScheduler;
  /** the data order (e.g. the batch sampler): a JSON-serialisable state */
  loader: { stateDict(): unknown; loadStateDict(s: never): void };
  /** the run's own generator (noise, augmentations); the global one is saved beside it */
  generator: Generator;
}

/** Tensors and metadata of a checkpoint for a training state (RNG state tensors must be disposed). */
export function captureTrainingState(s: TrainingState): {
  model: Map<string, Tensor>;
  optim: Map<string, Tensor>;
  rng: Map<string, Tensor>;
  meta: Record<string, unknown>;
} {
  const os = s.optimizer.stateDict();
  return {
    model: s.model.stateDict(),
    optim: os.tensors,
    rng: new Map([
      ['train', s.generator.getState()],
      ['global', defaultGenerator().getState()],
    ]),
    meta: { optim: os.meta, scheduler: s.scheduler.stateDict(), loader: s.loader.stateDict() },
  };
}

/** Puts a checkpoint back into a training state; returns the step it was taken at. */
export function restoreTrainingState(ck: LoadedCheckpoint, s: TrainingState): number {
  s.model.loadStateDict(ck.model);
  s.optimizer.loadStateDict({ tensors: ck.optim, meta: ck.meta.optim as OptimizerState['meta'] });
  s.scheduler.loadStateDict(ck.meta.scheduler as { step: number });
  s.loader.loadStateDict(ck.meta.loader as never);
  const train = ck.rng.get('train'),
    global = ck.rng.get('global');
  if (!train || !global) throw new Error('checkpoint lacks its RNG states (rng.train, rng.global)');
  s.generator.setState(train);
  defaultGenerator().setState(global);
  return ck.step;
}
