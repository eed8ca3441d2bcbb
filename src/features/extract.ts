// Running a feature extractor over a dataset: in batches, with progress, and resumable: finished
// shards are written next to the output and skipped on a restart, then joined into the features file.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { ImageDataset } from '../data/dataset.js';
import type { StreamedDataset } from '../data/stream.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { Progress } from '../util/progress.js';
import { datasetProvenance, joinFeatureParts, saveFeatures, type Features, type Provenance } from './features-file.js';

export interface FeatureExtractor {
  readonly name: string;
  /** settings and checkpoint hash recorded in the features file */
  provenance(): Pick<Provenance, 'extractor' | 'config' | 'checkpointHash'>;
  /** images [B, C, H, W] in [-1, 1] -> features [B, D] and, if available, patches [B, h, w, D] */
  embed(images: Tensor): { features: Tensor; patches?: Tensor | null };
  /** extractors that learn from the data first (PCA) do it here */
  fit?(dataset: ImageDataset): void;
  dispose?(): void;
}

export interface ExtractOptions {
  batchSize?: number;
  /** keep dense patch features (can be large) */
  patches?: boolean;
  /** write the features file here (and resumable shards beside it) */
  out?: string;
  /** images per shard when writing to a file */
  shardSize?: number;
  progress?: boolean;
  /** recorded with the features (e.g. the DataSpec that reloads the dataset) */
  extraProvenance?: Partial<Provenance>;
}

function shardDir(out: string): string {
  return join(dirname(out), `.${basename(out)}.shards`);
}

/** Features [N, D] (float32) of a tensor of images, in batches, without gradients. */
export function embedImages(ex: FeatureExtractor, images: Tensor, batchSize = 256): Tensor {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const parts: Tensor[] = [];
      for (let s = 0; s < images.shape[0]!; s += batchSize)
        parts.push(ex.embed(images.narrow(0, s, Math.min(batchSize, images.shape[0]! - s))).features.float());
      return torch.cat(parts, 0);
    }),
  );
}

/**
 * One batch as a part stores it: features in float32 and, when kept, patches in float16 (`images` is
 * called inside the scope, so tensors it makes are freed with it).
 */
function embedPart(ex: FeatureExtractor, images: () => Tensor, patches?: boolean): { f: Tensor; p: Tensor | null } {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const r = ex.embed(images());
      return {
        f: r.features.float().contiguous(),
        p: patches && r.patches ? r.patches.to('float16').contiguous() : null,
      };
    }),
  );
}

/** Features of every image of the dataset, in dataset order. */
export function extractFeatures(ds: ImageDataset, ex: FeatureExtractor, o: ExtractOptions = {}): Features {
  const bs = o.batchSize ?? 256;
  const shardSize = Math.max(bs, o.shardSize ?? 8192);
  const n = ds.length;
  ex.fit?.(ds);
  const progress =
    o.progress === false
      ? null
      : new Progress(n, { label: `features ${ex.name}`, every: Math.max(1, Math.ceil(n / bs / 10)) * bs });
  const dir = o.out ? shardDir(o.out) : null;
  if (dir) mkdirSync(dir, { recursive: true });
  const shardFeatures: Tensor[] = [];
  const shardPatches: Tensor[] = [];
  let done = 0;
  try {
    for (let start = 0; start < n; start += shardSize) {
      const len = Math.min(shardSize, n - start);
      const shardPath = dir ? join(dir, `${String(start).padStart(9, '0')}.safetensors`) : null;
      if (shardPath && existsSync(shardPath)) {
        const { tensors } = torch.safetensors.loadFile(shardPath);
        shardFeatures.push(tensors.get('features')!);
        if (tensors.has('patches')) shardPatches.push(tensors.get('patches')!);
        done += len;
        progress?.update(done);
        continue;
      }
      const feats: Tensor[] = [];
      const pats: Tensor[] = [];
      for (let s = start; s < start + len; s += bs) {
        const idx = Int32Array.from({ length: Math.min(bs, start + len - s) }, (_, i) => s + i);
        const out = embedPart(ex, () => ds.images(idx), o.patches);
        feats.push(out.f);
        if (out.p) pats.push(out.p);
        done += idx.length;
        progress?.update(done);
      }
      const f = torch.cat(feats, 0);
      const p = pats.length ? torch.cat(pats, 0) : null;
      for (const t of [...feats, ...pats]) t.dispose();
      if (shardPath) torch.safetensors.saveFile(shardPath, p ? { features: f, patches: p } : { features: f });
      shardFeatures.push(f);
      if (p) shardPatches.push(p);
    }
    const features = torch.cat(shardFeatures, 0);
    const patches = shardPatches.length ? torch.cat(shardPatches, 0) : null;
    const result: Features = {
      features,
      patches,
      provenance: { ...ex.provenance(), ...datasetProvenance(ds), ...o.extraProvenance },
    };
    if (o.out) {
      saveFeatures(o.out, result);
      rmSync(dir!, { recursive: true, force: true });
    }
    return result;
  } finally {
    for (const t of [...shardFeatures, ...shardPatches]) t.dispose();
  }
}

/** Shards left by an interrupted extraction (for messages). */
export function pendingShards(out: string): number {
  const dir = shardDir(out);
  return existsSync(dir) ? readdirSync(dir).length : 0;
}

/**
 * Features of a shard directory streamed from disk in pack order, written to `out` part by part (a part
 * of `shardSize` rows is saved as soon as it is whole; an interrupted run continues after the last one)
 * and joined on disk: neither the images nor the features are ever all in memory. Returns the shapes.
 */
export async function extractFeaturesStreamed(
  ds: StreamedDataset,
  ex: FeatureExtractor,
  o: ExtractOptions & { out: string },
): Promise<{ features: number[]; patches: number[] | null }> {
  if (ex.fit)
    throw new Error(`${ex.name} fits on the whole dataset in memory first; it cannot run on a streamed dataset`);
  const bs = o.batchSize ?? 256;
  const shardSize = Math.max(bs, o.shardSize ?? 8192);
  const n = ds.length;
  const progress =
    o.progress === false
      ? null
      : new Progress(n, { label: `features ${ex.name}`, every: Math.max(1, Math.ceil(n / bs / 10)) * bs });
  const dir = shardDir(o.out);
  mkdirSync(dir, { recursive: true });
  const parts: string[] = [];
  for (let start = 0; start < n; start += shardSize) {
    const len = Math.min(shardSize, n - start);
    const part = join(dir, `${String(start).padStart(9, '0')}.safetensors`);
    parts.push(part);
    if (!existsSync(part)) {
      const feats: Tensor[] = [];
      const pats: Tensor[] = [];
      let got = 0;
      for await (const images of ds.inOrder(start, Math.min(bs, len))) {
        const out = embedPart(ex, () => images, o.patches);
        got += images.shape[0]!;
        images.dispose();
        feats.push(out.f);
        if (out.p) pats.push(out.p);
        progress?.update(start + got);
        if (got >= len) break;
      }
      const f = torch.cat(feats, 0).narrow(0, 0, len).contiguous();
      const p = pats.length ? torch.cat(pats, 0).narrow(0, 0, len).contiguous() : null;
      torch.safetensors.saveFile(`${part}.tmp`, p ? { features: f, patches: p } : { features: f });
      renameSync(`${part}.tmp`, part);
      for (const t of [...feats, ...pats, f, ...(p ? [p] : [])]) t.dispose();
    }
    progress?.update(start + len);
  }
  const shapes = joinFeatureParts(o.out, parts, {
    ...ex.provenance(),
    ...datasetProvenance(ds),
    ...o.extraProvenance,
  });
  rmSync(dir, { recursive: true, force: true });
  return shapes;
}
