// The web app's self-annotation browser: the condition files under the runs folder, and for each a view
// (self-label sizes, agreement with hidden annotations, pictures) that `selfguided inspect` renders in a
// child process into a cache folder under the root, so the server never loads a dataset itself.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import type { AnnotationView } from '../eval/annotation-view.js';
import { readMetadata } from '../torch/safetensors.js';
import { CLI } from './jobs.js';
import { findRuns } from './runs.js';
import { walkFolder } from './walk.js';

/** The cache of rendered views, under the root (hidden: the runs walk skips dot folders). */
export const VIEW_CACHE = '.selfguided/annotation-views';

const CONDITION_KINDS = new Set(['onehot', 'centroid', 'feature', 'knn', 'ground-truth', 'random', 'boxes', 'masks']);
const SKIP = new Set(['checkpoints', 'previews', 'node_modules', 'samples', 'eval']);
const MAX_DEPTH = 6;

export interface ConditionFileSummary {
  /** relative to the root, '/'-separated */
  path: string;
  kind: string;
  method: string;
  dataset: string;
  bytes: number;
  /** whether a current view is cached */
  viewed: boolean;
}

const relPath = (root: string, p: string) => relative(root, p).split(sep).join('/');

/** A safetensors file whose metadata marks it as a condition file (not a checkpoint or a features file). */
function conditionMeta(path: string): Record<string, string> | null {
  try {
    const m = readMetadata(path);
    return m.kind && CONDITION_KINDS.has(m.kind) && !m.format ? m : null;
  } catch {
    return null;
  }
}

export function findConditionFiles(root: string): string[] {
  const out: string[] = [];
  walkFolder(root, {
    maxDepth: MAX_DEPTH,
    skip: SKIP,
    file: (p, name) => name.endsWith('.safetensors') && conditionMeta(p) && out.push(p),
  });
  return out.sort();
}

/** Where a condition file's view is cached, relative to the root ('/'-separated). */
export function viewRel(root: string, file: string): string {
  return `${VIEW_CACHE}/${createHash('sha1').update(relPath(root, file)).digest('hex').slice(0, 16)}`;
}

export const viewDir = (root: string, file: string) => join(root, viewRel(root, file));

export function readView(root: string, file: string): AnnotationView | null {
  try {
    return JSON.parse(readFileSync(join(viewDir(root, file), 'view.json'), 'utf8')) as AnnotationView;
  } catch {
    return null;
  }
}

/** The cached view if it was made from the file as it is now (same size and modification time). */
export function currentView(root: string, file: string): AnnotationView | null {
  const v = readView(root, file);
  if (!v?.source) return null;
  try {
    const st = statSync(file);
    return st.size === v.source.bytes && st.mtimeMs === v.source.mtimeMs ? v : null;
  } catch {
    return null;
  }
}

export function listConditionFiles(root: string): ConditionFileSummary[] {
  return findConditionFiles(root).map((p) => {
    const m = conditionMeta(p) ?? {};
    return {
      path: relPath(root, p),
      kind: m.kind ?? '',
      method: m.method ?? '',
      dataset: m.dataset ?? '',
      bytes: statSync(p).size,
      viewed: currentView(root, p) !== null,
    };
  });
}

/**
 * The dataset a condition file annotates, as a data spec: its own metadata's, or else that of a run under
 * the root trained on it. Null when neither says (the view then has statistics only).
 */
export function dataSpecFor(root: string, file: string): string | null {
  const own = conditionMeta(file)?.dataSpec;
  if (own) return own;
  for (const dir of findRuns(root)) {
    try {
      const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as {
        data?: unknown;
        condition?: { kind?: string; path?: string };
      };
      if (c.condition?.kind === 'file' && c.condition.path && resolve(c.condition.path) === file && c.data)
        return JSON.stringify(c.data);
    } catch {
      // a run being written
    }
  }
  return null;
}

export type RenderState =
  { state: 'ready'; view: AnnotationView } | { state: 'rendering' } | { state: 'failed'; error: string };

/** Renders views one at a time (each loads a dataset), in child processes; a failure is kept until retried. */
export class ViewRenderer {
  private readonly failures = new Map<string, string>();
  private readonly waiting: string[] = [];
  private running: { file: string; child: ChildProcess } | null = null;

  constructor(
    private readonly root: string,
    private readonly log: (m: string) => void = () => {},
  ) {}

  /** The view of an absolute condition file under the root, starting its rendering if it has none. */
  state(file: string, retry = false): RenderState {
    const view = currentView(this.root, file);
    if (view) return { state: 'ready', view };
    if (retry) this.failures.delete(file);
    const error = this.failures.get(file);
    if (error !== undefined) return { state: 'failed', error };
    if (this.running?.file !== file && !this.waiting.includes(file)) {
      this.waiting.push(file);
      this.next();
    }
    return { state: 'rendering' };
  }

  close(): void {
    this.waiting.length = 0;
    this.running?.child.kill('SIGKILL');
    this.running = null;
  }

  private next(): void {
    if (this.running) return;
    const file = this.waiting.shift();
    if (!file) return;
    const args = [CLI, 'inspect', '--condition', file, '--out', viewDir(this.root, file)];
    const spec = dataSpecFor(this.root, file);
    if (spec) args.push('--data-spec', spec);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.running = { file, child };
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    const done = (error: string | null) => {
      if (this.running?.child !== child) return;
      this.running = null;
      if (error !== null) {
        this.log(`serve: rendering the view of ${file} failed: ${error}`);
        this.failures.set(file, error);
      }
      this.next();
    };
    child.on('error', (e) => done(`could not start selfguided inspect: ${e.message}`));
    child.on('exit', (code, signal) => {
      if (code === 0) return done(null);
      const last = stderr.trim().split('\n').pop();
      done((last ?? `selfguided inspect exited with ${code ?? signal}`).replace(/^selfguided inspect: (error: )?/, ''));
    });
  }
}

/** Is this absolute path a condition file the browser shows? */
export function isConditionFile(path: string): boolean {
  return existsSync(path) && path.endsWith('.safetensors') && conditionMeta(path) !== null;
}
