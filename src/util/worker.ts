// Starts a worker thread on one of the project's own modules, whether it runs compiled (dist/*.js) or
// from source (src/*.ts through tsx): a worker does not inherit the tsx hooks that bin/selfguided.mjs
// registers in the main thread, so a .ts entry first registers them in the worker.
import { Worker } from 'node:worker_threads';

const BOOT = `
const { workerData } = require('node:worker_threads');
(async () => {
  if (workerData.tsx) (await import(workerData.tsx)).register();
  await import(workerData.entry);
})().catch((e) => { process.nextTick(() => { throw e; }); });
`;

/** A worker running the module at `entry` (a file URL beside the caller, `.ts` or `.js`). */
export function moduleWorker(entry: URL): Worker {
  const fromSource = entry.pathname.endsWith('.ts');
  const tsx = fromSource ? import.meta.resolve('tsx/esm/api') : null;
  return new Worker(BOOT, { eval: true, workerData: { entry: entry.href, tsx } });
}

/** The URL of a sibling module of `base` (an import.meta.url), with base's own extension. */
export function siblingModule(base: string, name: string): URL {
  const ext = base.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, base);
}
