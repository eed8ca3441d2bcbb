// Exponential moving average of a model's weights, with the warm-up min(decay, (1+n)/(10+n)).
import * as torch from '../torch/index.js';
import { foreach, keep, type Tensor } from '../torch/index.js';
import type { AnyModule, StateDict } from '../nn/module.js';

/**
 * Exponential moving average of a model's parameters and buffers: avg <- d avg + (1 - d) p, with the
 * warm-up d = min(decay, (1 + n) / (10 + n)) when enabled. Args: model, { decay, warmup }.
 */
export class EMA {
  private readonly shadow = new Map<string, Tensor>();
  private updates = 0;
  readonly decay: number;
  readonly warmup: boolean;

  constructor(model: AnyModule, o: { decay?: number; warmup?: boolean } = {}) {
    this.decay = o.decay ?? 0.9999;
    this.warmup = o.warmup ?? true;
    if (!(this.decay >= 0 && this.decay <= 1)) throw new RangeError(`EMA decay must be in [0, 1], got ${this.decay}`);
    torch.noGrad(() => {
      for (const [k, t] of model.stateDict()) this.shadow.set(k, keep(t.detach().clone()));
    });
  }

  /** The decay used at the next update. */
  currentDecay(): number {
    const n = this.updates;
    return this.warmup ? Math.min(this.decay, (1 + n) / (10 + n)) : this.decay;
  }

  /** shadow <- d * shadow + (1 - d) * weights for floating tensors; integer buffers are copied. */
  update(model: AnyModule): void {
    const d = this.currentDecay();
    const sd = model.stateDict();
    torch.noGrad(() => {
      const src: Tensor[] = [];
      const dst: Tensor[] = [];
      for (const [k, t] of sd) {
        const s = this.shadow.get(k);
        if (!s) throw new Error(`EMA: the model has a new tensor '${k}' that the average does not track`);
        if (torch.isFloating(t.dtype)) {
          src.push(t);
          dst.push(s);
        } else {
          s.copy_(t);
        }
      }
      foreach.mul_(dst, d);
      foreach.add_(dst, src, 1 - d);
    });
    this.updates++;
  }

  get numUpdates(): number {
    return this.updates;
  }

  /** Copies the averaged weights into a model (e.g. a second instance used for sampling). */
  copyTo(model: AnyModule): void {
    model.loadStateDict(this.shadow);
  }

  /** Runs fn with the averaged weights swapped into model, then restores the trained ones. */
  withAveraged<T>(model: AnyModule, fn: () => T): T {
    const backup = torch.noGrad(() => new Map([...model.stateDict()].map(([k, t]) => [k, keep(t.detach().clone())])));
    try {
      this.copyTo(model);
      return fn();
    } finally {
      model.loadStateDict(backup);
      for (const t of backup.values()) t.dispose();
    }
  }

  /** Averaged tensors by the model's names (the EMA's own: do not dispose) and the update count. */
  stateDict(): { tensors: StateDict; numUpdates: number } {
    return { tensors: this.shadow, numUpdates: this.updates };
  }

  loadStateDict(s: { tensors: StateDict; numUpdates: number }): void {
    const missing = [...this.shadow.keys()].filter((k) => !s.tensors.has(k));
    if (missing.length) throw new Error(`EMA state lacks ${missing.join(', ')}`);
    torch.noGrad(() => {
      for (const [k, t] of this.shadow) t.copy_(s.tensors.get(k)!);
    });
    this.updates = s.numUpdates;
  }

  dispose(): void {
    for (const t of this.shadow.values()) t.dispose();
    this.shadow.clear();
  }
}
