// selfguided features: runs a feature extractor g over a dataset and writes a features file.
import { existsSync } from 'node:fs';
import { loadDataset } from '../data/spec.js';
import { StreamedDataset } from '../data/stream.js';
import { DiffusionFeatures } from '../diffusion/diffusion-features.js';
import { extractFeatures, extractFeaturesStreamed, pendingShards, type FeatureExtractor } from '../features/extract.js';
import { PixelsPca } from '../features/pixels-pca.js';
import { PATCH_SOURCES, SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import { TorchScriptEncoder } from '../features/torchscript.js';
import { defineCommand, defineOptions, type Options, UsageError } from './args.js';
import { dataOptions, dataSpecFromArgs, streamOptions } from './data-args.js';

const numList = (cmd: string, flag: string, v: string | undefined) => {
  if (v === undefined) return undefined;
  const xs = v.split(',').map(Number);
  if (xs.some((x) => !Number.isFinite(x)))
    throw new UsageError(cmd, `--${flag} must be comma-separated numbers, got '${v}'`);
  return xs;
};
const indexOrKey = (v: string | undefined) => (v === undefined ? undefined : /^\d+$/.test(v) ? Number(v) : v);

function makeExtractor(a: Args): FeatureExtractor {
  const kind = a.extractor;
  const needCheckpoint = () => {
    const c = a.checkpoint;
    if (!c) throw new UsageError('features', `--extractor ${kind} needs --checkpoint`);
    if (!existsSync(c)) throw new Error(`not found: ${c}`);
    return c;
  };
  switch (kind) {
    case 'pixels-pca':
      return new PixelsPca({ components: a.components, whiten: Boolean(a.whiten), seed: a.seed });
    case 'encoder':
      return new SslEncoderFeatures(needCheckpoint(), a['encoder-output'], a['patch-stage'], a['patch-source']);
    case 'diffusion':
      return new DiffusionFeatures(needCheckpoint(), {
        block: a.block,
        t: a.t,
        seed: a.seed,
      });
    default:
      return new TorchScriptEncoder(needCheckpoint(), {
        size: a.size,
        rgb: Boolean(a.rgb),
        mean: numList('features', 'mean', a.mean),
        std: numList('features', 'std', a.std),
        featureOutput: indexOrKey(a['feature-output']),
        patchOutput: indexOrKey(a['patch-output']),
        patchLayout: a['patch-layout'],
      });
  }
}

const options = defineOptions({
  extractor: {
    type: 'string',
    default: 'encoder',
    choices: ['encoder', 'diffusion', 'torchscript', 'pixels-pca'],
    help: 'the feature extractor g',
  },
  checkpoint: {
    type: 'string',
    metavar: 'PATH',
    help: 'encoder or diffusion run directory / checkpoint, or the TorchScript file',
  },
  out: { required: true, type: 'string', metavar: 'FILE', help: 'features file to write (.safetensors; required)' },
  ...dataOptions,
  stream: {
    ...streamOptions.stream,
    help: `${streamOptions.stream.help}; the features are then written part by part and joined on disk`,
  },
  seed: { type: 'int', default: 0, help: 'seed (long-tail subsets, PCA subset, diffusion noise)' },
  batch: { type: 'int', min: 1, default: 256, help: 'images per batch' },
  patches: { type: 'boolean', help: 'also store dense patch features [N, h, w, D] (float16)' },
  components: { type: 'int', min: 1, default: 64, help: 'pixels-pca: principal components kept' },
  whiten: { type: 'boolean', help: 'pixels-pca: scale components to unit variance' },
  'encoder-output': {
    type: 'string',
    default: 'backbone',
    choices: ['backbone', 'projection', 'grid'],
    help: "encoder: the backbone's global average, the head's output, or the last stage averaged over a 2x2 grid (4x wider; keeps layout)",
  },
  'patch-source': {
    type: 'string',
    default: 'tokens',
    choices: PATCH_SOURCES,
    help: "encoder (ViT): the patch map is the last block's tokens, or its attention keys (LOST's features)",
  },
  'patch-stage': {
    type: 'int',
    default: -1,
    help: 'encoder: the backbone stage of the patch map (-1 the last; 1 of 3 is 24x24 at 48x48, finer and better for boxes and masks)',
  },
  block: { type: 'string', default: 'middle', help: "diffusion: UNet block ('middle', 'input.N', 'output.N')" },
  t: { type: 'int', default: 100, help: 'diffusion: noise level (timestep) of the forward pass' },
  size: { type: 'int', help: 'torchscript: resize images to SIZE before the network (e.g. 224)' },
  rgb: {
    type: 'boolean',
    default: true,
    help: 'torchscript: repeat grayscale images to 3 channels (--no-rgb to keep 1)',
  },
  mean: {
    type: 'string',
    metavar: 'A,B,C',
    help: 'torchscript: normalisation mean on [0, 1] pixels (default ImageNet)',
  },
  std: { type: 'string', metavar: 'A,B,C', help: 'torchscript: normalisation std (default ImageNet)' },
  'feature-output': {
    type: 'string',
    metavar: 'INDEX|KEY',
    help: 'torchscript: which output is the image feature (default: the output, or its first element)',
  },
  'patch-output': { type: 'string', metavar: 'INDEX|KEY', help: 'torchscript: which output is the patch map' },
  'patch-layout': {
    type: 'string',
    default: 'nchw',
    choices: ['nchw', 'tokens'],
    help: 'torchscript: patch map layout ([B, D, h, w] or ViT tokens [B, 1+hw, D])',
  },
});
type Args = Options<typeof options>;

export const command = defineCommand({
  name: 'features',
  summary:
    'extract image features with a self-supervised encoder, a diffusion model, a TorchScript network or pixels+PCA',
  options,
  epilog: 'An interrupted extraction resumes from its finished shards when run again with the same --out.',
  async run(a) {
    const out = a.out;
    const spec = dataSpecFromArgs('features', a);
    const ex = makeExtractor(a);
    const resumed = pendingShards(out);
    if (resumed) process.stderr.write(`resuming: ${resumed} finished shard(s) found for ${out}\n`);
    if (spec.kind === 'shards' && spec.stream) {
      try {
        const ds = await StreamedDataset.open(spec.path, { limit: spec.limit });
        const t0 = performance.now();
        const shapes = await extractFeaturesStreamed(ds, ex, {
          batchSize: a.batch,
          patches: Boolean(a.patches),
          out,
          extraProvenance: { dataSpec: JSON.stringify(spec) },
        });
        process.stdout.write(
          `wrote ${out}: features [${shapes.features.join(', ')}]${shapes.patches ? `, patches [${shapes.patches.join(', ')}]` : ''} streamed from ${ds.info.name} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
        );
        return 0;
      } finally {
        ex.dispose?.();
      }
    }
    const ds = await loadDataset(spec);
    try {
      const t0 = performance.now();
      const f = extractFeatures(ds, ex, {
        batchSize: a.batch,
        patches: Boolean(a.patches),
        out,
        extraProvenance: { dataSpec: JSON.stringify(spec) },
      });
      process.stdout.write(
        `wrote ${out}: features [${f.features.shape.join(', ')}]${f.patches ? `, patches [${f.patches.shape.join(', ')}]` : ''} from ${ds.info.name} in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
      );
      f.features.dispose();
      f.patches?.dispose();
      return 0;
    } finally {
      ex.dispose?.();
      ds.dispose();
    }
  },
});
