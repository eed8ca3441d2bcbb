// Process-wide engine settings: threads, CUDA, build facts.
import { native } from './native.js';
import type { CpuMemoryStats } from './native.js';

export type { CpuMemoryStats };
import type { Device } from './tensor.js';

/**
 * Threads for libtorch's intra-op pool (OpenMP) and, separately, OpenBLAS's own pool. OpenBLAS defaults
 * to 1: its pthreads spin beside OpenMP's and, measured on the engine benchmark (docs/benchmarks.md),
 * one BLAS thread under two torch threads was faster (forward 0.36 s vs 0.46 s, training equal or better).
 */
export function setNumThreads(n: number, blasThreads = 1): void {
  native.setNumThreads(n);
  native.setBlasThreads(blasThreads);
}
export function getNumThreads(): number {
  return native.getNumThreads();
}

export const cuda = {
  isAvailable: (): boolean => native.cudaAvailable(),
  deviceCount: (): number => native.cudaDeviceCount(),
  /** Waits for queued CUDA work (for timing). A no-op without CUDA. */
  synchronize: (): void => native.cudaSynchronize(),
};

/**
 * A device name checked against this machine: 'cpu', 'cuda' or 'cuda:N'. Refuses, with the reason, a
 * CUDA device that this libtorch build or machine does not have, so a run fails before it writes anything.
 */
export function parseDevice(name: string): Device {
  if (name === 'cpu') return 'cpu';
  const m = /^cuda(?::(\d+))?$/.exec(name);
  if (!m) throw new Error(`unknown device '${name}' (use cpu, cuda or cuda:N)`);
  if (!cuda.isAvailable())
    throw new Error(
      `device '${name}': no CUDA device is available here (a CPU-only libtorch build, or no GPU); use cpu`,
    );
  const index = m[1] === undefined ? 0 : Number(m[1]);
  const count = cuda.deviceCount();
  if (index >= count)
    throw new Error(
      `device '${name}': this machine has ${count} CUDA device${count === 1 ? '' : 's'} (cuda:0${count > 1 ? `..cuda:${count - 1}` : ''})`,
    );
  return name as Device;
}

/**
 * The CPU allocator. Large buffers (64 KiB and up) come from a caching allocator that the addon registers
 * with c10 when it loads: freed blocks are kept and reused by size class, so a loop that asks for the
 * same sizes every step maps no new memory after its first step and the resident size cannot creep up
 * (docs/benchmarks.md, "CPU memory"). The cache holds at most max(floor, peak bytes in use).
 * `SELFGUIDED_CPU_ALLOCATOR=default` in the environment keeps c10's default (glibc malloc) instead.
 */
export const cpuMemory = {
  stats: (): CpuMemoryStats => native.cpuAllocatorStats(),
  /** Returns every cached block to the kernel (blocks in use stay). */
  emptyCache: (): void => native.cpuAllocatorEmptyCache(),
  /** Starts a new peak (and so a new cache bound) from the bytes in use now. */
  resetPeak: (): void => native.cpuAllocatorResetPeak(),
  /** The cache may always hold this many MB (default 256), whatever the peak in use. */
  setCacheFloor: (mb: number): void => native.cpuAllocatorSetFloor(mb),
};

const allocatorChoice = process.env.SELFGUIDED_CPU_ALLOCATOR;
if (allocatorChoice !== undefined && allocatorChoice !== 'caching' && allocatorChoice !== 'default') {
  throw new Error(`SELFGUIDED_CPU_ALLOCATOR must be 'caching' or 'default' (got '${allocatorChoice}')`);
}

/** Number of live native tensors (not yet disposed or collected). */
export function liveTensors(): number {
  return native.liveTensors();
}

export function buildInfo(): { torchVersion: string; parallelInfo: string; cxx11Abi: boolean } {
  return native.config();
}
