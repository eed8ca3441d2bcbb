// Learning-rate schedules as pure functions of the step, and a scheduler that applies one.
import type { Optimizer } from './optimizer.js';

/** Multiplier on the base learning rate at a (0-based) step. */
export type LrLambda = (step: number) => number;

/** 0 -> 1 linearly over `warmup` steps, then 1 (the first step uses 1/warmup). */
export function linearWarmup(warmup: number): LrLambda {
  return (step) => (warmup > 0 ? Math.min(1, (step + 1) / warmup) : 1);
}

/** Linear warm-up, then cosine decay from 1 to minFactor at totalSteps. */
export function warmupCosine(warmup: number, totalSteps: number, minFactor = 0): LrLambda {
  return (step) => {
    if (step < warmup) return (step + 1) / warmup;
    const progress = Math.min(1, (step - warmup) / Math.max(1, totalSteps - warmup));
    return minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * progress));
  };
}

/** Sets the optimizer's learning rate to baseLr * lambda(step) at every step(), as torch's LambdaLR. */
export class LRScheduler {
  private stepCount = 0;
  constructor(
    private readonly optimizer: Optimizer<{ lr: number }>,
    readonly baseLr: number,
    private readonly lambda: LrLambda,
  ) {
    this.apply();
  }
  /** Call after optimizer.step(): moves to the next step's learning rate. */
  step(): void {
    this.stepCount++;
    this.apply();
  }
  get lastStep(): number {
    return this.stepCount;
  }
  get lr(): number {
    return this.baseLr * this.lambda(this.stepCount);
  }
  private apply(): void {
    this.optimizer.setLr(this.lr);
  }
  stateDict(): { step: number } {
    return { step: this.stepCount };
  }
  loadStateDict(s: { step: number }): void {
    this.stepCount = s.step;
    this.apply();
  }
}
