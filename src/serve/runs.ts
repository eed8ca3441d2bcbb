// What the web app knows about runs: every run directory under a root folder (a config.json beside
// checkpoints/ or metrics.jsonl), its kind, state, progress, metrics and previews, read from the files the
// training loop writes, so runs started from the CLI, the library or another machine all show.
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readFileSync, readSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { readModelMeta } from '../diffusion/pipeline.js';
import { readMetadata } from '../torch/safetensors.js';
import { latestCheckpoint, latestStep } from '../train/checkpoint.js';
import { lockOwner } from '../train/lock.js';
import { walkFolder } from './walk.js';

export type RunState = 'running' | 'finished' | 'stopped';

export interface RunSummary {
  /** relative to the root, '/'-separated */
  path: string;
  /** diffusion, encoder, evalnet, stego (from the checkpoint format), or unknown before a checkpoint */
  kind: string;
  state: RunState;
  /** the last step logged or checkpointed */
  step: number;
  /** the step the run trains to (config.json), if it says */
  steps: number | null;
  loss: number | null;
  /** when metrics or a checkpoint were last written (ISO) */
  updated: string;
  /** relative paths of previews/*.png, oldest first */
  previews: string[];
}

export interface MetricRecord {
  step: number;
  loss?: number;
  [k: string]: unknown;
}

const SKIP = new Set(['checkpoints', 'previews', 'node_modules', 'cache', 'eval']);
const MAX_DEPTH = 5;

export function isRunDir(dir: string): boolean {
  return (
    existsSync(join(dir, 'config.json')) &&
    (existsSync(join(dir, 'checkpoints')) || existsSync(join(dir, 'metrics.jsonl')))
  );
}

/** The run directories under root (root itself included), sorted by path. */
export function findRuns(root: string): string[] {
  const out: string[] = [];
  walkFolder(root, { maxDepth: MAX_DEPTH, skip: SKIP, dir: (d) => isRunDir(d) && out.push(d) });
  return out.sort();
}

/**
 * metrics.jsonl's complete records from byte `fromByte` on (only that part is read, so polling a long
 * run stays cheap); a line being written (no newline yet) is left for the next read.
 */
export function readMetrics(dir: string, fromByte = 0): { records: MetricRecord[]; nextByte: number } {
  const path = join(dir, 'metrics.jsonl');
  if (!existsSync(path)) return { records: [], nextByte: 0 };
  const fd = openSync(path, 'r');
  let buf: Buffer;
  try {
    buf = Buffer.alloc(Math.max(0, fstatSync(fd).size - fromByte));
    buf = buf.subarray(0, readSync(fd, buf, 0, buf.length, fromByte));
  } finally {
    closeSync(fd);
  }
  const end = buf.lastIndexOf(0x0a) + 1;
  const records: MetricRecord[] = [];
  for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = JSON.parse(line) as MetricRecord;
      if (typeof r.step === 'number') records.push(r);
    } catch {
      // a damaged line: skip it rather than lose the rest
    }
  }
  return { records, nextByte: fromByte + end };
}

function configSteps(dir: string): number | null {
  try {
    const c = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { train?: { steps?: unknown } };
    return typeof c.train?.steps === 'number' ? c.train.steps : null;
  } catch {
    return null;
  }
}

/** diffusion, encoder, evalnet or stego, from the newest checkpoint's format; unknown before one. */
export function runKind(dir: string): string {
  const checkpoint = latestCheckpoint(dir);
  if (!checkpoint) return 'unknown';
  try {
    const m = /^selfguided-([a-z]+)-checkpoint/.exec(readMetadata(checkpoint).format ?? '');
    return m ? m[1]! : 'unknown';
  } catch {
    return 'unknown';
  }
}

const relPath = (root: string, dir: string) => relative(root, dir).split(sep).join('/') || '.';

/** What changes while a run trains (cheap enough to poll), given the last step its metrics logged. */
export function runProgress(
  root: string,
  dir: string,
  lastLoggedStep: number,
): Pick<RunSummary, 'state' | 'step' | 'steps' | 'previews'> {
  const rel = relPath(root, dir);
  const step = Math.max(latestStep(dir), lastLoggedStep);
  const steps = configSteps(dir);
  const state: RunState = lockOwner(dir)?.alive ? 'running' : steps !== null && step >= steps ? 'finished' : 'stopped';
  const previewDir = join(dir, 'previews');
  const previews = existsSync(previewDir)
    ? readdirSync(previewDir)
        .filter((f) => /^step-\d+\.png$/.test(f))
        .sort()
        .map((f) => `${rel === '.' ? '' : `${rel}/`}previews/${f}`)
    : [];
  return { state, step, steps, previews };
}

export function summarizeRun(root: string, dir: string): RunSummary {
  const { records } = readMetrics(dir);
  const last = records[records.length - 1];
  const times = [join(dir, 'metrics.jsonl'), latestCheckpoint(dir)]
    .filter((p): p is string => !!p && existsSync(p))
    .map((p) => statSync(p).mtimeMs);
  return {
    path: relPath(root, dir),
    kind: runKind(dir),
    ...runProgress(root, dir, last?.step ?? 0),
    loss: typeof last?.loss === 'number' ? last.loss : null,
    updated: new Date(times.length ? Math.max(...times) : statSync(dir).mtimeMs).toISOString(),
  };
}

export function listRuns(root: string): RunSummary[] {
  return findRuns(root).map((d) => summarizeRun(root, d));
}

/** What a diffusion run's newest checkpoint was trained on, as the playground needs it. */
export interface ModelInfo {
  /** one-hot ids (classes or self-labels) the model takes, or null */
  numIds: number | null;
  source: string;
  /** channels of spatial condition maps: 1 for boxes, K for masks, 0 for none */
  spatialChannels: number;
  imageSize: number;
}

export function modelInfo(dir: string): ModelInfo {
  const ck = latestCheckpoint(dir);
  if (!ck) throw new Error(`${dir} has no checkpoint yet`);
  // The schemas `selfguided sample` loads with: a page shows nothing a sampler would refuse.
  const { unet, conditions } = readModelMeta(ck);
  return {
    numIds: conditions.oneHot === false ? null : conditions.numIds,
    source: conditions.source,
    spatialChannels: unet.spatialCondChannels,
    imageSize: unet.imageSize,
  };
}
