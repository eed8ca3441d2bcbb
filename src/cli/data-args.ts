// The dataset flags shared by every command that reads images.
import type { DataSpec } from '../data/spec.js';
import { UsageError, type OptionSpec, type ParsedArgs } from './args.js';

export const dataOptions: Record<string, OptionSpec> = {
  data: {
    type: 'string',
    default: 'fashion-mnist',
    metavar: 'fashion-mnist|fashion-scenes|DIR',
    help: 'the built-in Fashion-MNIST, its multi-object scenes (generated once, cached in runs/data), or a folder of PNG/JPEG images',
  },
  'data-dir': {
    type: 'string',
    metavar: 'DIR',
    help: 'where the Fashion-MNIST IDX files are (default /usr/share/datasets/fashion-mnist)',
  },
  split: { type: 'string', default: 'train', choices: ['train', 'test'], help: 'Fashion-MNIST split' },
  limit: { type: 'int', help: 'use only the first N Fashion-MNIST images' },
  'long-tail': {
    type: 'number',
    metavar: 'RHO',
    help: 'a long-tailed subset with imbalance ratio RHO (e.g. 100), seeded by --seed',
  },
  'image-size': { type: 'int', default: 32, help: 'image folders: resize and centre-crop to this size' },
  channels: { type: 'int', default: 3, help: 'image folders: 1 (grayscale) or 3 (RGB)' },
  'labels-from-folders': { type: 'boolean', help: 'image folders: ground-truth labels from subfolder names' },
  annotations: {
    type: 'string',
    metavar: 'FILE',
    help: 'image folders: an object-annotations file (boxes, classes, masks), as selfguided data scenes writes',
  },
};

export function dataSpecFromArgs(cmd: string, a: ParsedArgs): DataSpec {
  const ch = a.channels as number;
  if (ch !== 1 && ch !== 3) throw new UsageError(cmd, `--channels must be 1 or 3, got ${ch}`);
  if (a.data === 'fashion-mnist') {
    return {
      kind: 'fashion-mnist',
      dir: a['data-dir'] as string | undefined,
      split: a.split as 'train' | 'test',
      limit: a.limit as number | undefined,
      longTail:
        a['long-tail'] !== undefined
          ? { rho: a['long-tail'] as number, seed: (a.seed as number | undefined) ?? 0 }
          : undefined,
    };
  }
  if (a['long-tail'] !== undefined) throw new UsageError(cmd, '--long-tail applies to Fashion-MNIST only');
  if (a.data === 'fashion-scenes') {
    return {
      kind: 'fashion-scenes',
      dir: a['data-dir'] as string | undefined,
      split: a.split as 'train' | 'test',
      limit: a.limit as number | undefined,
    } as DataSpec;
  }
  return {
    kind: 'folder',
    path: a.data as string,
    size: a['image-size'] as number,
    channels: ch,
    labelsFromFolders: Boolean(a['labels-from-folders']),
    annotations: a.annotations as string | undefined,
  };
}
