// selfguided data scenes: writes the fashion-scenes dataset (multi-object canvases with hidden boxes,
// classes and masks) as scenes files, plain image folders with annotation files, and previews.
// selfguided data emoji: a colour image folder drawn from Debian's emoji list and colour emoji font.
// selfguided data pack: any dataset as WebDataset-style tar shards (docs/data.md).
import { writeEmojiFolder } from '../data/emoji.js';
import { packDataset } from '../data/pack.js';
import { writeScenes } from '../data/scenes.js';
import { defineCommand } from './args.js';
import { dataOptions, dataSpecFromArgs } from './data-args.js';

export const command = defineCommand({
  name: 'data',
  summary:
    'write a dataset to disk (fashion-scenes: multi-object canvases with hidden annotations; emoji: a colour folder; pack: any dataset as tar shards)',
  subcommands: ['scenes', 'emoji', 'pack'],
  usage:
    'selfguided data scenes --out DIR [options]     selfguided data emoji --out DIR [--size 32]\n       selfguided data pack --data fashion-mnist|fashion-scenes|DIR [--image-size N --channels 1|3] --out DIR [--shard-size 10000]',
  options: {
    ...dataOptions,
    out: { required: true, type: 'string', metavar: 'DIR', help: 'output directory' },
    'shard-size': { type: 'int', min: 1, default: 10000, help: 'pack: samples per shard' },
    'train-count': { type: 'int', default: 20000, help: 'training canvases (from training items)' },
    'test-count': { type: 'int', default: 2000, help: 'test canvases (from test items)' },
    size: {
      type: 'int',
      help: 'canvas size in pixels (scenes: 48 or 64, say; default 48); emoji: image side (default 32)',
    },
    limit: { type: 'int', min: 1, help: 'emoji: at most this many images; pack: only the first N images' },
    'min-items': { type: 'int', default: 1, help: 'fewest items per canvas' },
    'max-items': { type: 'int', default: 3, help: 'most items per canvas (1 for the one-object variant)' },
    'min-side': { type: 'int', default: 14, help: 'smallest longest side of an item, in pixels' },
    'max-side': { type: 'int', default: 26, help: 'largest longest side of an item, in pixels' },
    gap: { type: 'int', default: 2, help: 'free pixels between items' },
    background: {
      type: 'string',
      default: 'none',
      choices: ['none', 'noise', 'texture', 'clutter'],
      help: 'under the items (clutter: a texture over the whole grey range that no threshold separates)',
    },
    seed: { type: 'int', default: 0, help: 'seed of every canvas' },
    images: {
      type: 'boolean',
      default: true,
      help: 'also write PNG folders with annotation files (--no-images to skip)',
    },
  },
  epilog:
    'The annotations (boxes, classes, masks) are for evaluation and the ground-truth rows only; g and f never read them. ' +
    'emoji draws every fully-qualified emoji of unicode-data with fonts-noto-color-emoji (Debian packages) on black, ' +
    'one subfolder per Unicode group: train on it with --data DIR --channels 3, an evaluation network with --labels-from-folders.',
  async run(a, ctx) {
    const out = a.out;
    if (ctx.sub === 'pack') {
      const index = await packDataset(dataSpecFromArgs('data pack', a), { out, shardSize: a['shard-size'] });
      process.stdout.write(
        `packed ${index.samples} samples (${index.imageSize}x${index.imageSize}, ${index.channels} channel${index.channels === 1 ? '' : 's'}) into ${index.shards.length} shard${index.shards.length === 1 ? '' : 's'} in ${out}${index.skipped.length ? `; skipped ${index.skipped.length} unreadable file(s), listed in ${out}/index.json` : ''}\n`,
      );
      return 0;
    }
    if (ctx.sub === 'emoji') {
      const counts = await writeEmojiFolder({
        out,
        size: a.size ?? 32,
        limit: a.limit,
        log: (m) => process.stderr.write(`${m}\n`),
      });
      const total = Object.values(counts).reduce((x, y) => x + y, 0);
      process.stdout.write(
        `wrote ${total} emoji to ${out}: ${Object.entries(counts)
          .map(([g, n]) => `${g} ${n}`)
          .join(', ')}\n`,
      );
      return 0;
    }
    const written = await writeScenes(
      out,
      {
        trainCount: a['train-count'],
        testCount: a['test-count'],
        size: a.size ?? 48,
        minItems: a['min-items'],
        maxItems: a['max-items'],
        minSide: a['min-side'],
        maxSide: a['max-side'],
        gap: a.gap,
        background: a.background,
        seed: a.seed,
        dir: a['data-dir'],
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
  },
});
