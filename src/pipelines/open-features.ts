// A features file opened with the dataset it was made from (reloaded from its provenance, for labels,
// images, the image size and any hidden annotations): what every annotation stage starts from.
import type { ImageDataset } from '../data/dataset.js';
import { DataSpec, loadDataset } from '../data/spec.js';
import { loadFeatures, type Features } from '../features/features-file.js';
import { parseJsonWith } from '../util/json-file.js';

export interface OpenedFeatures {
  feats: Features;
  /** the dataset, when the features file records how to reload it */
  ds: ImageDataset | null;
  /** the images' side in pixels (from the dataset, else from the extractor's preprocessing), or null */
  imageSize: number | null;
  dispose(): void;
}

/** Opens a features file (with its patch features when `patches`) and reloads its dataset when it can. */
export async function openFeatures(path: string, o: { patches?: boolean } = {}): Promise<OpenedFeatures> {
  const feats = loadFeatures(path, { patches: o.patches ?? false });
  let ds: ImageDataset | null = null;
  const dispose = () => {
    feats.features.dispose();
    feats.patches?.dispose();
    ds?.dispose();
  };
  try {
    const spec = feats.provenance.dataSpec;
    ds = spec ? await loadDataset(parseJsonWith(DataSpec, spec, `${path} (its dataSpec)`)) : null;
    if (ds && ds.length !== feats.features.shape[0])
      throw new Error(
        `features file ${path} has ${feats.features.shape[0]} rows but its dataset now has ${ds.length} images`,
      );
    const size = ds?.size ?? Number(JSON.parse(feats.provenance.preprocessing || '{}').size);
    const imageSize = Number.isInteger(size) && size >= 1 ? size : null;
    if (o.patches && imageSize === null)
      throw new Error(`${path}: cannot tell the image size (no dataSpec to reload the images from)`);
    return { feats, ds, imageSize, dispose };
  } catch (e) {
    dispose();
    throw e;
  }
}
