// Feature files: image-level features [N, D] (and dense patch features [N, h, w, D] where the
// extractor has them) in safetensors, with provenance metadata, checked against the dataset on load.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
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

export function datasetProvenance(ds: ImageDataset): Pick<Provenance, 'dataset' | 'datasetSize' | 'preprocessing'> {
  return { dataset: ds.info.name, datasetSize: ds.length, preprocessing: JSON.stringify(ds.info.preprocessing) };
}

export function saveFeatures(path: string, f: Features): void {
  const tensors: Record<string, Tensor> = { features: f.features };
  if (f.patches) tensors.patches = f.patches;
  const meta: Record<string, string> = { format: FEATURES_FORMAT };
  for (const [k, v] of Object.entries(f.provenance)) if (v !== undefined) meta[k] = String(v);
  torch.safetensors.saveFile(path, tensors, meta);
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
    provenance: {
      extractor: metadata.extractor ?? 'unknown',
      config: metadata.config ?? '{}',
      checkpointHash: metadata.checkpointHash,
      dataset: metadata.dataset ?? 'unknown',
      datasetSize: Number(metadata.datasetSize ?? n),
      preprocessing: metadata.preprocessing ?? '{}',
      dataSpec: metadata.dataSpec,
    },
  };
}
