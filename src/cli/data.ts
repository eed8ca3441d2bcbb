// selfguided data scenes: writes the fashion-scenes dataset (multi-object canvases with hidden boxes,
// classes and masks) as scenes files, plain image folders with annotation files, and previews.
// selfguided data emoji: a colour image folder drawn from Debian's emoji list and colour emoji font.
// selfguided data colour-objects / colour-scenes: the colour datasets made from Tux Paint's stamps.
// selfguided data pack: any dataset as WebDataset-style tar shards (docs/data.md).
import { generateColourScenes, writeColourObjects } from '../data/colour-data.js';
import { writeEmojiFolder } from '../data/emoji.js';
import { packDataset } from '../data/pack.js';
import { writeSceneSplits, writeScenes, type WrittenScenes } from '../data/scenes.js';
import { defineCommand } from './args.js';
import { dataOptions, dataSpecFromArgs } from './data-args.js';

export const command = defineCommand({
  name: 'data',
  summary:
    "write a dataset to disk (scenes: fashion-scenes, multi-object canvases with hidden annotations; colour-objects and colour-scenes: their colour counterparts from Tux Paint's stamps; emoji: a colour folder; pack: any dataset as tar shards)",
  subcommands: ['scenes', 'colour-objects', 'colour-scenes', 'emoji', 'pack'],
  usage:
    'selfguided data scenes --out DIR [options]     selfguided data emoji --out DIR [--size 32]\n' +
    '       selfguided data colour-objects --out DIR [--size 32|64] [--views N]\n' +
    '       selfguided data colour-scenes --out DIR [--size 64] [--max-items 4] [--max-occlusion 0.4]\n' +
    '       selfguided data pack --data fashion-mnist|fashion-scenes|colour-objects|colour-scenes|DIR [--image-size N --channels 1|3] --out DIR [--shard-size 10000]',
  options: {
    ...dataOptions,
    out: { required: true, type: 'string', metavar: 'DIR', help: 'output directory' },
    'shard-size': { type: 'int', min: 1, default: 10000, help: 'pack: samples per shard' },
    'train-count': { type: 'int', default: 20000, help: 'training canvases (from training items)' },
    'test-count': { type: 'int', default: 2000, help: 'test canvases (from test items)' },
    size: {
      type: 'int',
      help: 'canvas size in pixels (scenes: 48 or 64, say; default 48; colour-scenes: default 64); emoji, colour-objects: image side (default 32)',
    },
    stamps: {
      type: 'string',
      metavar: 'DIR',
      help: "colour-objects, colour-scenes: the cut-outs (PNG/SVG with transparency, one subfolder per category of 30 or more; default Tux Paint's stamps, /usr/share/tuxpaint/stamps, without symbols)",
    },
    views: {
      type: 'int',
      min: 1,
      help: 'colour-objects: renderings of each stamp (default 8 for train, 4 for test)',
    },
    'max-occlusion': {
      type: 'number',
      help: 'colour-scenes: the largest fraction of an object that later ones may hide (default 0.4)',
    },
    limit: { type: 'int', min: 1, help: 'emoji: at most this many images; pack: only the first N images' },
    'min-items': { type: 'int', default: 1, help: 'fewest items per canvas' },
    'max-items': {
      type: 'int',
      help: 'most items per canvas (1 for the one-object variant; default 3, colour-scenes 4)',
    },
    'min-side': {
      type: 'int',
      help: 'smallest longest side of an item, in pixels (default 14; colour-scenes 20)',
    },
    'max-side': { type: 'int', help: 'largest longest side of an item, in pixels (default 26; colour-scenes 40)' },
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
    if (ctx.sub === 'colour-objects') {
      const written = await writeColourObjects(
        out,
        { size: a.size ?? 32, views: a.views, seed: a.seed, stamps: stampSource(a.stamps) },
        logLine,
      );
      for (const w of written)
        process.stdout.write(
          `${w.split}: ${w.count} images in ${w.folder}/ (${Object.entries(w.counts)
            .map(([c, n]) => `${c} ${n}`)
            .join(', ')}); preview ${w.preview}\n`,
        );
      return 0;
    }
    if (ctx.sub === 'colour-scenes') {
      const written = await writeSceneSplits(
        out,
        (split, count) =>
          generateColourScenes({
            split,
            count,
            size: a.size,
            minItems: a['min-items'],
            maxItems: a['max-items'],
            minSide: a['min-side'],
            maxSide: a['max-side'],
            maxOcclusion: a['max-occlusion'],
            seed: a.seed,
            stamps: stampSource(a.stamps),
          }),
        { trainCount: a['train-count'], testCount: a['test-count'], images: Boolean(a.images), log: logLine },
      );
      printScenes(written);
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
        maxItems: a['max-items'] ?? 3,
        minSide: a['min-side'] ?? 14,
        maxSide: a['max-side'] ?? 26,
        gap: a.gap,
        background: a.background,
        seed: a.seed,
        dir: a['data-dir'],
        images: Boolean(a.images),
      },
      logLine,
    );
    printScenes(written);
    return 0;
  },
});

/** A folder of the user's own is read whole: its folder names are its categories, none left out by name. */
const stampSource = (dir: string | undefined) => (dir ? { dir, exclude: [] } : {});

const logLine = (m: string) => process.stderr.write(`${m}\n`);

function printScenes(written: WrittenScenes[]): void {
  for (const w of written)
    process.stdout.write(
      `${w.split}: ${w.count} canvases in ${w.file}${w.folder ? `; images in ${w.folder}/ with ${w.annotations}` : ''}; preview ${w.preview}\n`,
    );
}
