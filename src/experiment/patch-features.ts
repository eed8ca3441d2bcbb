// A features file with patches, opened with the dataset it was made from (reloaded from its provenance,
// for the images, the image size and any hidden annotations): what the box and mask stages start from.
import type { ImageDataset } from '../data/dataset.js';
import { DataSpec, loadDataset } from '../data/spec.js';
import { loadFeatures, type Features } from '../features/features-file.js';
import { parseJsonWith } from '../util/json-file.js';

export interface PatchFeatures {
  feats: Features;
  /** the dataset, when the features file records how to reload it */
  ds: ImageDataset | null;
  imageSize: number;
  dispose(): void;
}

export async function openPatchFeatures(path: string): Promise<PatchFeatures> {
  const feats = loadFeatures(path, { patches: true });
  const dispose = () => {
    feats.features.dispose();
    feats.patches?.dispose();
    ds?.dispose();
  };
  let ds: ImageDataset | null = null;
  try {
    const spec = feats.provenance.dataSpec;
    ds = spec ? await loadDataset(parseJsonWith(DataSpec, spec, `${path} (its dataSpec)`)) : null;
    const imageSize = ds?.size ?? Number(JSON.parse(feats.provenance.preprocessing).size);
    if (!Number.isInteger(imageSize) || imageSize < 1)
      throw new Error(`${path}: cannot tell the image size (no dataSpec to reload the images from)`);
    return { feats, ds, imageSize, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
