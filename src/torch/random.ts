// Randomness: the global seed and explicit generators whose state can be saved and restored.
import { native, type Handle } from './native.js';
import { Tensor } from './tensor.js';
import { streamKey, type TorchStream } from '../util/streams.js';

/** A CPU random generator. Same seed, same bits. */
export class Generator {
  readonly handle: Handle;
  constructor(seed: number | bigint = 0, handle?: Handle) {
    this.handle = handle ?? native.newGenerator(seed);
  }
  manualSeed(seed: number | bigint): this {
    native.generatorSeed(this.handle, seed);
    return this;
  }
  /** The full generator state as a uint8 tensor (for checkpoints). */
  getState(): Tensor {
    return new Tensor(native.generatorGetState(this.handle));
  }
  setState(state: Tensor): void {
    native.generatorSetState(this.handle, state.handle);
  }
}

/** Seeds the global CPU (and CUDA) generators. */
export function manualSeed(seed: number | bigint): void {
  native.manualSeed(seed);
}

/** The global CPU generator, whose state a checkpoint saves. */
export function defaultGenerator(): Generator {
  return new Generator(0, native.defaultGenerator());
}

/**
 * Runs fn and then puts the global generator back as it was (PyTorch's fork_rng): whatever fn draws, such
 * as a network's initial weights, leaves the draws that come after it unchanged.
 */
export async function forkRng<T>(fn: () => T | Promise<T>): Promise<T> {
  const g = defaultGenerator();
  const state = g.getState();
  try {
    return await fn();
  } finally {
    g.setState(state);
    state.dispose();
  }
}

/** A CPU generator for the named stream of `seed` (util/streams.ts): streams never share a key. */
export function streamGenerator(seed: number, name: TorchStream): Generator {
  return new Generator(streamKey(seed, name));
}
