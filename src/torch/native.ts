// Loads the libtorch addon. Every other module reaches native code through `native` only.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** An opaque native handle (a napi External). */
export type Handle = object & { readonly __handle: unique symbol };
export type NativeValue =
  Handle | number | boolean | string | null | undefined | NativeValue[] | { [k: string]: NativeValue };

export interface NativeAddon {
  fromBytes(data: ArrayBufferView, dtype: number, shape: number[], device?: string): Handle;
  toBytes(t: Handle): ArrayBuffer;
  shape(t: Handle): number[];
  dtype(t: Handle): number;
  device(t: Handle): string;
  numel(t: Handle): number;
  item(t: Handle): number | boolean;
  dispose(t: Handle): void;
  isDisposed(t: Handle): boolean;
  liveTensors(): number;
  reportExternal(t: Handle): void;
  reportedBytes(): number;
  sameData(a: Handle, b: Handle): boolean;
  manualSeed(seed: number | bigint): void;
  newGenerator(seed: number | bigint): Handle;
  defaultGenerator(): Handle;
  generatorGetState(g: Handle): Handle;
  generatorSetState(g: Handle, state: Handle): void;
  generatorSeed(g: Handle, seed: number | bigint): void;
  setNumThreads(n: number): void;
  getNumThreads(): number;
  setBlasThreads(n: number): boolean;
  cudaAvailable(): boolean;
  cudaDeviceCount(): number;
  cudaSynchronize(): void;
  cpuAllocatorStats(): CpuMemoryStats;
  cpuAllocatorEmptyCache(): void;
  cpuAllocatorResetPeak(): void;
  cpuAllocatorSetFloor(mb: number): void;
  distInit(o: { host: string; port: number; rank: number; worldSize: number; timeoutMs: number }): Promise<Handle>;
  distAllReduce(pg: Handle, tensors: Handle[], op: string): Promise<void>;
  distBroadcast(pg: Handle, tensors: Handle[], root: number): Promise<void>;
  distBarrier(pg: Handle): Promise<void>;
  distDestroy(pg: Handle): void;
  /** the c10d backends this build has, comma-separated ('' for none) */
  distBackends: string;
  profilerStart(): void;
  profilerStop(): Record<string, [calls: number, totalUs: number, selfUs: number]>;
  config(): { torchVersion: string; parallelInfo: string; cxx11Abi: boolean };
  lookupOp(name: string, overload: string): number;
  opSchema(index: number): string;
  callOp(index: number, args: NativeValue[], discard?: boolean): NativeValue;
  backward(roots: Handle[], grads: (Handle | null)[], retainGraph: boolean, createGraph: boolean): void;
  grad(t: Handle): Handle | null;
  setGrad(t: Handle, g: Handle | null): void;
  setData(t: Handle, src: Handle): void;
  requiresGrad(t: Handle): boolean;
  setRequiresGrad(t: Handle, flag: boolean): void;
  isLeaf(t: Handle): boolean;
  gradFnName(t: Handle): string | null;
  setGradEnabled(flag: boolean): boolean;
  isGradEnabled(): boolean;
  jitLoad(path: string, device?: string): Handle;
  jitCall(m: Handle, method: string, inputs: NativeValue[]): NativeValue;
  jitTrain(m: Handle, on: boolean): void;
  jitTo(m: Handle, device: string): void;
  jitNamedParameters(m: Handle): Record<string, Handle>;
}

/** The CPU allocator's figures; the byte counts are absent when c10's default allocator is in use. */
export interface CpuMemoryStats {
  allocator: 'caching' | 'default';
  /** bytes of large blocks held by live tensors */
  inUseBytes?: number;
  peakInUseBytes?: number;
  /** bytes of freed large blocks kept for reuse */
  cachedBytes?: number;
  /** inUse + cached: what the large blocks take from the machine */
  mappedBytes?: number;
  /** the cache may always hold this much, more when more was once in use */
  cacheFloorBytes?: number;
  /** requests served from the cache, blocks mapped from and returned to the kernel */
  hits?: number;
  maps?: number;
  unmaps?: number;
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function addonPath(): string {
  return (
    process.env.SELFGUIDED_ADDON ??
    join(process.env.SELFGUIDED_BUILD_DIR ?? join(root, 'native', 'build'), 'selfguided.node')
  );
}

/**
 * An installed package has no addon until it is compiled against this machine's libtorch (npm does not
 * run dependencies' install scripts unless approved), so the first use builds it, once, with the same
 * script and messages as `npm run setup`.
 */
function buildOnFirstUse(path: string): void {
  const script = join(root, 'scripts', 'build-native.mjs');
  if (existsSync(path) || process.env.SELFGUIDED_ADDON || !existsSync(script)) return;
  process.stderr.write(
    `selfguided: building the native addon for this machine's libtorch (first use, about a minute)\n`,
  );
  spawnSync(process.execPath, [script], { stdio: ['ignore', 'inherit', 'inherit'], cwd: root });
}

function load(): NativeAddon {
  const path = addonPath();
  buildOnFirstUse(path);
  if (!existsSync(path)) {
    throw new Error(
      `selfguided: the native addon is not built (${path} is missing). Run \`npm run setup\` (installs libtorch and builds it).`,
    );
  }
  const require = createRequire(import.meta.url);
  let addon: NativeAddon;
  try {
    addon = require(path) as NativeAddon;
  } catch (e) {
    throw new Error(
      `selfguided: could not load the native addon ${path}: ${(e as Error).message}. Rebuild it with \`npm run build:native\`.`,
    );
  }
  // Debian's OpenMP starts with one thread here; use the cores unless the user chose. OpenBLAS gets 1
  // (runtime.ts's setNumThreads says why).
  const envThreads = Number(process.env.SELFGUIDED_THREADS ?? '');
  addon.setNumThreads(Number.isInteger(envThreads) && envThreads > 0 ? envThreads : availableParallelism());
  addon.setBlasThreads(1);
  return addon;
}

/**
 * The addon, loaded on first use: `selfguided --help` and a mistyped flag answer without mapping libtorch
 * (a second of the command's start). The binding is live, so after the first call importers hold the addon
 * itself and no call goes through the proxy.
 */
let loaded: NativeAddon | undefined;
/** A failed load is not tried again: in an installed package each try would run the first-use build. */
let failure: Error | undefined;
export let native: NativeAddon = new Proxy({} as NativeAddon, {
  get(_, key) {
    if (failure) throw failure;
    try {
      loaded ??= load();
    } catch (e) {
      failure = e as Error;
      throw e;
    }
    native = loaded;
    return loaded[key as keyof NativeAddon];
  },
});
