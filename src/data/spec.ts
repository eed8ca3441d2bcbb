// A dataset described as data (for config files and run directories) and loaded from that description.
import { z } from 'zod';
import { parseWith } from '../util/json-file.js';
import type { ImageDataset } from './dataset.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { ALPHA_BACKGROUNDS, loadImageFolder } from './image-folder.js';
import { longTailIndices } from './long-tail.js';
import { withObjectAnnotations } from './object-annotations.js';
import { loadOrGenerateScenes, SceneOptions } from './scenes.js';
import { loadShards } from './load-shards.js';
import {
  ColourObjectOptions,
  ColourSceneOptions,
  loadOrGenerateColourObjects,
  loadOrGenerateColourScenes,
} from './colour-data.js';

/** Where generated datasets are kept and reused, and how many of their images to keep. */
const generated = { cache: z.string().default('runs/data'), limit: z.number().int().positive().optional() };

export const DataSpec = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('fashion-mnist'),
    dir: z.string().optional(),
    split: z.enum(['train', 'test']).default('train'),
    limit: z.number().int().positive().optional(),
    longTail: z.object({ rho: z.number().min(1), seed: z.number().int().default(0) }).optional(),
  }),
  SceneOptions.extend({ kind: z.literal('fashion-scenes'), ...generated }),
  /** Tux Paint's stamps, one per image on colour backgrounds, labelled by category (colour-data.ts) */
  ColourObjectOptions.extend({ kind: z.literal('colour-objects'), ...generated }),
  /** 64 px canvases of 1-4 stamps with hidden classes, boxes and masks (colour-data.ts) */
  ColourSceneOptions.extend({ kind: z.literal('colour-scenes'), ...generated }),
  z.object({
    kind: z.literal('folder'),
    path: z.string(),
    size: z.number().int().positive().default(32),
    channels: z.union([z.literal(1), z.literal(3)]).default(3),
    labelsFromFolders: z.boolean().default(false),
    /** what transparent pixels of RGBA images show */
    alphaBackground: z.enum(ALPHA_BACKGROUNDS).default('white'),
    /** an object-annotations file (boxes, classes, masks) for these images */
    annotations: z.string().optional(),
  }),
  z.object({
    kind: z.literal('shards'),
    /** a shard directory (selfguided data pack) */
    path: z.string(),
    /** keep only the first n samples */
    limit: z.number().int().positive().optional(),
    /** trainers stream the shards from disk instead of reading them into memory */
    stream: z.boolean().default(false),
    /** samples in a streamed epoch's shuffle buffer */
    shuffleBuffer: z.number().int().positive().optional(),
  }),
]);
export type DataSpec = z.infer<typeof DataSpec>;
export type DataSpecInput = z.input<typeof DataSpec>;

/** Loads the dataset a spec describes (defaults filled in and checked first). */
export async function loadDataset(input: DataSpecInput, log: (msg: string) => void = () => {}): Promise<ImageDataset> {
  const spec = parseWith(DataSpec, input, 'data spec');
  if (spec.kind === 'fashion-mnist') {
    let ds = loadFashionMnist({ split: spec.split, dir: spec.dir, limit: spec.limit });
    if (spec.longTail) {
      const idx = longTailIndices(ds.labels!, ds.numClasses!, { rho: spec.longTail.rho, seed: spec.longTail.seed });
      const lt = ds.subset(idx, `${ds.info.name}/long-tail-rho${spec.longTail.rho}`);
      ds.dispose();
      ds = lt;
    }
    return ds;
  }
  if (spec.kind === 'fashion-scenes') {
    const { kind: _kind, cache, limit, ...options } = spec;
    return firstImages(loadOrGenerateScenes(options, cache), limit);
  }
  if (spec.kind === 'colour-objects') {
    const { kind: _kind, cache, limit, ...options } = spec;
    return firstImages(await loadOrGenerateColourObjects(options, cache), limit);
  }
  if (spec.kind === 'colour-scenes') {
    const { kind: _kind, cache, limit, ...options } = spec;
    return firstImages(await loadOrGenerateColourScenes(options, cache), limit);
  }
  if (spec.kind === 'shards') {
    const ds = await loadShards(spec.path, { limit: spec.limit });
    log(`loaded ${ds.length} samples from the shards in ${spec.path}`);
    return ds;
  }
  const { dataset, report, files } = await loadImageFolder(spec.path, {
    size: spec.size,
    channels: spec.channels,
    labelsFromFolders: spec.labelsFromFolders,
    alphaBackground: spec.alphaBackground,
  });
  log(`loaded ${report.loaded} images from ${spec.path}; skipped ${report.skipped.length} unreadable`);
  for (const s of report.skipped.slice(0, 10)) log(`  skipped ${s.path}: ${s.reason}`);
  if (report.skipped.length > 10) log(`  ... and ${report.skipped.length - 10} more`);
  if (!spec.annotations) return dataset;
  const annotated = withObjectAnnotations(dataset, files, spec.annotations);
  dataset.dispose();
  return annotated;
}

/** The first `limit` images of a generated dataset (all of them without a limit). */
function firstImages(ds: ImageDataset, limit: number | undefined): ImageDataset {
  if (!limit || limit >= ds.length) return ds;
  const sub = ds.subset(
    Array.from({ length: limit }, (_, i) => i),
    `${ds.info.name}[:${limit}]`,
  );
  ds.dispose();
  return sub;
}
