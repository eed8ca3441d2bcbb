// The dataset flags shared by every command that reads images.
import type { DataSpecInput } from '../data/spec.js';
import { ALPHA_BACKGROUNDS } from '../data/image-folder.js';
import { totalmem } from 'node:os';
import { isShardDir, readShardIndex } from '../data/shards.js';
import { defineOptions, UsageError, type Options } from './args.js';

export const dataOptions = defineOptions({
  data: {
    type: 'string',
    default: 'fashion-mnist',
    metavar: 'fashion-mnist|fashion-scenes|colour-objects|colour-scenes|DIR',
    help: "the built-in Fashion-MNIST, its multi-object scenes, the colour objects and colour scenes made from Tux Paint's stamps (generated ones are made once and cached in runs/data), a folder of PNG/JPEG images, or a shard directory (selfguided data pack)",
  },
  'data-dir': {
    type: 'string',
    metavar: 'DIR',
    help: 'where the Fashion-MNIST IDX files are (default /usr/share/datasets/fashion-mnist)',
  },
  split: {
    type: 'string',
    default: 'train',
    choices: ['train', 'test'],
    help: 'the split of a built-in dataset (the test split of the colour data shows held-out stamps)',
  },
  'scene-background': {
    type: 'string',
    default: 'none',
    choices: ['none', 'noise', 'texture', 'clutter'],
    help: 'fashion-scenes: what lies under the items: black, dim grey noise or texture (a threshold still finds the items), or clutter over the whole grey range (it does not)',
  },
  limit: { type: 'int', min: 1, help: 'use only the first N images (Fashion-MNIST, scenes, a shard directory)' },
  'long-tail': {
    type: 'number',
    metavar: 'RHO',
    help: 'a long-tailed subset with imbalance ratio RHO (e.g. 100), seeded by --seed',
  },
  'image-size': {
    type: 'int',
    default: 32,
    help: "image folders: resize and centre-crop to this size; colour-objects: the images' side",
  },
  channels: { type: 'int', default: 3, help: 'image folders: 1 (grayscale) or 3 (RGB)' },
  'labels-from-folders': { type: 'boolean', help: 'image folders: ground-truth labels from subfolder names' },
  'alpha-background': {
    type: 'string',
    default: 'white',
    choices: ALPHA_BACKGROUNDS,
    help: 'image folders: what the transparent pixels of RGBA images show (composited, never stripped)',
  },
  annotations: {
    type: 'string',
    metavar: 'FILE',
    help: 'image folders: an object-annotations file (boxes, classes, masks), as selfguided data scenes writes',
  },
});

/** The flags of commands that can stream a shard directory instead of reading it into memory. */
export const streamOptions = defineOptions({
  stream: {
    type: 'boolean',
    help: "shard directories: stream from disk through a reader thread instead of reading into memory (default: stream when the decoded images would take more than a quarter of this machine's memory; --no-stream to read them whole)",
  },
  'shuffle-buffer': {
    type: 'int',
    min: 1,
    help: 'streamed shards: samples in the shuffle buffer (default 8192; the shards themselves are shuffled every epoch)',
  },
});

/** Whether a shard directory's decoded images would crowd this machine's memory (more than a quarter). */
export function tooBigForMemory(dir: string, limit?: number): boolean {
  const index = readShardIndex(dir);
  const n = Math.min(index.samples, limit ?? Infinity);
  return n * index.imageSize * index.imageSize * index.channels > totalmem() / 4;
}

/** The data flags as a command reads them (with the command's --seed, which seeds a long-tailed subset). */
export type DataArgs = Options<typeof dataOptions> & { seed?: number };

export function dataSpecFromArgs(cmd: string, a: DataArgs & Partial<Options<typeof streamOptions>>): DataSpecInput {
  const ch = a.channels;
  if (ch !== 1 && ch !== 3) throw new UsageError(cmd, `--channels must be 1 or 3, got ${ch}`);
  if (a.data === 'fashion-mnist') {
    return {
      kind: 'fashion-mnist',
      dir: a['data-dir'],
      split: a.split,
      limit: a.limit,
      longTail: a['long-tail'] !== undefined ? { rho: a['long-tail'], seed: a.seed ?? 0 } : undefined,
    };
  }
  if (a['long-tail'] !== undefined) throw new UsageError(cmd, '--long-tail applies to Fashion-MNIST only');
  if (a.data === 'fashion-scenes') {
    return {
      kind: 'fashion-scenes',
      dir: a['data-dir'],
      split: a.split,
      limit: a.limit,
      ...(a['scene-background'] !== 'none' ? { background: a['scene-background'] } : {}),
    };
  }
  if (a.data === 'colour-objects')
    return { kind: 'colour-objects', split: a.split, size: a['image-size'], limit: a.limit };
  if (a.data === 'colour-scenes') return { kind: 'colour-scenes', split: a.split, limit: a.limit };
  if (isShardDir(a.data)) {
    const stream = a.stream ?? tooBigForMemory(a.data, a.limit);
    return { kind: 'shards', path: a.data, limit: a.limit, stream, shuffleBuffer: a['shuffle-buffer'] };
  }
  if (a.stream || a['shuffle-buffer'] !== undefined)
    throw new UsageError(cmd, '--stream and --shuffle-buffer apply to shard directories (selfguided data pack)');
  return {
    kind: 'folder',
    path: a.data,
    size: a['image-size'],
    channels: ch,
    labelsFromFolders: Boolean(a['labels-from-folders']),
    alphaBackground: a['alpha-background'],
    annotations: a.annotations,
  };
}
