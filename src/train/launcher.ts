// Starts the worker processes of a data-parallel run on this machine, as torchrun does: each worker is
// the same command with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT set. The launcher
// forwards Ctrl-C and SIGTERM to every worker once (they agree on a step, and rank 0 writes one
// checkpoint), and when a worker fails it stops the others, so a run never hangs on a dead peer.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export interface LaunchOptions {
  /** the worker command: executable and arguments */
  command: string[];
  nprocPerNode: number;
  nnodes?: number;
  nodeRank?: number;
  masterAddr?: string;
  /** 0 (single node only): a free port */
  masterPort?: number;
  /** extra environment for every worker */
  env?: NodeJS.ProcessEnv;
  /** how long the others get to stop after a worker failed, before they are killed (ms) */
  graceMs?: number;
  log?: (msg: string) => void;
}

export interface LaunchResult {
  /** 0 when every worker succeeded; else the first failure's exit code (130 for an interrupted run) */
  code: number;
  /** exit code (or signal) of each local worker, by local rank */
  workers: (number | string)[];
}

/** A TCP port that was free a moment ago on this machine. */
export function freePort(): Promise<number> {
  return new Promise((ok, bad) => {
    const s = createServer();
    s.once('error', bad);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

export async function launchWorkers(o: LaunchOptions): Promise<LaunchResult> {
  const nnodes = o.nnodes ?? 1;
  const nodeRank = o.nodeRank ?? 0;
  if (!Number.isInteger(o.nprocPerNode) || o.nprocPerNode < 1)
    throw new RangeError(`processes per node must be a positive integer, got ${o.nprocPerNode}`);
  if (!Number.isInteger(nnodes) || nnodes < 1 || !Number.isInteger(nodeRank) || nodeRank < 0 || nodeRank >= nnodes)
    throw new RangeError(`node rank ${nodeRank} must be in [0, ${nnodes})`);
  let port = o.masterPort ?? 29500;
  if (port === 0) {
    if (nnodes > 1) throw new RangeError('several nodes need an agreed --master-port, not 0');
    port = await freePort();
  }
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const world = nnodes * o.nprocPerNode;
  const workers: ChildProcess[] = [];
  const exits: (number | string | null)[] = Array.from({ length: o.nprocPerNode }, () => null);
  let firstFailure: number | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  const alive = () => workers.filter((_, i) => exits[i] === null);
  const signalAll = (sig: NodeJS.Signals) => {
    for (const w of alive()) {
      try {
        // Each worker leads its own process group: the signal reaches it and anything it started.
        process.kill(-w.pid!, sig);
      } catch {
        // exited meanwhile
      }
    }
  };
  let stopping = false;
  const onSignal = (sig: NodeJS.Signals) => () => {
    stopping = true;
    signalAll(sig);
  };
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.on('SIGINT', handlers.SIGINT);
  process.on('SIGTERM', handlers.SIGTERM);
  try {
    await new Promise<void>((done) => {
      for (let local = 0; local < o.nprocPerNode; local++) {
        const rank = nodeRank * o.nprocPerNode + local;
        const w = spawn(o.command[0]!, o.command.slice(1), {
          stdio: 'inherit',
          // Own process groups: a terminal's Ctrl-C reaches the launcher alone, which forwards it once.
          detached: true,
          env: {
            ...process.env,
            ...o.env,
            RANK: String(rank),
            LOCAL_RANK: String(local),
            WORLD_SIZE: String(world),
            LOCAL_WORLD_SIZE: String(o.nprocPerNode),
            MASTER_ADDR: o.masterAddr ?? '127.0.0.1',
            MASTER_PORT: String(port),
          },
        });
        workers.push(w);
        w.on('exit', (code, signal) => {
          exits[local] = code ?? signal ?? 'unknown';
          if (code !== 0 && firstFailure === null) {
            firstFailure = code ?? 1;
            // A worker that stopped on the forwarded signal (130) is not a failure to stop the others for:
            // they are finishing the same step, and a second signal would make them exit at once.
            if (alive().length && !(stopping && code === 130)) {
              log(
                `launcher: worker ${rank} ${code !== null ? `exited with code ${code}` : `was killed by ${signal}`}; stopping the other workers`,
              );
              signalAll('SIGTERM');
              // A stopped (hung) worker acts on its SIGTERM only once it runs again.
              signalAll('SIGCONT');
              killTimer = setTimeout(() => signalAll('SIGKILL'), o.graceMs ?? 30_000);
            }
          }
          if (alive().length === 0) done();
        });
      }
    });
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.off('SIGINT', handlers.SIGINT);
    process.off('SIGTERM', handlers.SIGTERM);
  }
  return { code: firstFailure ?? 0, workers: exits.map((e) => e ?? 'unknown') };
}
