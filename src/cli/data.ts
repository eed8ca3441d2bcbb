// selfguided data scenes: writes the fashion-scenes dataset (multi-object canvases with hidden boxes,
// classes and masks) as scenes files, plain image folders with annotation files, and previews.
import { writeScenes } from '../data/scenes.js';
import type { CommandSpec, ParsedArgs } from './args.js';
import { required } from './args.js';

export const dataSpec: CommandSpec = {
  name: 'data',
  summary: 'write a built-in dataset to disk (fashion-scenes: multi-object canvases with hidden annotations)',
  usage: 'selfguided data scenes --out DIR [options]',
  options: {
    out: { type: 'string', metavar: 'DIR', help: 'output directory' },
    'train-count': { type: 'int', default: 20000, help: 'training canvases (from training items)' },
    'test-count': { type: 'int', default: 2000, help: 'test canvases (from test items)' },
    size: { type: 'int', default: 48, help: 'canvas size in pixels (48 or 64, say)' },
    'min-items': { type: 'int', default: 1, help: 'fewest items per canvas' },
    'max-items': { type: 'int', default: 3, help: 'most items per canvas (1 for the one-object variant)' },
    'min-side': { type: 'int', default: 14, help: 'smallest longest side of an item, in pixels' },
    'max-side': { type: 'int', default: 26, help: 'largest longest side of an item, in pixels' },
    gap: { type: 'int', default: 2, help: 'free pixels between items' },
    background: { type: 'string', default: 'none', choices: ['none', 'noise', 'texture'], help: 'under the items' },
    seed: { type: 'int', default: 0, help: 'seed of every canvas' },
    'data-dir': { type: 'string', metavar: 'DIR', help: "Fashion-MNIST's IDX files" },
    images: {
      type: 'boolean',
      default: true,
      help: 'also write PNG folders with annotation files (--no-images to skip)',
    },
  },
  epilog:
    'The annotations (boxes, classes, masks) are for evaluation and the ground-truth rows only; g and f never read them.',
};

export async function runData(a: ParsedArgs): Promise<number> {
  const out = required<string>(a, 'data', 'out');
  const written = await writeScenes(
    out,
    {
      trainCount: a['train-count'] as number,
      testCount: a['test-count'] as number,
      size: a.size as number,
      minItems: a['min-items'] as number,
      maxItems: a['max-items'] as number,
      minSide: a['min-side'] as number,
      maxSide: a['max-side'] as number,
      gap: a.gap as number,
      background: a.background as 'none' | 'noise' | 'texture',
      seed: a.seed as number,
      dir: a['data-dir'] as string | undefined,
      images: Boolean(a.images),
    },
    (m) => process.stderr.write(`${m}\n`),
  );
  for (const w of written) {
    process.stdout.write(
      `${w.split}: ${w.count} canvases in ${w.file}${w.folder ? `; images in ${w.folder}/ with ${w.annotations}` : ''}; preview ${w.preview}\n`,
    );
  }
  return 0;
}
