// selfguided baselines: what boxes and masks a user gets for free on a dataset with hidden annotations
// (the centre box, an Otsu threshold and its colour clusters), judged as boxes and masks judge f.
import { writeFileSync } from 'node:fs';
import { loadDataset } from '../data/spec.js';
import { annotationBaselines, baselineLines } from '../pipelines/annotation-baselines.js';
import { defineCommand } from './args.js';
import { dataOptions, dataSpecFromArgs } from './data-args.js';

export const command = defineCommand({
  name: 'baselines',
  summary: 'the free baselines a self-annotation must beat: centre box, Otsu threshold, colour clusters',
  options: {
    ...dataOptions,
    K: { type: 'int', min: 2, help: 'segments of the colour baseline, background included (default: classes + 1)' },
    seed: { type: 'int', default: 0, help: "seed of the colour baseline's k-means" },
    out: { type: 'string', metavar: 'FILE', help: 'also write the report as JSON' },
  },
  epilog: 'Needs hidden boxes and masks: fashion-scenes, or a folder with --annotations.',
  async run(a) {
    const ds = await loadDataset(dataSpecFromArgs('baselines', a));
    try {
      const r = annotationBaselines(ds, { K: a.K, seed: a.seed });
      process.stdout.write(`${baselineLines(r).join('\n')}\n`);
      if (a.out) writeFileSync(a.out, `${JSON.stringify(r, null, 2)}\n`);
      return 0;
    } finally {
      ds.dispose();
    }
  },
});
