// A training run's directory: config.json (validated before anything is written), the lock that keeps a
// second process out, metrics.jsonl, and checkpoints/. A run that fails before its first checkpoint
// leaves nothing behind; stale temporary files of killed writes are removed when a run opens.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from 'zod';
import { appendLine, ensureWritableDir, readText, writeFileAtomic } from '../util/files.js';
import { parseJsonWith, parseWith, writeJsonFile } from '../util/json-file.js';
import { listCheckpoints } from './checkpoint.js';
import type { DataParallel } from './data-parallel.js';
import { RunLock } from './lock.js';

/** What the loop reads from every trainer's config (its `train` section). */
export interface LoopSettings {
  steps: number;
  batchSize: number;
  checkpointEvery: number;
  logEvery: number;
  /** how many checkpoints to keep (default 2) */
  keepCheckpoints?: number;
}

export interface RunConfig {
  train: LoopSettings;
}

export interface OpenRunOptions {
  /** the configuration of a new run (validated by the trainer's schema) */
  config?: unknown;
  /** continue the run from its newest intact checkpoint; its config.json is used */
  resume?: boolean;
  /** a new total step count (extends a resumed run) */
  steps?: number;
  log?: (msg: string) => void;
  /** data-parallel training: this process's rank in the group (only rank 0 writes the run's files) */
  parallel?: DataParallel | null;
}

const STALE_TMP = /\.tmp-\d+$/;

export class RunDir<C extends RunConfig> {
  private constructor(
    readonly dir: string,
    readonly config: C,
    readonly log: (msg: string) => void,
    /** null for a data-parallel rank other than 0: it reads the run but writes nothing */
    private readonly lock: RunLock | null,
    /** this process created the directory, so a failed start may remove it */
    private readonly created: boolean,
    readonly parallel: DataParallel | null = null,
  ) {}

  /** Whether this process writes the run's files (config, metrics, events, previews, checkpoints). */
  get isWriter(): boolean {
    return this.lock !== null;
  }

  get configPath(): string {
    return join(this.dir, 'config.json');
  }

  /**
   * Validates the configuration (a new run's, or config.json on resume), takes the directory's lock and
   * removes stale temporary files. Nothing is written to config.json yet: see writeConfig().
   */
  static open<C extends RunConfig>(dir: string, o: OpenRunOptions, schema: z.ZodType<C>): RunDir<C> {
    const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
    const configPath = join(dir, 'config.json');
    let config: C;
    if (o.resume) {
      if (!existsSync(configPath)) throw new Error(`cannot resume: ${configPath} does not exist`);
      config = parseJsonWith(schema, readText(configPath), configPath);
      if (o.steps !== undefined) {
        if (!Number.isInteger(o.steps) || o.steps < 1)
          throw new Error(`--steps must be a positive integer, got ${o.steps}`);
        config.train.steps = o.steps;
      }
    } else {
      if (o.config === undefined) throw new Error('a new run needs a config');
      config = parseWith(schema, o.config, 'config');
      if (listCheckpoints(dir).length) {
        throw new Error(
          `run directory ${dir} already has checkpoints; pass --resume to continue it or choose another --run-dir`,
        );
      }
    }
    const parallel = o.parallel ?? null;
    if (parallel && config.train.batchSize % parallel.worldSize !== 0)
      throw new Error(
        `the batch (${config.train.batchSize}, the global batch) does not split evenly over ${parallel.worldSize} processes`,
      );
    // The other ranks of a data-parallel run leave the directory, its lock and its files to rank 0.
    if (parallel && !parallel.isWriter) return new RunDir(dir, config, () => {}, null, false, parallel);
    const created = !existsSync(dir);
    ensureWritableDir(join(dir, 'checkpoints'));
    let lock: RunLock;
    try {
      lock = RunLock.acquire(dir, log);
    } catch (e) {
      if (created) rmSync(dir, { recursive: true, force: true });
      throw e;
    }
    for (const d of [dir, join(dir, 'checkpoints')]) {
      for (const f of readdirSync(d)) if (STALE_TMP.test(f)) rmSync(join(d, f), { force: true });
    }
    return new RunDir(dir, config, log, lock, created, parallel);
  }

  /** Writes config.json; called once the run has been built and its checkpoint (if any) restored. */
  writeConfig(): void {
    if (this.isWriter) writeJsonFile(this.configPath, this.config);
  }

  /**
   * On resume from `step`: drops what the interrupted process logged after it (metrics.jsonl lines and
   * previews of later steps), so the log has each step once and a live curve never goes back, as
   * TensorBoard's purge does for the event file.
   */
  purgeAfter(step: number): void {
    if (!this.isWriter) return;
    const metrics = join(this.dir, 'metrics.jsonl');
    if (existsSync(metrics)) {
      const lines = readText(metrics).split('\n');
      const kept = lines.filter((line) => {
        if (!line.trim()) return false;
        try {
          const r = JSON.parse(line) as { step?: unknown };
          return !(typeof r.step === 'number' && r.step > step);
        } catch {
          return false; // the torn last line of a killed process
        }
      });
      if (kept.length !== lines.filter((l) => l.trim()).length)
        writeFileAtomic(metrics, kept.map((l) => `${l}\n`).join(''));
    }
    const previews = join(this.dir, 'previews');
    if (existsSync(previews))
      for (const f of readdirSync(previews)) {
        const m = /^step-(\d+)\.png$/.exec(f);
        if (m && Number(m[1]) > step) rmSync(join(previews, f), { force: true });
      }
  }

  appendMetrics(record: Record<string, unknown>): void {
    if (this.isWriter) appendLine(join(this.dir, 'metrics.jsonl'), JSON.stringify(record));
  }

  /**
   * After a failure: a run this process created and that has no checkpoint is removed whole (it holds
   * nothing worth keeping); otherwise the directory stays as it was.
   */
  abandon(): void {
    if (this.lock && this.created && listCheckpoints(this.dir).length === 0) {
      this.lock.release();
      rmSync(this.dir, { recursive: true, force: true });
    }
  }

  release(): void {
    this.lock?.release();
  }
}
