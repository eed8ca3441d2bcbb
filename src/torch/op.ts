// The bridge from TypeScript to libtorch's operator dispatcher: an operator is named once
// ("aten::conv2d", overload ""), looked up lazily, and called with positional arguments.
import { native, type Handle, type NativeValue } from './native.js';

export class Op {
  private idx = -1;
  constructor(
    readonly name: string,
    readonly overload = '',
  ) {}

  get index(): number {
    if (this.idx < 0) this.idx = native.lookupOp(`aten::${this.name}`, this.overload);
    return this.idx;
  }

  /** The libtorch schema, e.g. for error messages and docs. */
  schema(): string {
    return native.opSchema(this.index);
  }
}

/** Anything with a native handle (tensors, generators) crosses as its handle. */
export interface HasHandle {
  readonly handle: Handle;
}

function hasHandle(v: unknown): v is HasHandle {
  return typeof v === 'object' && v !== null && 'handle' in v;
}

export type OpArg =
  HasHandle | number | boolean | string | null | undefined | readonly (HasHandle | number | boolean | null)[];

function toNative(a: OpArg): NativeValue {
  if (Array.isArray(a)) {
    let mapped: NativeValue[] | undefined;
    for (let i = 0; i < a.length; i++) {
      if (hasHandle(a[i])) {
        mapped ??= a.slice() as NativeValue[];
        mapped[i] = (a[i] as HasHandle).handle;
      }
    }
    return mapped ?? (a as NativeValue[]);
  }
  return hasHandle(a) ? a.handle : (a as NativeValue);
}

export function callRaw(op: Op, args: readonly OpArg[], discard = false): NativeValue {
  const n = new Array<NativeValue>(args.length);
  for (let i = 0; i < args.length; i++) n[i] = toNative(args[i]);
  return native.callOp(op.index, n, discard);
}
