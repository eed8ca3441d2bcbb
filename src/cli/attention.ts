// selfguided attention: a ViT encoder's CLS attention maps over the first images of a dataset.
import { loadDataset } from '../data/spec.js';
import { saveAttentionMaps } from '../pipelines/vit-attention.js';
import { defineCommand } from './args.js';
import { dataOptions, dataSpecFromArgs } from './data-args.js';

export const command = defineCommand({
  name: 'attention',
  summary: "a ViT encoder's last-layer CLS attention, per head, over the first images (what g looks at)",
  options: {
    checkpoint: { required: true, type: 'string', metavar: 'PATH', help: 'a ViT encoder run or checkpoint (required)' },
    ...dataOptions,
    n: { type: 'int', min: 1, default: 8, help: 'images (one row each)' },
    scale: { type: 'int', min: 1, default: 3, help: 'pixel scale of the picture' },
    out: { required: true, type: 'string', metavar: 'FILE', help: 'the PNG to write (required)' },
  },
  async run(a) {
    const ds = await loadDataset(dataSpecFromArgs('attention', a));
    try {
      const heads = await saveAttentionMaps(a.checkpoint, ds, { n: a.n, out: a.out, scale: a.scale });
      process.stdout.write(`wrote ${a.out}: ${a.n} images, each with ${heads} heads' CLS attention and their mean\n`);
      return 0;
    } finally {
      ds.dispose();
    }
  },
});
