// nn.Module: a tree of modules owning parameters and buffers, with PyTorch's state-dict names.
import * as torch from '../torch/index.js';
import { keep, type Tensor } from '../torch/index.js';

export type StateDict = Map<string, Tensor>;

export class StateDictError extends Error {
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: string[],
    owner: string,
  ) {
    // A few names of each kind: a preset mismatch lists hundreds of keys, and the count says enough.
    const few = (xs: string[], sep: string) =>
      xs.slice(0, 3).join(sep) + (xs.length > 3 ? ` and ${xs.length - 3} more` : '');
    const parts: string[] = [];
    if (missing.length) parts.push(`missing keys: ${few(missing, ', ')}`);
    if (unexpected.length) parts.push(`unexpected keys: ${few(unexpected, ', ')}`);
    if (mismatched.length) parts.push(`shape mismatches: ${few(mismatched, '; ')}`);
    super(`loadStateDict into ${owner}: ${parts.join('; ')}`);
    this.name = 'StateDictError';
  }
}

/** Any module, whatever its forward's signature (for containers and utilities that never call forward). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- forward's parameters are contravariant; only `any` admits every signature
export type AnyModule = Module<any, any>;

export abstract class Module<In extends unknown[] = [Tensor], Out = Tensor> {
  training = true;
  private readonly _parameters = new Map<string, Tensor>();
  private readonly _buffers = new Map<string, { t: Tensor; persistent: boolean }>();
  private readonly _modules = new Map<string, AnyModule>();

  abstract forward(...args: In): Out;

  /**
   * Runs forward in its own memory scope, as PyTorch's model(x) runs __call__: the intermediates of
   * this module's forward are freed when it returns, and what it returns moves to the caller's scope.
   * Call submodules with call(), so forward bodies hold no memory bookkeeping.
   */
  call(...args: In): Out {
    return torch.tidy(() => this.forward(...args));
  }

  protected registerParameter(name: string, t: Tensor, requiresGrad = true): Tensor {
    if (this._parameters.has(name)) this._parameters.get(name)!.dispose();
    keep(t);
    t.requiresGrad_(requiresGrad);
    this._parameters.set(name, t);
    return t;
  }
  protected registerBuffer(name: string, t: Tensor, persistent = true): Tensor {
    keep(t);
    this._buffers.set(name, { t, persistent });
    return t;
  }
  protected registerModule<M extends AnyModule>(name: string, m: M): M {
    this._modules.set(name, m);
    return m;
  }

  *namedChildren(): Iterable<[string, AnyModule]> {
    yield* this._modules;
  }
  *namedModules(prefix = ''): Iterable<[string, AnyModule]> {
    yield [prefix, this];
    for (const [name, m] of this._modules) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }
  *namedParameters(prefix = ''): Iterable<[string, Tensor]> {
    for (const [name, p] of this._parameters) yield [prefix ? `${prefix}.${name}` : name, p];
    for (const [name, m] of this._modules) yield* m.namedParameters(prefix ? `${prefix}.${name}` : name);
  }
  parameters(): Tensor[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }
  *namedBuffers(prefix = '', persistentOnly = false): Iterable<[string, Tensor]> {
    for (const [name, b] of this._buffers)
      if (!persistentOnly || b.persistent) yield [prefix ? `${prefix}.${name}` : name, b.t];
    for (const [name, m] of this._modules) yield* m.namedBuffers(prefix ? `${prefix}.${name}` : name, persistentOnly);
  }
  buffers(): Tensor[] {
    return [...this.namedBuffers()].map(([, b]) => b);
  }
  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.numel(), 0);
  }

  train(on = true): this {
    for (const [, m] of this.namedModules()) m.training = on;
    return this;
  }
  eval(): this {
    return this.train(false);
  }

  /** Sets every parameter's gradient to none (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Moves or casts parameters and buffers in place; references to them stay valid. */
  to(target: torch.ToTarget): this {
    const spec = torch.toSpec(target);
    torch.noGrad(() => {
      for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) {
        // Casting applies to floating tensors only, as in PyTorch (int buffers keep their dtype).
        const dtype = spec.dtype && torch.isFloating(t.dtype) ? spec.dtype : undefined;
        if (!dtype && !spec.device) continue;
        const moved = t.to({ dtype, device: spec.device });
        t.grad = null;
        t.setData_(moved);
        moved.dispose();
      }
    });
    return this;
  }

  /** Parameters and persistent buffers by dotted name. The tensors are the module's own: do not dispose. */
  stateDict(): StateDict {
    return new Map([...this.namedParameters(), ...this.namedBuffers('', true)]);
  }

  /**
   * Copies values from sd into the module's tensors. With strict, any missing, unexpected or
   * mis-shaped key fails the whole load before anything is changed.
   */
  loadStateDict(sd: StateDict, opts: { strict?: boolean } = {}): { missing: string[]; unexpected: string[] } {
    const strict = opts.strict ?? true;
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !sd.has(k));
    const unexpected = [...sd.keys()].filter((k) => !own.has(k));
    const mismatched: string[] = [];
    for (const [k, t] of own) {
      const s = sd.get(k);
      if (s && s.shape.join(',') !== t.shape.join(','))
        mismatched.push(`${k}: checkpoint [${s.shape.join(', ')}] vs model [${t.shape.join(', ')}]`);
    }
    if (mismatched.length || (strict && (missing.length || unexpected.length))) {
      throw new StateDictError(missing, unexpected, mismatched, this.constructor.name);
    }
    torch.noGrad(() => {
      for (const [k, t] of own) {
        const s = sd.get(k);
        if (s) t.copy_(s);
      }
    });
    return { missing, unexpected };
  }

  /** Frees every parameter and buffer. The module cannot be used afterwards. */
  dispose(): void {
    for (const [, t] of [...this.namedParameters(), ...this.namedBuffers()]) t.dispose();
  }
}
