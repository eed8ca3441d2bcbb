// One training process per run directory: a lock file holding the owner's pid. A live owner makes a
// second process refuse with a clear message; a lock left by a dead process is taken over.
import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

const held = new Set<string>();
let exitHookInstalled = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class RunDirLockedError extends Error {
  constructor(dir: string, owner: string) {
    super(`run directory ${dir} is in use by ${owner}; wait for it to finish or stop it, or choose another --run-dir`);
    this.name = 'RunDirLockedError';
  }
}

export class RunLock {
  private constructor(readonly path: string) {}

  /** Takes the lock of `dir` (which must exist), or throws RunDirLockedError naming the live owner. */
  static acquire(dir: string, log: (m: string) => void = () => {}): RunLock {
    const path = join(dir, '.lock');
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify({ pid: process.pid, host: hostname(), started: new Date().toISOString() }));
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          // link() is atomic and fails if the lock exists, and the lock is never seen half-written.
          linkSync(tmp, path);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
          const owner = readOwner(path);
          if (!owner || (owner.host === hostname() && !alive(owner.pid))) {
            log(
              `taking over the lock of ${dir} left by ${owner ? `process ${owner.pid}, which is no longer running` : 'an unreadable lock file'}`,
            );
            rmSync(path, { force: true });
            continue;
          }
          const where = owner.host === hostname() ? '' : ` on ${owner.host}`;
          throw new RunDirLockedError(dir, `process ${owner.pid}${where} (since ${owner.started})`);
        }
        held.add(path);
        if (!exitHookInstalled) {
          exitHookInstalled = true;
          process.on('exit', () => {
            for (const p of held) rmSync(p, { force: true });
          });
        }
        return new RunLock(path);
      }
    } finally {
      rmSync(tmp, { force: true });
    }
    throw new RunDirLockedError(dir, 'another process that keeps re-taking it');
  }

  release(): void {
    if (!held.delete(this.path)) return;
    rmSync(this.path, { force: true });
  }
}

function readOwner(path: string): { pid: number; host: string; started: string } | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as { pid?: unknown; host?: unknown; started?: unknown };
    if (typeof o.pid !== 'number' || typeof o.host !== 'string') return null;
    return { pid: o.pid, host: o.host, started: String(o.started) };
  } catch {
    return null;
  }
}

/** Who holds the lock of a run directory, and whether that process still runs (null: no lock). */
export function lockOwner(dir: string): { pid: number; host: string; started: string; alive: boolean } | null {
  const owner = readOwner(join(dir, '.lock'));
  if (!owner) return null;
  return { ...owner, alive: owner.host !== hostname() || alive(owner.pid) };
}
