// Rebuilding the feature extractor g that made a features file, from the provenance the file records,
// so that generated images can be embedded by the very g (and assigned by the very f) that made the
// self-labels they were generated from. A checkpoint that changed since is refused, not silently used.
import { existsSync } from 'node:fs';
import { DataSpec, loadDataset } from '../data/spec.js';
import { DiffusionFeatures } from '../diffusion/diffusion-features.js';
import type { FeatureExtractor } from '../features/extract.js';
import { sha256File, type Provenance } from '../features/features-file.js';
import { PixelsPca } from '../features/pixels-pca.js';
import { SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import { TorchScriptEncoder } from '../features/torchscript.js';

function checkpointOf(
  cfg: Record<string, unknown>,
  key: string,
  prov: Pick<Provenance, 'extractor' | 'checkpointHash'>,
): string {
  const path = cfg[key];
  if (typeof path !== 'string') throw new Error(`the ${prov.extractor} provenance names no ${key}`);
  if (!existsSync(path)) throw new Error(`the ${prov.extractor} extractor's file ${path} is gone; cannot rebuild g`);
  if (prov.checkpointHash && sha256File(path) !== prov.checkpointHash)
    throw new Error(`${path} changed since the features were extracted (sha256 differs); cannot rebuild the same g`);
  return path;
}

/** The extractor described by a features file's provenance (PCA is refit on its recorded dataset). */
export async function extractorFromProvenance(
  prov: Pick<Provenance, 'extractor' | 'config' | 'checkpointHash' | 'dataSpec'>,
): Promise<FeatureExtractor> {
  const cfg = JSON.parse(prov.config) as Record<string, unknown>;
  switch (prov.extractor) {
    case 'ssl-encoder':
      return new SslEncoderFeatures(
        checkpointOf(cfg, 'checkpoint', prov),
        cfg.output === 'projection' ? 'projection' : 'backbone',
      );
    case 'diffusion':
      return new DiffusionFeatures(checkpointOf(cfg, 'checkpoint', prov), {
        block: cfg.block as string,
        t: cfg.t as number,
        seed: cfg.seed as number,
      });
    case 'torchscript': {
      const { path: _p, ...o } = cfg;
      return new TorchScriptEncoder(checkpointOf(cfg, 'path', prov), o);
    }
    case 'pixels-pca': {
      if (!prov.dataSpec) throw new Error('the pixels-pca provenance has no dataSpec to refit the PCA on');
      const pca = new PixelsPca(cfg as ConstructorParameters<typeof PixelsPca>[0]);
      const ds = await loadDataset(DataSpec.parse(JSON.parse(prov.dataSpec)));
      try {
        pca.fit(ds);
      } finally {
        ds.dispose();
      }
      return pca;
    }
    default:
      throw new Error(`cannot rebuild feature extractor '${prov.extractor}' from its provenance`);
  }
}
