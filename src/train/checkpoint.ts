// Training-run checkpoints: one safetensors file per save holding the model, its EMA, the optimizer state
// and the RNG states, with everything else (step, config, schedule and loader positions) as JSON
// metadata. Shared by every trainer (diffusion, encoder, evaluation network); `format` names which one
// wrote it.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { InvalidFileError, parseWith } from '../util/json-file.js';
import type { z } from 'zod';

export const CHECKPOINT_FORMAT = 'selfguided-diffusion-checkpoint/1';

export interface CheckpointParts {
  step: number;
  model: Map<string, Tensor>;
  ema: Map<string, Tensor>;
  optim: Map<string, Tensor>;
  rng: Map<string, Tensor>;
  /** JSON-serialisable records: config, optimizer meta, scheduler, loader, ema count */
  meta: Record<string, unknown>;
}

export function checkpointPath(runDir: string, step: number): string {
  return join(runDir, 'checkpoints', `step-${String(step).padStart(8, '0')}.safetensors`);
}

export function saveCheckpoint(path: string, parts: CheckpointParts, format = CHECKPOINT_FORMAT): void {
  const tensors = new Map<string, Tensor>();
  for (const [group, m] of [
    ['model', parts.model],
    ['ema', parts.ema],
    ['optim', parts.optim],
    ['rng', parts.rng],
  ] as const) {
    for (const [k, t] of m) tensors.set(`${group}.${k}`, t);
  }
  const metadata: Record<string, string> = { format, step: String(parts.step) };
  for (const [k, v] of Object.entries(parts.meta)) metadata[k] = JSON.stringify(v);
  torch.safetensors.saveFile(path, tensors, metadata);
}

/** A checkpoint read back: its parts, which stay allocated until dispose(). */
export interface LoadedCheckpoint extends CheckpointParts {
  path: string;
  dispose(): void;
}

/** Reads a checkpoint of the given format; a truncated or foreign file is an Error that names it. */
export function loadCheckpoint(path: string, format = CHECKPOINT_FORMAT): LoadedCheckpoint {
  const { tensors, metadata } = torch.safetensors.loadFile(path);
  const dispose = () => {
    for (const t of tensors.values()) t.dispose();
  };
  try {
    if (metadata.format !== format) {
      throw new Error(`${path} is not a ${format} checkpoint (format '${metadata.format ?? 'missing'}')`);
    }
    const step = Number(metadata.step);
    if (!Number.isInteger(step) || step < 0)
      throw new Error(`${path}: metadata 'step' is '${metadata.step}', not a step`);
    const pick = (prefix: string) =>
      new Map(
        [...tensors].filter(([k]) => k.startsWith(`${prefix}.`)).map(([k, t]) => [k.slice(prefix.length + 1), t]),
      );
    const meta: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(metadata)) {
      if (k === 'format' || k === 'step') continue;
      try {
        meta[k] = JSON.parse(v);
      } catch {
        throw new Error(`${path}: metadata '${k}' is not valid JSON`);
      }
    }
    return {
      path,
      step,
      model: pick('model'),
      ema: pick('ema'),
      optim: pick('optim'),
      rng: pick('rng'),
      meta,
      dispose,
    };
  } catch (e) {
    dispose();
    throw e;
  }
}

/**
 * The newest checkpoint of a run that reads back whole. A newer one that does not (truncated by a full
 * disk, cut by a crash) is skipped with a message saying so; null when the run has none.
 */
export function loadNewestIntact(runDir: string, format: string, log: (m: string) => void): LoadedCheckpoint | null {
  const all = listCheckpoints(runDir).reverse();
  const bad: string[] = [];
  for (const path of all) {
    try {
      const ck = loadCheckpoint(path, format);
      if (bad.length) log(`resuming from ${path}, the newest intact checkpoint`);
      return ck;
    } catch (e) {
      bad.push(path);
      log(`checkpoint ${path} is unreadable (${(e as Error).message}); trying the one before`);
    }
  }
  if (bad.length) throw new Error(`no intact checkpoint in ${runDir}: all ${bad.length} are unreadable`);
  return null;
}

/**
 * One metadata record of a checkpoint, validated: a missing or malformed record fails with the file
 * and the field ("invalid X.safetensors (metadata 'unet'): baseChannels: expected number").
 */
export function checkpointMeta<S extends z.ZodType>(ck: LoadedCheckpoint, key: string, schema: S): z.output<S> {
  return parseWith(schema, ck.meta[key], `${ck.path} (metadata '${key}')`);
}

/**
 * The same for a checkpoint file without reading a tensor (pages and listings that describe a model):
 * its metadata record `key` parsed and validated, failing with the file and the field.
 */
export function readCheckpointMeta<S extends z.ZodType>(path: string, key: string, schema: S): z.output<S> {
  const raw = torch.safetensors.readMetadata(path)[key];
  const source = `${path} (metadata '${key}')`;
  let value: unknown;
  try {
    value = raw === undefined ? undefined : JSON.parse(raw);
  } catch {
    throw new InvalidFileError(source, 'not valid JSON');
  }
  return parseWith(schema, value, source);
}

/** Checkpoint files of a run, oldest first. */
export function listCheckpoints(runDir: string): string[] {
  const dir = join(runDir, 'checkpoints');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => /^step-\d+\.safetensors$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

export function latestCheckpoint(runDir: string): string | null {
  return listCheckpoints(runDir).at(-1) ?? null;
}

/** The step of a run's newest checkpoint, from its file name (0 when it has none). */
export function latestStep(runDir: string): number {
  const latest = latestCheckpoint(runDir);
  return latest ? Number(/step-(\d+)\.safetensors$/.exec(latest)![1]) : 0;
}

/** Removes all but the newest `keep` checkpoints. */
export function pruneCheckpoints(runDir: string, keep: number): void {
  const all = listCheckpoints(runDir);
  for (const f of all.slice(0, Math.max(0, all.length - keep))) rmSync(f, { force: true });
}

/** A checkpoint path from either a file or a run directory (its latest). */
export function resolveCheckpoint(pathOrRun: string): string {
  if (pathOrRun.endsWith('.safetensors')) {
    if (!existsSync(pathOrRun)) throw new Error(`checkpoint not found: ${pathOrRun}`);
    return pathOrRun;
  }
  const latest = latestCheckpoint(pathOrRun);
  if (!latest)
    throw new Error(
      `no checkpoints in ${pathOrRun} (expected ${join(pathOrRun, 'checkpoints', 'step-*.safetensors')})`,
    );
  return latest;
}
