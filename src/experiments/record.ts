// An experiment's record: every finished evaluation's metrics and images, kept beside the page in the docs
// with fingerprints of what it was measured against (g, the judge, the row's condition file). The runs
// themselves (checkpoints, samples) stay in the root, which a later session or another machine does not
// have; with the record committed, a run on a fresh root rebuilds the shared stages, and where their
// fingerprints equal the recorded ones it takes the recorded evaluation instead of training and sampling
// that row again. So an experiment longer than one sitting is finished over several, and a row is never
// compared with rows measured by another judge or on other annotations: a fingerprint that differs
// means the row is measured again.
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { z } from 'zod';
import { latestCheckpoint, latestStep } from '../train/checkpoint.js';
import { readJsonFile, writeJsonFile } from '../util/json-file.js';
import { StageInterrupted } from '../pipelines/stage.js';
import { readCarriedRun, writeCarriedRun } from './carried-run.js';

const RECORD_FORMAT = 'selfguided-experiment-record/1';

/** What an evaluation was measured against: fingerprints (or plain values) by name. */
export type RecordInputs = Record<string, string>;

const Entry = z.object({
  format: z.literal(RECORD_FORMAT),
  identity: z.record(z.string(), z.unknown()),
  inputs: z.record(z.string(), z.string()),
  files: z.array(z.string()),
});

const CARRIED_FORMAT = 'selfguided-carried-run/1';
const CarriedEntry = z.object({
  format: z.literal(CARRIED_FORMAT),
  identity: z.record(z.string(), z.unknown()),
  inputs: z.record(z.string(), z.string()),
  step: z.number().int().positive(),
  /** carried without its optimizer state: sampled from or read, not trained further */
  finished: z.boolean().default(false),
  checkpoint: z.string().regex(/^step-\d+\.safetensors$/),
  extras: z.array(z.string()),
});

/** Where a run is carried, and what it needs to be taken: the experiment's root and its inputs. */
export interface CarryOptions {
  /** the experiment's root: paths under it are stored relative to it */
  root: string;
  /** what the run was trained on (fingerprints or plain values), e.g. its condition file */
  inputs?: RecordInputs;
  /** files of the root, relative to it, that go with the run */
  extras?: string[];
}

/** The files of an evaluation folder the reports read; samples.safetensors and the caches stay behind. */
const KEPT = /^(metrics\.json|[\w-]+\.png)$/;

function readExactly(fd: number, length: number, position: number): Buffer {
  const b = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, b, done, length - done, position + done);
    if (n === 0) throw new Error(`unexpected end of file at byte ${position + done}`);
    done += n;
  }
  return b;
}

/**
 * The fingerprint of a safetensors file's tensors (names, dtypes, shapes, bytes) whose names pass
 * `keep`, in name order; the metadata (paths, provenance) is left out, so the same tensors written from
 * another root or at another time have the same fingerprint.
 */
export function tensorFingerprint(path: string, keep: (name: string) => boolean = () => true): string {
  const fd = openSync(path, 'r');
  try {
    const n = Number(readExactly(fd, 8, 0).readBigUInt64LE(0));
    const header = JSON.parse(readExactly(fd, n, 8).toString('utf8')) as Record<
      string,
      { dtype: string; shape: number[]; data_offsets: [number, number] }
    >;
    const hash = createHash('sha256');
    for (const name of Object.keys(header)
      .filter((k) => k !== '__metadata__' && keep(k))
      .sort()) {
      const {
        dtype,
        shape,
        data_offsets: [a, b],
      } = header[name]!;
      hash.update(`${name}:${dtype}:${shape.join('x')}\n`);
      hash.update(readExactly(fd, b - a, 8 + n + a));
    }
    return hash.digest('hex').slice(0, 16);
  } catch (e) {
    throw new Error(`cannot fingerprint ${path}: ${(e as Error).message}`);
  } finally {
    closeSync(fd);
  }
}

/** The fingerprint of a training run's newest checkpoint: its weights and EMA weights. */
export function runFingerprint(runDir: string): string {
  const path = latestCheckpoint(runDir);
  if (!path) throw new Error(`no checkpoint in ${runDir} to fingerprint`);
  return `step ${latestStep(runDir)} ${tensorFingerprint(path, (k) => k.startsWith('model.') || k.startsWith('ema.'))}`;
}

export class ExperimentRecord {
  /**
   * @param dir the record's folder (one subfolder per evaluation)
   * @param identity what every entry must share to be taken: experiment, dataset, budget, seed, g
   */
  constructor(
    readonly dir: string,
    private readonly identity: Record<string, unknown>,
    private readonly log: (m: string) => void = () => {},
  ) {}

  private entryDir(key: string): string {
    if (!/^[\w.-]+(\/[\w.-]+)*$/.test(key) || key.split('/').includes('..'))
      throw new Error(`record key '${key}' is not a relative folder name`);
    return join(this.dir, key);
  }

  /** Whether `key` is recorded at all (whatever it was measured against). */
  has(key: string): boolean {
    return existsSync(join(this.entryDir(key), 'entry.json'));
  }

  /**
   * Copies the recorded evaluation `key` into `out` when it was measured against the same identity and
   * `inputs`; true when it did.
   */
  restore(key: string, out: string, inputs: RecordInputs): boolean {
    const dir = this.entryDir(key);
    const entryPath = join(dir, 'entry.json');
    if (!existsSync(entryPath)) return false;
    const entry = readJsonFile(entryPath, Entry);
    const differs = this.differences(entry, inputs);
    if (differs.length) {
      this.log(`the record's ${key} was measured against another ${differs.join(', ')}; measuring it again`);
      return false;
    }
    const missing = entry.files.filter((f) => !existsSync(join(dir, f)));
    if (missing.length) {
      this.log(`the record's ${key} lacks ${missing.join(', ')}; measuring it again`);
      return false;
    }
    mkdirSync(out, { recursive: true });
    for (const f of entry.files) copyFileSync(join(dir, f), join(out, f));
    this.log(`took ${key} from the record in ${this.dir}`);
    return true;
  }

  /** The names of the identity and inputs an entry was made with that differ from these. */
  private differences(
    entry: { identity: Record<string, unknown>; inputs: Record<string, string> },
    inputs: RecordInputs,
  ): string[] {
    return [
      ...Object.entries(this.identity)
        .filter(([k, v]) => JSON.stringify(entry.identity[k]) !== JSON.stringify(v))
        .map(([k]) => k),
      ...Object.entries(inputs)
        .filter(([k, v]) => entry.inputs[k] !== v)
        .map(([k]) => k),
    ];
  }

  private carriedDir(name: string): string {
    return this.entryDir(join('carried', name));
  }

  private carriedEntry(name: string): z.infer<typeof CarriedEntry> | null {
    const path = join(this.carriedDir(name), 'entry.json');
    return existsSync(path) ? readJsonFile(path, CarriedEntry) : null;
  }

  /**
   * Carries the training run in `runDir` (its newest checkpoint) under `name`, replacing what was carried
   * before; nothing is written when the same step is carried already with the same inputs.
   */
  keepRun(name: string, runDir: string, o: CarryOptions, state: 'finished' | 'stopped' = 'finished'): void {
    const inputs = o.inputs ?? {};
    const step = latestStep(runDir);
    if (step === 0) return;
    const old = this.carriedEntry(name);
    const extras = o.extras ?? [];
    if (
      old &&
      old.step === step &&
      old.finished === (state === 'finished') &&
      this.differences(old, inputs).length === 0 &&
      JSON.stringify(old.extras) === JSON.stringify(extras)
    )
      return;
    const files = writeCarriedRun(this.carriedDir(name), runDir, o.root, extras, state === 'finished');
    if (!files) return;
    writeJsonFile(join(this.carriedDir(name), 'entry.json'), {
      format: CARRIED_FORMAT,
      identity: this.identity,
      inputs,
      finished: state === 'finished',
      ...files,
    });
  }

  /**
   * Puts the carried run `name` in `runDir` when it was trained with the same identity and inputs and is
   * further along than what `runDir` holds; true when it did.
   */
  restoreRun(name: string, runDir: string, o: CarryOptions): boolean {
    const entry = this.carriedEntry(name);
    if (!entry || latestStep(runDir) >= entry.step) return false;
    const differs = this.differences(entry, o.inputs ?? {});
    if (differs.length) {
      this.log(`the record's run ${name} was trained on another ${differs.join(', ')}; not continuing it`);
      return false;
    }
    readCarriedRun(this.carriedDir(name), entry, runDir, o.root);
    this.log(`continuing ${name} from the run carried in the record (step ${entry.step})`);
    return true;
  }

  /**
   * Runs `train` (a stage training the run in `runDir`), carrying the run when it ends or is stopped, so a
   * later session on another machine continues it; the run is first taken from the record when the root
   * holds less of it.
   */
  async trainCarried(name: string, runDir: string, o: CarryOptions, train: () => Promise<void>): Promise<void> {
    this.restoreRun(name, runDir, o);
    try {
      await train();
    } catch (e) {
      if (e instanceof StageInterrupted) this.keepRun(name, runDir, o, 'stopped');
      throw e;
    }
    this.keepRun(name, runDir, o);
  }

  /** Stops carrying the run `name` (its evaluations are recorded and nothing samples from it again). */
  dropRun(name: string): void {
    rmSync(this.carriedDir(name), { recursive: true, force: true });
  }

  /** Records the finished evaluation in `out` under `key`, replacing what was there. */
  keep(key: string, out: string, inputs: RecordInputs): void {
    const dir = this.entryDir(key);
    const files = readdirSync(out).filter((f) => KEPT.test(f));
    if (!files.includes('metrics.json')) throw new Error(`${out} holds no metrics.json to record`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const f of files) copyFileSync(join(out, f), join(dir, f));
    writeJsonFile(join(dir, 'entry.json'), { format: RECORD_FORMAT, identity: this.identity, inputs, files });
  }
}
