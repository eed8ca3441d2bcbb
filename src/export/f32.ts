// Float32Array with Tensor's arithmetic (scheduler-math.ts's Vec), for sampling where there is no libtorch:
// the exported web page, and onnxruntime under Node. Each result is a new array, rounded to float32 once
// per operation as libtorch's float32 ops round.
import type { Vec } from '../diffusion/scheduler-math.js';

export class F32 implements Vec<F32> {
  constructor(readonly data: Float32Array) {}

  private zip(o: F32, f: (a: number, b: number) => number): F32 {
    const a = this.data,
      b = o.data;
    if (a.length !== b.length) throw new RangeError(`F32: ${a.length} values against ${b.length}`);
    const r = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) r[i] = f(a[i]!, b[i]!);
    return new F32(r);
  }
  private map(f: (a: number) => number): F32 {
    const a = this.data;
    const r = new Float32Array(a.length);
    for (let i = 0; i < a.length; i++) r[i] = f(a[i]!);
    return new F32(r);
  }
  add(o: F32): F32 {
    return this.zip(o, (a, b) => a + b);
  }
  sub(o: F32): F32 {
    return this.zip(o, (a, b) => a - b);
  }
  mul(s: number): F32 {
    const k = Math.fround(s);
    return this.map((a) => a * k);
  }
  div(s: number): F32 {
    const k = Math.fround(s);
    return this.map((a) => a / k);
  }
  clamp(lo: number, hi: number): F32 {
    return this.map((a) => Math.min(hi, Math.max(lo, a)));
  }
}
