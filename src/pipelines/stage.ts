// A resumable stage: a run directory that is skipped when it has reached its steps, continued when it
// has a config.json, and started from a config otherwise. Every runner (the demo, the research
// experiments, the studies) trains its encoders, heads, evaluation networks and diffusion models through
// it, so an interruption means the same thing everywhere: the checkpoint is written and StageInterrupted
// is thrown for the runner to stop on.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { latestStep } from '../train/checkpoint.js';
import type { TrainOptions, TrainResult } from '../train/loop.js';

/** A stage stopped by Ctrl-C (or SIGTERM) with its checkpoint written: run the same command to continue. */
export class StageInterrupted extends Error {
  constructor(
    readonly dir: string,
    readonly step: number,
  ) {
    super(`interrupted at step ${step} of ${dir}: run the same command again to continue`);
    this.name = 'StageInterrupted';
  }
}

/** What every trainer (diffusion, encoder, STEGO, evaluation network) is to a stage. */
export interface Trainable {
  readonly step: number;
  train(o?: TrainOptions): Promise<TrainResult>;
  dispose(): void;
}

/** How a stage opens its trainer: resuming the run (extended to `steps`), or starting it from a config. */
export type OpenStage<C, T extends Trainable> = (how: { resume: true; steps: number } | { config: C }) => Promise<T>;

export interface StageOptions {
  /** the stage is done once its newest checkpoint reaches this step */
  steps: number;
  /** logged with the steps done when the stage trains, e.g. "training the SimCLR encoder g" */
  what?: string;
  log?: (msg: string) => void;
  train?: TrainOptions;
}

/** Whether the run in `dir` has reached `steps` (a stage that would skip). */
export const stageDone = (dir: string, steps: number): boolean => latestStep(dir) >= steps;

/**
 * Trains the stage in `dir` to `o.steps`: skipped when done, resumed when its config.json exists,
 * started from `config` otherwise. Throws StageInterrupted when stopped before the end.
 */
export async function trainStage<C, T extends Trainable>(
  dir: string,
  open: OpenStage<C, T>,
  config: C,
  o: StageOptions,
): Promise<void> {
  if (stageDone(dir, o.steps)) return;
  const t = await open(existsSync(join(dir, 'config.json')) ? { resume: true, steps: o.steps } : { config });
  try {
    if (o.what)
      (o.log ?? ((m: string) => process.stderr.write(`${m}\n`)))(`${o.what} (${t.step}/${o.steps} steps done)`);
    const r = await t.train(o.train);
    if (r.status === 'interrupted') throw new StageInterrupted(dir, r.step);
  } finally {
    t.dispose();
  }
}
