// selfguided cluster: flags for annotateFeaturesFile (src/experiment/annotate-features.ts): k-means
// (optionally balanced) on a features file, a condition file for `selfguided train --condition`, cluster
// quality against labels when the dataset has them, the size histogram and a grid of images per cluster.
import { CONDITION_KINDS, type ConditionKind } from '../annotate/annotations.js';
import type { KMeansMetric } from '../annotate/kmeans.js';
import { annotateFeaturesFile } from '../experiment/annotate-features.js';
import { required, UsageError, type CommandSpec, type ParsedArgs } from './args.js';

export const clusterSpec: CommandSpec = {
  name: 'cluster',
  summary: 'cluster features into self-labels (k-means) and write a condition file for training',
  options: {
    features: { type: 'string', metavar: 'FILE', help: 'features file from selfguided features (required)' },
    k: { type: 'int', help: 'number of clusters (required unless --condition ground-truth)' },
    out: {
      type: 'string',
      metavar: 'FILE',
      help: 'condition file to write (default: <features>-k<K>-<condition>.safetensors)',
    },
    condition: {
      type: 'string',
      default: 'onehot',
      choices: CONDITION_KINDS,
      help: 'guidance signal: one-hot cluster id (the paper), centroid, the feature, kNN-averaged feature, ground-truth one-hot, random ids',
    },
    metric: {
      type: 'string',
      default: 'cosine',
      choices: ['cosine', 'euclidean'],
      help: 'spherical k-means on L2-normalised features, or Euclidean',
    },
    iters: { type: 'int', default: 30, help: 'Lloyd iterations at most' },
    restarts: { type: 'int', default: 3, help: 'independent runs; the lowest inertia wins' },
    tol: { type: 'number', default: 1e-4, help: 'stop when inertia improves by less than this fraction' },
    balanced: { type: 'boolean', help: 'balanced clusters by Sinkhorn-Knopp (equal sizes)' },
    knn: { type: 'int', default: 10, help: 'neighbours averaged for --condition knn' },
    seed: { type: 'int', default: 0, help: 'random seed' },
    grid: { type: 'boolean', default: true, help: 'write a PNG with images per cluster (--no-grid to skip)' },
  },
};

export async function runCluster(a: ParsedArgs): Promise<number> {
  const path = required<string>(a, 'cluster', 'features');
  const kind = a.condition as ConditionKind;
  const k = a.k as number | undefined;
  if (k === undefined && kind !== 'ground-truth' && kind !== 'feature' && kind !== 'knn')
    throw new UsageError('cluster', '--k is required');
  if (k !== undefined && k < 1) throw new UsageError('cluster', `--k must be >= 1, got ${k}`);
  const r = await annotateFeaturesFile(path, {
    kind,
    k,
    metric: a.metric as KMeansMetric,
    maxIter: a.iters as number,
    restarts: a.restarts as number,
    tol: a.tol as number,
    balanced: Boolean(a.balanced),
    seed: a.seed as number,
    knn: a.knn as number,
    out: a.out as string | undefined,
    grid: Boolean(a.grid),
  });
  process.stdout.write(`${r.lines.join('\n')}\n`);
  return 0;
}
