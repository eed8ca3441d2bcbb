// --threads, shared by every command: how many cores this process's tensor work may use. Two libtorch
// processes that each take every core slow each other by far more than half (oversubscription: tiny
// training fell from 106 to 1.9 images/s beside one other process), so a busy machine gets a note.
import { availableParallelism, loadavg } from 'node:os';
import * as torch from '../torch/index.js';
import { UsageError } from './args.js';

export const threadsOption = {
  type: 'int',
  min: 1,
  metavar: 'N',
  help: 'threads for tensor work (default: SELFGUIDED_THREADS, else every core; data-parallel workers share the cores)',
} as const;

/** Applies --threads to this process and to the processes it starts (samplers, workers, inspect). */
export function applyThreads(cmd: string, n: number | undefined): void {
  if (n === undefined) return;
  if (n > 4 * availableParallelism())
    throw new UsageError(cmd, `--threads ${n} is far beyond this machine's ${availableParallelism()} cores`);
  torch.setNumThreads(n);
  process.env.SELFGUIDED_THREADS = String(n);
}

/**
 * A note when the machine is already busy: the 1-minute load average says other work is running and
 * this process's threads would take more cores than are left. null when there is room.
 */
export function busyNote(load: number, cores: number, threads: number): string | null {
  if (load < 0.75 || load + threads <= cores + 0.5) return null;
  const free = Math.max(1, Math.floor(cores - load + 0.5));
  return (
    `note: this machine is busy (load ${load.toFixed(2)} over the last minute on ${cores} cores) and this process ` +
    `uses ${threads} threads; processes that share cores this way slow each other badly: --threads ${free} ` +
    '(or SELFGUIDED_THREADS) leaves the others theirs'
  );
}

/**
 * Says so on stderr when the machine is busy, once the command has been running for a second (a usage
 * error gets no note). Not when the threads were chosen (--threads, SELFGUIDED_THREADS: data-parallel
 * workers get theirs from the launcher), for a launcher, which does no tensor work itself, or with
 * SELFGUIDED_BUSY_NOTE=0 (batch schedulers, and the test runner, whose stderr must not depend on load).
 */
export function noteIfBusy(threads: number | undefined, launcher: boolean): void {
  if (threads !== undefined || process.env.SELFGUIDED_THREADS || process.env.SELFGUIDED_BUSY_NOTE === '0') return;
  if (launcher && process.env.WORLD_SIZE === undefined) return;
  const timer = setTimeout(() => {
    const note = busyNote(loadavg()[0]!, availableParallelism(), torch.getNumThreads());
    if (note) process.stderr.write(`selfguided: ${note}\n`);
  }, 1000);
  timer.unref();
}

/**
 * Threads for each of n workers on this machine: the cores shared out (at least 1 each), unless the
 * user chose (SELFGUIDED_THREADS, or --threads on the command line, which every worker gets).
 */
export function workerThreads(n: number, cores = availableParallelism()): number {
  return Math.max(1, Math.floor(cores / n));
}
