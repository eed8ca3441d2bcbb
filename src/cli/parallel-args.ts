// The data-parallel flags of the training commands, torchrun's names: --nproc-per-node N starts N workers
// here (the same command, with RANK, WORLD_SIZE, ... set); a process that finds WORLD_SIZE in its
// environment (from this launcher, torchrun, Slurm or Kubernetes) is a worker and joins the group.
import { getNumThreads, type Device } from '../torch/index.js';
import type { Backend } from '../torch/distributed.js';
import { DataParallel, rendezvousFromEnv } from '../train/data-parallel.js';
import { launchWorkers } from '../train/launcher.js';
import { defineOptions, UsageError, type Options } from './args.js';
import { workerThreads } from './threads.js';

export const parallelOptions = defineOptions({
  'nproc-per-node': {
    type: 'int',
    metavar: 'N',
    help: 'data-parallel: start N worker processes on this machine (torchrun-style); --batch stays the global batch',
  },
  nnodes: { type: 'int', default: 1, help: 'data-parallel: machines taking part (each runs with its --node-rank)' },
  'node-rank': { type: 'int', default: 0, help: 'data-parallel: this machine among --nnodes' },
  'master-addr': {
    type: 'string',
    metavar: 'HOST',
    help: 'data-parallel: where rank 0 serves the rendezvous (default MASTER_ADDR or 127.0.0.1)',
  },
  'master-port': {
    type: 'int',
    help: 'data-parallel: its port (default MASTER_PORT, else 29500 over several machines, a free port on one)',
  },
  backend: {
    type: 'string',
    choices: ['gloo', 'nccl'],
    help: 'data-parallel: c10d backend (default gloo on the CPU, nccl on CUDA)',
  },
  'dist-timeout': {
    type: 'number',
    default: 600,
    metavar: 'SECONDS',
    help: 'data-parallel: a peer that does not take part in a collective for this long fails the run',
  },
});

type ParallelArgs = Options<typeof parallelOptions>;

/** Given --nproc-per-node in a process that is not already a worker: start the workers; their exit code. */
export async function maybeLaunch(cmd: string, a: ParallelArgs): Promise<number | null> {
  const n = a['nproc-per-node'];
  if (n === undefined || process.env.WORLD_SIZE !== undefined) return null;
  if (n < 1) throw new UsageError(cmd, `--nproc-per-node must be >= 1, got ${n}`);
  const nnodes = a.nnodes;
  const explicitPort = a['master-port'] ?? envPort();
  const r = await launchWorkers({
    command: [process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    nprocPerNode: n,
    nnodes,
    nodeRank: a['node-rank'],
    masterAddr: a['master-addr'] ?? process.env.MASTER_ADDR ?? '127.0.0.1',
    masterPort: explicitPort ?? (nnodes > 1 ? 29500 : 0),
    // Each worker its share of the cores (torchrun gives each one thread unless told), unless chosen.
    env: process.env.SELFGUIDED_THREADS ? {} : { SELFGUIDED_THREADS: String(workerThreads(n)) },
  });
  return r.code;
}

function envPort(): number | undefined {
  return process.env.MASTER_PORT === undefined ? undefined : Number(process.env.MASTER_PORT);
}

/**
 * In a worker (WORLD_SIZE set): joins the process group and returns it with this rank's device (cuda
 * becomes cuda:LOCAL_RANK); otherwise null and the device as given.
 */
export async function joinGroup(
  cmd: string,
  a: ParallelArgs,
  device: Device,
): Promise<{ parallel: DataParallel | null; device: Device }> {
  let rv;
  try {
    rv = rendezvousFromEnv();
  } catch (e) {
    throw new UsageError(cmd, (e as Error).message);
  }
  if (!rv) return { parallel: null, device };
  const cuda = device.startsWith('cuda');
  const backend: Backend = a.backend ?? (cuda ? 'nccl' : 'gloo');
  const d: Device = device === 'cuda' ? (`cuda:${rv.localRank}` as Device) : device;
  const timeout = a['dist-timeout'];
  if (!(timeout > 0)) throw new UsageError(cmd, `--dist-timeout must be > 0 seconds, got ${timeout}`);
  const parallel = await DataParallel.init({ backend, rendezvous: rv, timeoutMs: Math.round(timeout * 1000) });
  return { parallel, device: d };
}

/** ", N processes (gloo) of B/N each" for a data-parallel run's first line; '' otherwise. */
export function processesNote(parallel: DataParallel | null, batch: number): string {
  const threads = getNumThreads();
  return parallel
    ? `, ${parallel.worldSize} processes (${parallel.backend}) of ${batch / parallel.worldSize} each, ${threads} thread${threads === 1 ? '' : 's'} each`
    : '';
}
