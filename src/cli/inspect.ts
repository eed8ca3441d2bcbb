// selfguided inspect: a look at a condition file (writeAnnotationView, src/eval/annotation-view.ts): sizes of
// its self-labels, agreement with hidden labels, boxes or masks when the dataset has them, and pictures.
import { existsSync } from 'node:fs';
import type { ImageDataset } from '../data/dataset.js';
import { DataSpec, loadDataset } from '../data/spec.js';
import { writeAnnotationView, type AnnotationView } from '../eval/annotation-view.js';
import { readMetadata } from '../torch/safetensors.js';
import { parseJsonWith } from '../util/json-file.js';
import { defineCommand, defineOptions, type Options, UsageError } from './args.js';
import { dataOptions, dataSpecFromArgs } from './data-args.js';

async function datasetFor(a: Args, file: string, log: (m: string) => void): Promise<ImageDataset | null> {
  if (a['data-spec'] !== undefined && a.data !== undefined)
    throw new UsageError('inspect', 'give --data or --data-spec, not both');
  if (a['data-spec'] !== undefined) return loadDataset(parseJsonWith(DataSpec, a['data-spec'], '--data-spec'), log);
  if (a.data !== undefined) return loadDataset(dataSpecFromArgs('inspect', a), log);
  const spec = readMetadata(file).dataSpec;
  if (spec) return loadDataset(parseJsonWith(DataSpec, spec, `${file} (its dataSpec)`), log);
  log(`inspect: ${file} names no dataset; statistics only (give --data for pictures and agreement)`);
  return null;
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

export function viewLines(v: AnnotationView): string[] {
  const lines = [`${v.source.path}: ${v.kind}, ${v.images} images${v.dataset ? ` of ${v.dataset}` : ''}`];
  if (v.meta.method) lines.push(`  method: ${v.meta.method}`);
  if (v.ids)
    lines.push(
      `  ${v.ids.count} ids${v.ids.multiLabel ? ' (several per image)' : ''}; images per id: ${v.ids.sizes.join(' ')}`,
    );
  if (v.segments)
    lines.push(
      `  ${v.segments.count} segments (background ${v.segments.background}); pixel share: ${v.segments.share.map(pct).join(' ')}`,
    );
  if (v.boxes) lines.push(`  boxes cover ${pct(v.boxes.coverage)} of the canvas on average`);
  if (v.vectorDim) lines.push(`  continuous ${v.vectorDim}-d vectors`);
  const q = v.quality;
  if (q.labels)
    lines.push(
      `  against the hidden ${q.labelsOf === 'main object' ? 'class of the largest object' : 'labels'}: NMI ${q.labels.nmi.toFixed(4)}, accuracy ${q.labels.accuracy.toFixed(4)}, ARI ${q.labels.ari.toFixed(4)}`,
    );
  if (q.labelSets)
    lines.push(
      `  against the hidden classes present: exact set ${q.labelSets.exactSet.toFixed(4)}, Jaccard ${q.labelSets.jaccard.toFixed(4)}`,
    );
  if (q.masks)
    lines.push(
      `  against the hidden masks: mIoU ${q.masks.mIoU.toFixed(4)}, foreground IoU ${q.masks.foregroundIoU.toFixed(4)}, pixel accuracy ${q.masks.pixelAccuracy.toFixed(4)}`,
    );
  if (q.boxes) lines.push(`  against the hidden boxes: IoU of box areas ${q.boxes.iou.toFixed(4)}`);
  return lines;
}

const options = defineOptions({
  condition: {
    required: true,
    type: 'string',
    metavar: 'FILE',
    help: 'condition file (selfguided cluster/boxes/masks) (required)',
  },
  out: { type: 'string', metavar: 'DIR', help: 'where view.json and the pictures go (default: <file>-view/)' },
  ...dataOptions,
  data: {
    ...dataOptions.data!,
    default: undefined,
    help: `${dataOptions.data!.help} (default: the dataset the file's metadata names)`,
  },
  'data-spec': {
    type: 'string',
    metavar: 'JSON',
    help: "the dataset as JSON, as a run's config.json names it (instead of --data)",
  },
  'per-id': { type: 'int', min: 1, default: 12, help: 'images in each self-label picture' },
  seed: { type: 'int', default: 0, help: 'which images the pictures show' },
});
type Args = Options<typeof options>;

export const command = defineCommand({
  name: 'inspect',
  summary: 'look at a condition file: self-label sizes, agreement with hidden labels/boxes/masks, pictures per id',
  options,
  epilog:
    'Without a dataset (the file names none and none is given) only the statistics are written. `selfguided serve` shows the same view in the browser.',
  async run(a) {
    const file = a.condition;
    if (!existsSync(file)) throw new UsageError('inspect', `condition file not found: ${file}`);
    const perId = a['per-id'];
    if (perId < 1 || perId > 64) throw new UsageError('inspect', `--per-id must be in [1, 64], got ${perId}`);
    const out = a.out ?? `${file.replace(/\.safetensors$/, '')}-view`;
    const log = (m: string) => process.stderr.write(`${m}\n`);
    const ds = await datasetFor(a, file, log);
    try {
      const v = await writeAnnotationView(file, ds, out, { perId, seed: a.seed });
      process.stdout.write(
        `${[...viewLines(v), `wrote ${out}/view.json and ${v.pictures.length} pictures`].join('\n')}\n`,
      );
    } finally {
      ds?.dispose();
    }
    return 0;
  },
});
