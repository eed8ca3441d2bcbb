// A training run carried in an experiment's record: its config.json, its newest checkpoint and its
// metrics, kept in the record's carried/ folder (git-ignored: checkpoints are megabytes) so that a root
// that has the folder continues the run (or samples from it) instead of training it again from step 0. Paths inside the run's files (the
// root's condition and feature files) are stored relative to a placeholder and written back under the
// root that restores them.
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { latestCheckpoint, latestStep, checkpointPath } from '../train/checkpoint.js';

const PLACEHOLDER = '@experiment-root@';

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Text with every path under `from` moved under `to` (a path equal to `from`, or that continues with /). */
export function relocateText(text: string, from: string, to: string): string {
  // JSON escapes a path's backslashes and quotes; match the form that appears in the text.
  const encode = (p: string) => JSON.stringify(p).slice(1, -1);
  return text.replace(
    new RegExp(`${escapeRegExp(encode(from))}(?=[/"\\\\]|$)`, 'g'),
    encode(to).replace(/\$/g, '$$$$'),
  );
}

interface TensorEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * Copies a safetensors file with its metadata's strings relocated from `from` to `to`, and only the
 * tensors `keep` passes (all by default); their bytes are copied unchanged.
 */
export function relocateSafetensors(
  src: string,
  dst: string,
  from: string,
  to: string,
  keep: (name: string) => boolean = () => true,
): void {
  const buf = readFileSync(src);
  if (buf.length < 8) throw new Error(`${src} is not a safetensors file (${buf.length} bytes)`);
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw new Error(`${src} is not a safetensors file (header of ${n} bytes)`);
  const old = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const meta = old.__metadata__ as Record<string, string> | undefined;
  const header: Record<string, unknown> = {};
  if (meta)
    header.__metadata__ = Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, relocateText(v, from, to)]));
  // Offsets count from the end of the header; the kept tensors are packed in their old order.
  const kept = Object.entries(old)
    .filter(([k]) => k !== '__metadata__' && keep(k))
    .map(([k, v]) => [k, v as TensorEntry] as const)
    .sort((a, b) => a[1].data_offsets[0] - b[1].data_offsets[0]);
  const parts: Buffer[] = [];
  let at = 0;
  for (const [k, e] of kept) {
    const [a, b] = e.data_offsets;
    parts.push(buf.subarray(8 + n + a, 8 + n + b));
    header[k] = { ...e, data_offsets: [at, at + b - a] };
    at += b - a;
  }
  let text = JSON.stringify(header);
  // The format pads the header with spaces to a multiple of 8 bytes.
  text += ' '.repeat((8 - (Buffer.byteLength(text) % 8)) % 8);
  const head = Buffer.from(text, 'utf8');
  const size = Buffer.alloc(8);
  size.writeBigUInt64LE(BigInt(head.length));
  const tmp = `${dst}.tmp-${process.pid}`;
  writeFileSync(tmp, Buffer.concat([size, head, ...parts]));
  renameSync(tmp, dst);
}

/** The files a carried run holds, under its folder in the record. */
export interface CarriedFiles {
  step: number;
  checkpoint: string;
  /** files of the root that go with the run (e.g. the judge's test score), relative to the root */
  extras: string[];
}

/**
 * Writes the run in `runDir` (config.json, metrics.jsonl, newest checkpoint, without its optimizer state
 * when `finished`) and `extras` to `dir`, replacing what was there; paths under `root` are stored relative
 * to it. Returns what it wrote, or null when the run has no checkpoint yet.
 */
export function writeCarriedRun(
  dir: string,
  runDir: string,
  root: string,
  extras: string[],
  finished: boolean,
): CarriedFiles | null {
  const ck = latestCheckpoint(runDir);
  if (!ck) return null;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'extras'), { recursive: true });
  writeFileSync(
    join(tmp, 'config.json'),
    relocateText(readFileSync(join(runDir, 'config.json'), 'utf8'), root, PLACEHOLDER),
  );
  if (existsSync(join(runDir, 'metrics.jsonl')))
    copyFileSync(join(runDir, 'metrics.jsonl'), join(tmp, 'metrics.jsonl'));
  // A finished run is only sampled from or read, never trained further: its optimizer state (half of a
  // checkpoint under Adam) stays behind.
  relocateSafetensors(ck, join(tmp, basename(ck)), root, PLACEHOLDER, (k) => !finished || !k.startsWith('optim.'));
  for (const rel of extras)
    writeFileSync(
      join(tmp, 'extras', basename(rel)),
      relocateText(readFileSync(join(root, rel), 'utf8'), root, PLACEHOLDER),
    );
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dirname(dir), { recursive: true });
  renameSync(tmp, dir);
  return { step: latestStep(runDir), checkpoint: basename(ck), extras };
}

/** Puts a carried run back in `runDir` (replacing the run there) under `root`, with its extras. */
export function readCarriedRun(dir: string, files: CarriedFiles, runDir: string, root: string): void {
  const missing = ['config.json', files.checkpoint, ...files.extras.map((e) => join('extras', basename(e)))].filter(
    (f) => !existsSync(join(dir, f)),
  );
  if (missing.length) throw new Error(`the carried run in ${dir} lacks ${missing.join(', ')}`);
  // Only the run's own files are replaced: a row's folder may hold its evaluations too.
  for (const f of ['config.json', 'metrics.jsonl', 'checkpoints'])
    rmSync(join(runDir, f), { recursive: true, force: true });
  mkdirSync(join(runDir, 'checkpoints'), { recursive: true });
  relocateSafetensors(join(dir, files.checkpoint), checkpointPath(runDir, files.step), PLACEHOLDER, root);
  if (existsSync(join(dir, 'metrics.jsonl'))) copyFileSync(join(dir, 'metrics.jsonl'), join(runDir, 'metrics.jsonl'));
  for (const rel of files.extras) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(
      join(root, rel),
      relocateText(readFileSync(join(dir, 'extras', basename(rel)), 'utf8'), PLACEHOLDER, root),
    );
  }
  // config.json last: a run directory with a config is one that resumes.
  writeFileSync(
    join(runDir, 'config.json'),
    relocateText(readFileSync(join(dir, 'config.json'), 'utf8'), PLACEHOLDER, root),
  );
}
