// Rebuilding the feature extractor g that made a features file, from the provenance the file records,
// so that generated images can be embedded by the very g (and assigned by the very f) that made the
// self-labels they were generated from. A checkpoint that changed since is refused, not silently used.
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { DataSpec, loadDataset } from '../data/spec.js';
import { DiffusionFeatures } from '../diffusion/diffusion-features.js';
import type { FeatureExtractor } from '../features/extract.js';
import { sha256File, type Provenance } from '../features/features-file.js';
import { PixelsPca } from '../features/pixels-pca.js';
import { PATCH_SOURCES, SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import { TorchScriptEncoder } from '../features/torchscript.js';
import { parseJsonWith } from '../util/json-file.js';

/** The recorded extractor settings, per extractor (what each one's provenance() writes). */
const CONFIGS = {
  'ssl-encoder': z.looseObject({
    checkpoint: z.string(),
    output: z.enum(['backbone', 'projection', 'grid']).optional(),
    patchStage: z.number().int().optional(),
    patchSource: z.enum(PATCH_SOURCES).optional(),
  }),
  diffusion: z.looseObject({
    checkpoint: z.string(),
    block: z.string(),
    t: z.number().int().min(0),
    seed: z.number().int(),
  }),
  torchscript: z.looseObject({ path: z.string() }),
  'pixels-pca': z.object({
    components: z.number().int().positive(),
    whiten: z.boolean(),
    fitSamples: z.number().int().positive(),
    seed: z.number().int(),
  }),
};

/** The file an extractor ran, refused when it is gone or changed since the features were made. */
function verifiedFile(path: string, prov: Pick<Provenance, 'extractor' | 'checkpointHash'>): string {
  if (!existsSync(path)) throw new Error(`the ${prov.extractor} extractor's file ${path} is gone; cannot rebuild g`);
  if (prov.checkpointHash && sha256File(path) !== prov.checkpointHash)
    throw new Error(`${path} changed since the features were extracted (sha256 differs); cannot rebuild the same g`);
  return path;
}

/** The extractor described by a features file's provenance (PCA is refit on its recorded dataset). */
export async function extractorFromProvenance(
  prov: Pick<Provenance, 'extractor' | 'config' | 'checkpointHash' | 'dataSpec'>,
): Promise<FeatureExtractor> {
  const what = `the ${prov.extractor} extractor's recorded config`;
  switch (prov.extractor) {
    case 'ssl-encoder': {
      const cfg = parseJsonWith(CONFIGS['ssl-encoder'], prov.config, what);
      return new SslEncoderFeatures(
        verifiedFile(cfg.checkpoint, prov),
        cfg.output ?? 'backbone',
        cfg.patchStage ?? -1,
        cfg.patchSource ?? 'tokens',
      );
    }
    case 'diffusion': {
      const cfg = parseJsonWith(CONFIGS['diffusion'], prov.config, what);
      return new DiffusionFeatures(verifiedFile(cfg.checkpoint, prov), { block: cfg.block, t: cfg.t, seed: cfg.seed });
    }
    case 'torchscript': {
      const { path, ...o } = parseJsonWith(CONFIGS['torchscript'], prov.config, what);
      return new TorchScriptEncoder(verifiedFile(path, prov), o);
    }
    case 'pixels-pca': {
      if (!prov.dataSpec) throw new Error('the pixels-pca provenance has no dataSpec to refit the PCA on');
      const pca = new PixelsPca(parseJsonWith(CONFIGS['pixels-pca'], prov.config, what));
      const ds = await loadDataset(parseJsonWith(DataSpec, prov.dataSpec, "the pixels-pca provenance's dataSpec"));
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
