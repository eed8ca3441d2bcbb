// torch.distributed over c10d: a process group (TCPStore rendezvous, Gloo) and its collectives, each a
// Promise that settles when every rank has taken part, so that the event loop runs while peers are slow.
import type { Handle } from './native.js';
import { native } from './native.js';
import type { Tensor } from './tensor.js';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'max' | 'min' | 'product';

export interface InitOptions {
  backend?: Backend;
  /** the rendezvous: rank 0 serves a TCPStore here (MASTER_ADDR, MASTER_PORT) */
  host: string;
  port: number;
  rank: number;
  worldSize: number;
  /** a collective (or the rendezvous) that does not complete in this time fails (default 10 minutes) */
  timeoutMs?: number;
}

/** The backends this build of the addon has. */
export function availableBackends(): Backend[] {
  return native.distBackends.split(',').filter(Boolean) as Backend[];
}

export class ProcessGroup {
  private handle: Handle | null;

  private constructor(
    handle: Handle,
    readonly rank: number,
    readonly worldSize: number,
    readonly backend: Backend,
  ) {
    this.handle = handle;
  }

  /** Joins the group: resolves once all worldSize ranks have met at host:port. */
  static async init(o: InitOptions): Promise<ProcessGroup> {
    const backend = o.backend ?? 'gloo';
    if (!availableBackends().includes(backend)) {
      const have = availableBackends();
      throw new Error(
        `the ${backend} backend is not in this build (it has ${have.length ? have.join(', ') : 'none'})` +
          (backend === 'nccl' ? ': NCCL needs a CUDA libtorch (LIBTORCH=...); use gloo on the CPU' : ''),
      );
    }
    if (!Number.isInteger(o.worldSize) || o.worldSize < 1)
      throw new RangeError(`world size must be a positive integer, got ${o.worldSize}`);
    if (!Number.isInteger(o.rank) || o.rank < 0 || o.rank >= o.worldSize)
      throw new RangeError(`rank must be in [0, ${o.worldSize}), got ${o.rank}`);
    const handle = await native.distInit({
      host: o.host,
      port: o.port,
      rank: o.rank,
      worldSize: o.worldSize,
      timeoutMs: o.timeoutMs ?? 600_000,
    });
    return new ProcessGroup(handle, o.rank, o.worldSize, backend);
  }

  private get h(): Handle {
    if (!this.handle) throw new Error('the process group was destroyed');
    return this.handle;
  }

  /** Reduces each tensor in place across the ranks (contiguous tensors; Gloo has no average: sum and divide). */
  allReduce(tensors: Tensor | Tensor[], op: ReduceOp = 'sum'): Promise<void> {
    const list = Array.isArray(tensors) ? tensors : [tensors];
    return native.distAllReduce(
      this.h,
      list.map((t) => t.handle),
      op,
    );
  }

  /** Overwrites each tensor with root's. */
  broadcast(tensors: Tensor | Tensor[], root = 0): Promise<void> {
    const list = Array.isArray(tensors) ? tensors : [tensors];
    return native.distBroadcast(
      this.h,
      list.map((t) => t.handle),
      root,
    );
  }

  barrier(): Promise<void> {
    return native.distBarrier(this.h);
  }

  /** Leaves the group (its connections close; peers still waiting on it fail). */
  destroy(): void {
    if (this.handle) native.distDestroy(this.handle);
    this.handle = null;
  }
}
