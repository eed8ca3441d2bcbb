// The optimizer base: parameter groups, per-parameter state tensors, and a state dict that makes
// training resume bit-exactly (hyper-parameters, step counts and moment buffers).
import * as torch from '../torch/index.js';
import { keep, type Tensor } from '../torch/index.js';

export interface ParamGroup<H> {
  params: Tensor[];
  hyper: H;
}

export interface OptimizerState {
  /** Moment buffers and the like, named "<param index>.<buffer>". */
  tensors: Map<string, Tensor>;
  /** JSON-serialisable: hyper-parameters per group and step counts per parameter. */
  meta: { groups: unknown[]; steps: number[]; kind: string };
}

export abstract class Optimizer<H extends { lr: number }> {
  readonly groups: ParamGroup<H>[];
  protected readonly state = new Map<Tensor, Map<string, Tensor>>();
  protected readonly steps = new Map<Tensor, number>();

  constructor(params: Tensor[] | { params: Tensor[]; hyper?: Partial<H> }[], defaults: H) {
    const groups =
      Array.isArray(params) && params.length > 0 && 'params' in (params[0] as object)
        ? (params as { params: Tensor[]; hyper?: Partial<H> }[])
        : [{ params: params as Tensor[] }];
    this.groups = groups.map((g) => ({ params: [...g.params], hyper: { ...defaults, ...(g.hyper ?? {}) } }));
    const seen = new Set<Tensor>();
    for (const g of this.groups) {
      for (const p of g.params) {
        if (seen.has(p)) throw new Error(`${this.constructor.name}: a parameter appears in more than one group`);
        seen.add(p);
      }
    }
  }

  /** The learning rate of every group (schedules set it). */
  setLr(lr: number): void {
    for (const g of this.groups) g.hyper.lr = lr;
  }
  get lr(): number {
    return this.groups[0]?.hyper.lr ?? 0;
  }

  zeroGrad(): void {
    for (const g of this.groups) for (const p of g.params) p.grad = null;
  }

  /** Applies one update from the current gradients. Parameters without a gradient are skipped. */
  step(): void {
    torch.noGrad(() =>
      torch.tidy(() => {
        for (const g of this.groups) {
          const params: Tensor[] = [];
          const grads: Tensor[] = [];
          for (const p of g.params) {
            const gr = p.grad;
            if (gr === null) continue;
            params.push(p);
            grads.push(gr);
          }
          // Parameters that joined late have other step counts; update each count class together.
          const byStep = new Map<number, number[]>();
          params.forEach((p, i) => {
            const s = (this.steps.get(p) ?? 0) + 1;
            this.steps.set(p, s);
            const list = byStep.get(s) ?? [];
            list.push(i);
            byStep.set(s, list);
          });
          for (const [step, idx] of byStep) {
            this.update(
              idx.map((i) => params[i]!),
              idx.map((i) => grads[i]!),
              g.hyper,
              step,
            );
          }
        }
      }),
    );
  }

  protected abstract update(params: Tensor[], grads: Tensor[], h: H, step: number): void;

  /** The named state buffer of p, created (kept outside any scope) from `init` on first use. */
  protected buffer(p: Tensor, name: string, init: () => Tensor): Tensor {
    let s = this.state.get(p);
    if (!s) {
      s = new Map();
      this.state.set(p, s);
    }
    let b = s.get(name);
    if (!b) {
      b = keep(init());
      s.set(name, b);
    }
    return b;
  }

  private allParams(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  /** The state's tensors are the optimizer's own (do not dispose); save them before the next step. */
  stateDict(): OptimizerState {
    const tensors = new Map<string, Tensor>();
    const steps: number[] = [];
    this.allParams().forEach((p, i) => {
      steps.push(this.steps.get(p) ?? 0);
      for (const [name, t] of this.state.get(p) ?? []) tensors.set(`${i}.${name}`, t);
    });
    return {
      tensors,
      meta: {
        kind: this.constructor.name,
        groups: this.groups.map((g) => ({ ...g.hyper, size: g.params.length })),
        steps,
      },
    };
  }

  loadStateDict(sd: OptimizerState): void {
    const params = this.allParams();
    if (sd.meta.kind !== this.constructor.name)
      throw new Error(`optimizer state is for ${sd.meta.kind}, not ${this.constructor.name}`);
    if (sd.meta.steps.length !== params.length || sd.meta.groups.length !== this.groups.length) {
      throw new Error(
        `optimizer state has ${sd.meta.steps.length} parameters in ${sd.meta.groups.length} groups; this optimizer has ${params.length} in ${this.groups.length}`,
      );
    }
    for (const [key, t] of sd.tensors) {
      const i = Number(key.slice(0, key.indexOf('.')));
      const p = params[i];
      if (p === undefined || !Number.isInteger(i)) throw new Error(`optimizer state has an unknown entry '${key}'`);
      if (t.shape.join(',') !== p.shape.join(','))
        throw new Error(
          `optimizer state '${key}' has shape [${t.shape.join(', ')}], parameter ${i} has [${p.shape.join(', ')}]`,
        );
    }
    for (const s of this.state.values()) for (const t of s.values()) t.dispose();
    this.state.clear();
    this.steps.clear();
    params.forEach((p, i) => {
      if (sd.meta.steps[i]) this.steps.set(p, sd.meta.steps[i]!);
    });
    for (const [key, t] of sd.tensors) {
      const dot = key.indexOf('.');
      const p = params[Number(key.slice(0, dot))]!;
      this.buffer(p, key.slice(dot + 1), () => torch.noGrad(() => t.to({ dtype: p.dtype, device: p.device }).clone()));
    }
    this.groups.forEach((g, i) => {
      const { size: _size, ...hyper } = sd.meta.groups[i] as H & { size: number };
      g.hyper = { ...g.hyper, ...hyper };
    });
  }

  dispose(): void {
    for (const s of this.state.values()) for (const t of s.values()) t.dispose();
    this.state.clear();
  }
}
