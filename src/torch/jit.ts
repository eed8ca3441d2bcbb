// TorchScript modules saved from PyTorch (torch.jit.trace / torch.jit.script + .save), for running
// external pretrained networks such as feature extractors.
import { existsSync } from 'node:fs';
import { native, type Handle, type NativeValue } from './native.js';
import { Tensor, wrapValue, type Device } from './tensor.js';

export type JitInput = Tensor | number | boolean | string | Tensor[];
export type JitOutput = Tensor | number | boolean | string | null | JitOutput[] | { [k: string]: JitOutput };

function toNative(v: JitInput): NativeValue {
  if (v instanceof Tensor) return v.handle;
  if (Array.isArray(v)) return v.map((t) => t.handle);
  return v;
}

function wrapOut(v: NativeValue): JitOutput {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype) {
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wrapOut(x as NativeValue)]));
  }
  if (Array.isArray(v)) return v.map(wrapOut);
  return wrapValue(v) as JitOutput;
}

export class ScriptModule {
  private constructor(
    private readonly handle: Handle,
    readonly path: string,
  ) {}

  /** Loads a TorchScript file onto a device; the module starts in eval mode. */
  static load(path: string, device: Device = 'cpu'): ScriptModule {
    if (!existsSync(path)) throw new Error(`TorchScript module not found: ${path}`);
    return new ScriptModule(native.jitLoad(path, device), path);
  }

  forward(...inputs: JitInput[]): JitOutput {
    return this.call('forward', ...inputs);
  }
  /** Calls any exported method by name. */
  call(method: string, ...inputs: JitInput[]): JitOutput {
    return wrapOut(native.jitCall(this.handle, method, inputs.map(toNative)));
  }
  train(on = true): this {
    native.jitTrain(this.handle, on);
    return this;
  }
  eval(): this {
    return this.train(false);
  }
  to(device: Device): this {
    native.jitTo(this.handle, device);
    return this;
  }
  namedParameters(): Map<string, Tensor> {
    return new Map(Object.entries(native.jitNamedParameters(this.handle)).map(([k, h]) => [k, new Tensor(h)]));
  }
}
