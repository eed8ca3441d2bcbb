// The pieces of a training run that a checkpoint holds, whatever the model: weights, optimizer,
// learning-rate schedule, data order and the random generators.
import type { AnyModule } from '../nn/module.js';
import type { Optimizer } from '../optim/optimizer.js';
import type { LRScheduler } from '../optim/schedule.js';
import { defaultGenerator, type Generator, type Tensor } from '../torch/index.js';
import { z } from 'zod';
import { checkpointMeta, type LoadedCheckpoint } from './checkpoint.js';

const OptimizerMeta = z.object({ groups: z.array(z.unknown()), steps: z.array(z.number()), kind: z.string() });
const SchedulerMeta = z.object({ step: z.number().int().min(0) });

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
  s.optimizer.loadStateDict({ tensors: ck.optim, meta: checkpointMeta(ck, 'optim', OptimizerMeta) });
  s.scheduler.loadStateDict(checkpointMeta(ck, 'scheduler', SchedulerMeta));
  // Each loader checks its own state (the batch sampler: epoch and cursor in range).
  s.loader.loadStateDict(checkpointMeta(ck, 'loader', z.looseObject({})) as never);
  const train = ck.rng.get('train'),
    global = ck.rng.get('global');
  if (!train || !global) throw new Error('checkpoint lacks its RNG states (rng.train, rng.global)');
  s.generator.setState(train);
  defaultGenerator().setState(global);
  return ck.step;
}
