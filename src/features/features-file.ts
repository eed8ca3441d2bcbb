// Feature files: image-level features [N, D] (and dense patch features [N, h, w, D] where the
// extractor has them) in safetensors, with provenance metadata, checked against the dataset on load.
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, writeSync } from 'node:fs';
import type { ImageDataset } from '../data/dataset.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

export const FEATURES_FORMAT = 'selfguided-features/1';

export interface Provenance {
  extractor: string;
  /** extractor settings, JSON */
  config: string;
  /** sha256 of the checkpoint or script the extractor ran, when there is one */
  checkpointHash?: string;
  dataset: string;
  datasetSize: number;
  /** JSON of the dataset's preprocessing */
  preprocessing: string;
  /** JSON DataSpec that reloads the dataset (so later stages find the images and labels) */
  dataSpec?: string;
}

export interface Features {
  features: Tensor;
  patches: Tensor | null;
  provenance: Provenance;
}

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

export function datasetProvenance(
  ds: Pick<ImageDataset, 'info' | 'length'>,
): Pick<Provenance, 'dataset' | 'datasetSize' | 'preprocessing'> {
  return { dataset: ds.info.name, datasetSize: ds.length, preprocessing: JSON.stringify(ds.info.preprocessing) };
}

function featuresMetadata(p: Provenance): Record<string, string> {
  const meta: Record<string, string> = { format: FEATURES_FORMAT };
  for (const [k, v] of Object.entries(p)) if (v !== undefined) meta[k] = String(v);
  return meta;
}

export function saveFeatures(path: string, f: Features): void {
  const tensors: Record<string, Tensor> = { features: f.features };
  if (f.patches) tensors.patches = f.patches;
  torch.safetensors.saveFile(path, tensors, featuresMetadata(f.provenance));
}

/** Where a tensor's bytes lie in a safetensors file, from its header. */
function tensorRegion(path: string, name: string): { dtype: string; shape: number[]; start: number; bytes: number } {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const n = Number(len.readBigUInt64LE(0));
    const head = Buffer.alloc(n);
    readSync(fd, head, 0, n, 8);
    const t = (
      JSON.parse(head.toString('utf8')) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>
    )[name];
    if (!t) throw new Error(`${path} has no '${name}' tensor`);
    return {
      dtype: t.dtype,
      shape: t.shape,
      start: 8 + n + t.data_offsets[0]!,
      bytes: t.data_offsets[1]! - t.data_offsets[0]!,
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * A features file joined from parts (safetensors files of 'features' [n_i, D], and 'patches' when every
 * part has them) by copying their bytes, one part at a time: the whole never sits in memory. Written
 * under a temporary name and renamed when complete. Returns the features' and patches' shapes.
 */
export function joinFeatureParts(
  out: string,
  parts: string[],
  provenance: Provenance,
): { features: number[]; patches: number[] | null } {
  const feats = parts.map((p) => tensorRegion(p, 'features'));
  const withPatches = parts.length > 0 && parts.every((p) => hasTensor(p, 'patches'));
  const pats = withPatches ? parts.map((p) => tensorRegion(p, 'patches')) : null;
  const rows = feats.reduce((a, f) => a + f.shape[0]!, 0);
  const featShape = [rows, ...feats[0]!.shape.slice(1)];
  const patchShape = pats ? [rows, ...pats[0]!.shape.slice(1)] : null;
  const fBytes = feats.reduce((a, f) => a + f.bytes, 0);
  const pBytes = pats ? pats.reduce((a, f) => a + f.bytes, 0) : 0;
  const header: Record<string, unknown> = {
    __metadata__: featuresMetadata(provenance),
    features: { dtype: feats[0]!.dtype, shape: featShape, data_offsets: [0, fBytes] },
  };
  if (pats) header.patches = { dtype: pats[0]!.dtype, shape: patchShape, data_offsets: [fBytes, fBytes + pBytes] };
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const tmp = `${out}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeSync(fd, len);
    writeSync(fd, json);
    const copy = (path: string, r: { start: number; bytes: number }) => {
      const src = openSync(path, 'r');
      try {
        const buf = Buffer.alloc(r.bytes);
        readSync(src, buf, 0, r.bytes, r.start);
        writeSync(fd, buf);
      } finally {
        closeSync(src);
      }
    };
    parts.forEach((p, i) => copy(p, feats[i]!));
    if (pats) parts.forEach((p, i) => copy(p, pats[i]!));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, out);
  return { features: featShape, patches: patchShape };
}

function hasTensor(path: string, name: string): boolean {
  try {
    tensorRegion(path, name);
    return true;
  } catch {
    return false;
  }
}

/**
 * Loads a features file. With a dataset, the file must have been made from a dataset of the same name
 * and size, so features are never silently paired with the wrong images.
 */
export function loadFeatures(path: string, o: { dataset?: ImageDataset; patches?: boolean } = {}): Features {
  if (!existsSync(path)) throw new Error(`features file not found: ${path}`);
  const { tensors, metadata } = torch.safetensors.loadFile(path);
  const fail = (why: string): never => {
    for (const t of tensors.values()) t.dispose();
    throw new Error(`features file ${path}: ${why}`);
  };
  if (metadata.format !== FEATURES_FORMAT)
    fail(`not a selfguided features file (format '${metadata.format ?? 'missing'}')`);
  const features = tensors.get('features') ?? fail("no 'features' tensor");
  if (features.ndim !== 2) fail(`'features' must be [N, D], got [${features.shape.join(', ')}]`);
  if (!torch.isFloating(features.dtype)) fail(`'features' must be floating point, got ${features.dtype}`);
  const patches = tensors.get('patches') ?? null;
  if (patches && (patches.ndim !== 4 || patches.shape[0] !== features.shape[0]))
    fail(`'patches' must be [N, h, w, D] with N = ${features.shape[0]}, got [${patches.shape.join(', ')}]`);
  const n = features.shape[0]!;
  if (o.dataset) {
    if (n !== o.dataset.length) fail(`has ${n} rows but dataset ${o.dataset.info.name} has ${o.dataset.length} images`);
    if (metadata.dataset && metadata.dataset !== o.dataset.info.name)
      fail(`was made from dataset '${metadata.dataset}', not '${o.dataset.info.name}'`);
  }
  if (!o.patches && patches) {
    patches.dispose();
  }
  return {
    features,
    patches: o.patches ? patches : null,
    provenance: provenanceFromMetadata(metadata, n),
  };
}

/** A features file's provenance from its string metadata (`rows` when it does not say its size). */
export function provenanceFromMetadata(metadata: Record<string, string>, rows: number): Provenance {
  return {
    extractor: metadata.extractor ?? 'unknown',
    config: metadata.config ?? '{}',
    checkpointHash: metadata.checkpointHash,
    dataset: metadata.dataset ?? 'unknown',
    datasetSize: Number(metadata.datasetSize ?? rows),
    preprocessing: metadata.preprocessing ?? '{}',
    dataSpec: metadata.dataSpec,
  };
}
