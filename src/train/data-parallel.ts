// Data parallelism with DistributedDataParallel's semantics over a c10d process group: parameters
// broadcast from rank 0 at the start, gradients averaged by all-reduce in coalesced buckets after
// backward, and every rank a disjoint slice of each global batch. Two decisions differ from DDP on
// purpose: the configured batch is the global one (N processes compute batch/N rows each), and every rank
// draws the random numbers of the whole global batch (noise, timesteps, condition dropout, augmentations)
// from the shared generator and keeps its slice. So the run is the same optimisation whatever the number
// of processes (N processes with batch B/N follow one process with batch B, to float summation order),
// and a checkpoint (one generator state, one data position) resumes into any number of processes.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Backend, ProcessGroup } from '../torch/distributed.js';

/** The part of a global batch of `total` rows that this rank computes: rows [offset, offset + size). */
export interface BatchSlice {
  total: number;
  offset: number;
  size: number;
}

/** The whole batch (one process). */
export const wholeBatch = (n: number): BatchSlice => ({ total: n, offset: 0, size: n });

export interface RendezvousEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  host: string;
  port: number;
}

/** torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT), or null when absent. */
export function rendezvousFromEnv(env: NodeJS.ProcessEnv = process.env): RendezvousEnv | null {
  if (env.WORLD_SIZE === undefined) return null;
  const int = (name: string, fallback?: number) => {
    const v = env[name];
    if (v === undefined) {
      if (fallback !== undefined) return fallback;
      throw new Error(
        `${name} is not set (WORLD_SIZE is: a distributed launch needs RANK, MASTER_ADDR and MASTER_PORT too)`,
      );
    }
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got '${v}'`);
    return n;
  };
  const worldSize = int('WORLD_SIZE');
  const rank = int('RANK');
  if (worldSize < 1 || rank >= worldSize) throw new Error(`RANK ${rank} is not below WORLD_SIZE ${worldSize}`);
  const port = int('MASTER_PORT', 29500);
  if (port < 1 || port > 65535) throw new Error(`MASTER_PORT must be 1-65535, got ${port}`);
  return { rank, worldSize, localRank: int('LOCAL_RANK', rank), host: env.MASTER_ADDR ?? '127.0.0.1', port };
}

/** Bucket size of the gradient all-reduce (PyTorch DDP's default bucket_cap_mb is 25). */
const BUCKET_BYTES = 25 * 1024 * 1024;

export class DataParallel {
  constructor(readonly group: ProcessGroup) {}

  get rank(): number {
    return this.group.rank;
  }
  get worldSize(): number {
    return this.group.worldSize;
  }
  get backend(): Backend {
    return this.group.backend;
  }
  /** Only rank 0 writes the run's files. */
  get isWriter(): boolean {
    return this.rank === 0;
  }

  static async init(o: { backend?: Backend; rendezvous: RendezvousEnv; timeoutMs?: number }): Promise<DataParallel> {
    const { ProcessGroup } = await import('../torch/distributed.js');
    const r = o.rendezvous;
    const group = await ProcessGroup.init({
      backend: o.backend,
      host: r.host,
      port: r.port,
      rank: r.rank,
      worldSize: r.worldSize,
      timeoutMs: o.timeoutMs,
    });
    return new DataParallel(group);
  }

  /** This rank's rows of a global batch of `total` (equal slices; total must divide evenly). */
  slice(total: number): BatchSlice {
    const n = this.worldSize;
    if (total % n !== 0) throw new RangeError(`a global batch of ${total} does not split evenly over ${n} processes`);
    const size = total / n;
    return { total, offset: this.rank * size, size };
  }

  /** Overwrites every tensor with rank 0's (parameters, buffers, EMA weights at the start). */
  async broadcast(tensors: Tensor[]): Promise<void> {
    for (const bucket of buckets(tensors)) {
      const flat = torch.tidy(() => torch.cat(bucket.map((t) => t.detach().flatten())));
      try {
        await this.group.broadcast(flat, 0);
        torch.noGrad(() => unflattenInto(flat, bucket));
      } finally {
        flat.dispose();
      }
    }
  }

  /**
   * Averages the parameters' gradients over the ranks (a missing gradient counts as zeros) and sums
   * `values` (a stop request, the loss, ...) in the same round; returns the sums.
   */
  async syncGradients(params: Tensor[], values: number[]): Promise<number[]> {
    // Handles on the gradients' storage (the getter makes a new one each time), freed at the end.
    const grads = params.map((p) => {
      const g = p.grad;
      if (g !== null) return g;
      const z = torch.zerosLike(p);
      p.grad = z;
      return z;
    });
    const flats = buckets(grads).map((b) => ({
      bucket: b,
      flat: torch.tidy(() => torch.cat(b.map((g) => g.flatten()))),
    }));
    const extra = torch.tensor(Float64Array.from(values));
    try {
      await this.group.allReduce([...flats.map((f) => f.flat), extra], 'sum');
      torch.noGrad(() => {
        for (const { bucket, flat } of flats) {
          flat.div_(this.worldSize);
          unflattenInto(flat, bucket);
        }
      });
      return [...(extra.toTypedArray() as Float64Array)];
    } finally {
      for (const f of flats) f.flat.dispose();
      for (const g of grads) g.dispose();
      extra.dispose();
    }
  }

  destroy(): void {
    this.group.destroy();
  }
}

/** Consecutive groups of tensors of one dtype and device, each up to BUCKET_BYTES (a larger tensor alone). */
function buckets(tensors: Tensor[]): Tensor[][] {
  const out: Tensor[][] = [];
  let cur: Tensor[] = [];
  let bytes = 0;
  for (const t of tensors) {
    const size = t.numel() * torch.elementSize(t.dtype);
    const head = cur[0];
    if (head && (bytes + size > BUCKET_BYTES || head.dtype !== t.dtype || head.device !== t.device)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(t);
    bytes += size;
  }
  if (cur.length) out.push(cur);
  return out;
}

function unflattenInto(flat: Tensor, targets: Tensor[]): void {
  torch.tidy(() => {
    let at = 0;
    for (const t of targets) {
      const n = t.numel();
      t.copy_(flat.narrow(0, at, n).view(t.shape));
      at += n;
    }
  });
}
