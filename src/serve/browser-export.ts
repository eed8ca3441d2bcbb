// "Sample in this browser" from the playground: a run's exported web folder (selfguided export --format
// web, made in a child process so the server keeps answering) kept in <run>/web while the run's newest
// checkpoint stays the same, and served under /browser/<run>/web/ with a policy that lets the page compile
// WebAssembly and load nothing from elsewhere.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { basename, extname, join } from 'node:path';
import { webCodeFile } from '../export/web-export.js';
import { latestCheckpoint } from '../train/checkpoint.js';
import { WEB_TYPES } from '../util/static-server.js';
import { CLI } from './jobs.js';
import { HttpError, resolveUnder } from './safe-path.js';

/** The exported page's CSP: its own scripts and WebAssembly, its own files, nothing framed. */
export const BROWSER_CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; " +
  "connect-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** Which checkpoint a run's web folder was exported from. */
const SOURCE = 'source.json';

const pending = new Map<string, Promise<void>>();

/** Makes (or keeps) the run's web folder for its newest checkpoint; one export per run at a time. */
export function ensureBrowserExport(runDir: string): Promise<void> {
  let p = pending.get(runDir);
  if (!p) {
    p = exportIfStale(runDir).finally(() => pending.delete(runDir));
    pending.set(runDir, p);
  }
  return p;
}

async function exportIfStale(runDir: string): Promise<void> {
  const checkpoint = latestCheckpoint(runDir);
  if (!checkpoint) throw new HttpError(400, `${basename(runDir)} has no checkpoint to export`);
  const source = JSON.stringify({ checkpoint: basename(checkpoint), mtimeMs: statSync(checkpoint).mtimeMs });
  const web = join(runDir, 'web');
  if (existsSync(join(web, SOURCE)) && readFileSync(join(web, SOURCE), 'utf8') === source) return;
  // Written beside, then swapped in: a page being served never sees half a folder.
  const tmp = join(runDir, `web.tmp-${process.pid}`);
  rmSync(tmp, { recursive: true, force: true });
  const err = await new Promise<string | null>((done) => {
    const child = spawn(
      process.execPath,
      [CLI, 'export', '--checkpoint', checkpoint, '--format', 'web', '--out', tmp],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-2000)));
    child.on('error', (e) => done(e.message));
    child.on('close', (code) => done(code === 0 ? null : stderr.trim() || `export exited with ${code}`));
  });
  if (err !== null) {
    rmSync(tmp, { recursive: true, force: true });
    throw new HttpError(500, `the export failed: ${err}`);
  }
  writeFileSync(join(tmp, SOURCE), source);
  rmSync(web, { recursive: true, force: true });
  renameSync(tmp, web);
}

/**
 * A file of a run's page: rel is "<run>/web/<file>" ("<run>/web/" for the page). The code (HTML, scripts,
 * onnxruntime-web) is the app's own; only the model and model.json come from the run's web folder, which
 * must be one this app exported (it holds the source record), so nothing in the runs folder ever runs as
 * a script of this origin.
 */
export async function serveBrowserFile(
  root: string,
  rel: string,
  res: ServerResponse,
  headers: Record<string, string>,
): Promise<void> {
  const m = /^(?:(.+)\/)?web\/([^/]*)$/.exec(rel);
  if (!m) throw new HttpError(404, `not an exported page: ${rel}`);
  const run = m[1] ?? '.';
  const file = m[2] || 'index.html';
  let body: string | Buffer | null = await webCodeFile(file);
  if (body === null) {
    if (file !== 'model.json' && file !== 'model.onnx') throw new HttpError(404, `no such file of a page: ${file}`);
    resolveUnder(root, `${run}/web/${SOURCE}`);
    body = readFileSync(resolveUnder(root, `${run}/web/${file}`));
  }
  res.writeHead(200, {
    ...headers,
    'content-type': WEB_TYPES[extname(file).toLowerCase()]!,
    'cache-control': 'no-cache',
    'content-security-policy': BROWSER_CSP,
  });
  res.end(body);
}
