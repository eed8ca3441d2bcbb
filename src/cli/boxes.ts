// selfguided boxes: flags for selfBoxesFile (src/experiment/self-boxes-file.ts): LOST self-boxes with
// box self-labels from a features file with patches, as a condition file for selfguided train.
import type { KMeansMetric } from '../annotate/kmeans.js';
import { selfBoxesFile } from '../experiment/self-boxes-file.js';
import { required, UsageError, type CommandSpec, type ParsedArgs } from './args.js';

export const boxesSpec: CommandSpec = {
  name: 'boxes',
  summary: 'self-boxes: LOST boxes from patch features, each with a k-means self-label (a condition file)',
  options: {
    features: { type: 'string', metavar: 'FILE', help: 'features file with patches (selfguided features --patches)' },
    k: { type: 'int', min: 1, default: 10, help: 'box self-label clusters' },
    objects: {
      type: 'string',
      default: 'main',
      choices: ['main', 'all'],
      help: "main: LOST's one box per image (the paper); all: every object found (union channel, n-hot labels)",
    },
    channel: {
      type: 'boolean',
      default: true,
      help: 'the box channel (--no-channel: image-level labels only; with --objects all the n-hot multi-object self-labels)',
    },
    'max-objects': { type: 'int', min: 1, default: 4, help: 'with --objects all: at most this many per image' },
    'lost-k': { type: 'int', min: 1, default: 100, help: "LOST's expansion set: the k lowest-degree patches" },
    normalize: {
      type: 'string',
      default: 'layernorm',
      choices: ['center', 'layernorm', 'none'],
      help: 'patch features before the dot products (none degenerates on ReLU maps)',
    },
    metric: { type: 'string', default: 'cosine', choices: ['cosine', 'euclidean'], help: 'k-means distance' },
    restarts: { type: 'int', min: 1, default: 3, help: 'k-means restarts' },
    seed: { type: 'int', default: 0, help: 'random seed' },
    out: { type: 'string', metavar: 'FILE', help: 'condition file (default: beside the features)' },
  },
  epilog: 'Prints CorLoc against the hidden boxes when the dataset has them (fashion-scenes).',
};

export async function runBoxes(a: ParsedArgs): Promise<number> {
  const path = required<string>(a, 'boxes', 'features');
  if ((a.k as number) < 1) throw new UsageError('boxes', `--k must be >= 1, got ${a.k}`);
  const r = await selfBoxesFile(path, {
    k: a.k as number,
    objects: a.objects as 'main' | 'all',
    channel: Boolean(a.channel),
    lost: {
      k: a['lost-k'] as number,
      normalize: a.normalize as 'center' | 'layernorm' | 'none',
      maxObjects: a['max-objects'] as number,
    },
    metric: a.metric as KMeansMetric,
    restarts: a.restarts as number,
    seed: a.seed as number,
    out: a.out as string | undefined,
  });
  process.stdout.write(`${r.lines.join('\n')}\n`);
  return 0;
}
