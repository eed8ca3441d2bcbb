// Per-operator timing of the native engine: where a training step or a forward pass spends its time.
import { native } from './native.js';

export interface OpTiming {
  /** the aten operator or autograd node, as PyTorch's profiler names it */
  name: string;
  calls: number;
  /** time inside the op, including the ops it called */
  totalMs: number;
  /** time inside the op less the ops it called */
  selfMs: number;
}

export interface Profile<T> {
  result: T;
  /** every op that ran, by self time, largest first */
  ops: OpTiming[];
  wallMs: number;
  /** wall time outside every op: JavaScript, the addon's argument conversion, waiting */
  outsideOpsMs: number;
}

/**
 * Runs fn with libtorch's RecordFunction hooks on and returns each op's calls, total and self time
 * (the same events torch.autograd.profiler reads in Python). The hooks cost about a microsecond per op.
 */
export function profile<T>(fn: () => T): Profile<T> {
  native.profilerStart();
  const t0 = performance.now();
  let table: ReturnType<typeof native.profilerStop>;
  let result: T;
  try {
    result = fn();
  } finally {
    table = native.profilerStop();
  }
  const wallMs = performance.now() - t0;
  const ops = Object.entries(table)
    .map(([name, [calls, totalUs, selfUs]]) => ({ name, calls, totalMs: totalUs / 1000, selfMs: selfUs / 1000 }))
    .sort((a, b) => b.selfMs - a.selfMs);
  const inside = ops.reduce((s, o) => s + o.selfMs, 0);
  return { result, ops, wallMs, outsideOpsMs: Math.max(0, wallMs - inside) };
}
