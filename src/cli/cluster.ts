// selfguided cluster: flags for selfLabelsFile (src/pipelines/self-labels-file.ts): k-means
// (optionally balanced) or a SCAN clustering head on a features file, a condition file for `selfguided
// train --condition`, cluster quality against labels when the dataset has them, the size histogram and a
// grid of images per cluster.
import { CONDITION_KINDS } from '../annotate/annotations.js';
import { SCAN_DEFAULTS } from '../annotate/scan.js';
import { CLUSTER_METHODS } from '../annotate/self-labels.js';
import { statSync } from 'node:fs';
import { totalmem } from 'node:os';
import { selfLabelsFile } from '../pipelines/self-labels-file.js';
import { selfLabelsRows } from '../pipelines/self-labels-rows.js';
import { defineCommand, UsageError } from './args.js';
import { printAnnotation } from './annotation-args.js';

const AUTO_FIT_SAMPLE = 200_000;

export const command = defineCommand({
  name: 'cluster',
  summary: 'cluster features into self-labels (k-means or a SCAN head) and write a condition file for training',
  options: {
    features: {
      required: true,
      type: 'string',
      metavar: 'FILE',
      help: 'features file from selfguided features (required)',
    },
    k: { type: 'int', min: 1, help: 'number of clusters (required unless --condition ground-truth)' },
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
    method: {
      type: 'string',
      default: 'kmeans',
      choices: CLUSTER_METHODS,
      help: "k-means (the paper's f), or scan: a softmax head trained so that each image and its nearest neighbours share a cluster",
    },
    metric: {
      type: 'string',
      default: 'cosine',
      choices: ['cosine', 'euclidean'],
      help: 'spherical k-means on L2-normalised features, or Euclidean',
    },
    iters: { type: 'int', min: 1, default: 30, help: 'Lloyd iterations at most' },
    restarts: { type: 'int', min: 1, default: 3, help: 'independent runs; the lowest inertia wins' },
    tol: { type: 'number', default: 1e-4, help: 'stop when inertia improves by less than this fraction' },
    balanced: { type: 'boolean', help: 'balanced clusters by Sinkhorn-Knopp (equal sizes)' },
    'fit-sample': {
      type: 'int',
      min: 1,
      metavar: 'N',
      help: `k-means for features beyond memory: fit on a seeded sample of N rows read from the file, then assign every row a block at a time (one-hot only; default: ${AUTO_FIT_SAMPLE.toLocaleString('en')} when the file is larger than a quarter of this machine's memory)`,
    },
    'scan-neighbours': {
      type: 'int',
      default: SCAN_DEFAULTS.neighbours,
      help: 'scan: cosine neighbours mined per image',
    },
    'scan-heads': {
      type: 'int',
      default: SCAN_DEFAULTS.heads,
      help: 'scan: heads trained side by side; the lowest loss wins',
    },
    'scan-epochs': { type: 'int', min: 1, default: SCAN_DEFAULTS.epochs, help: 'scan: passes over the images' },
    'scan-entropy-weight': {
      type: 'number',
      default: SCAN_DEFAULTS.entropyWeight,
      help: 'scan: weight of the entropy term that keeps all clusters in use',
    },
    knn: { type: 'int', min: 1, default: 10, help: 'neighbours averaged for --condition knn' },
    seed: { type: 'int', default: 0, help: 'random seed' },
    grid: { type: 'boolean', default: true, help: 'write a PNG with images per cluster (--no-grid to skip)' },
  },
  async run(a) {
    const path = a.features;
    const kind = a.condition;
    const k = a.k;
    if (k === undefined && kind !== 'ground-truth' && kind !== 'feature' && kind !== 'knn')
      throw new UsageError('cluster', '--k is required');
    if (k !== undefined && k < 1) throw new UsageError('cluster', `--k must be >= 1, got ${k}`);
    const tooBig = (statSync(path, { throwIfNoEntry: false })?.size ?? 0) > totalmem() / 4;
    const fitSample = a['fit-sample'] ?? (tooBig ? AUTO_FIT_SAMPLE : undefined);
    if (fitSample !== undefined) {
      const why =
        tooBig && a['fit-sample'] === undefined ? ' (the features file is larger than a quarter of memory)' : '';
      if (kind !== 'onehot' || a.method !== 'kmeans' || a.balanced)
        throw new UsageError(
          'cluster',
          `k-means on a sample${why} makes one-hot k-means self-labels only (not --condition ${kind}, --method ${a.method}${a.balanced ? ', --balanced' : ''})`,
        );
      if (why) process.stderr.write(`fitting k-means on ${fitSample} rows${why}\n`);
      return printAnnotation(
        selfLabelsRows(path, {
          k,
          fitSample,
          metric: a.metric,
          maxIter: a.iters,
          restarts: a.restarts,
          tol: a.tol,
          seed: a.seed,
          out: a.out,
        }),
      );
    }
    return printAnnotation(
      selfLabelsFile(path, {
        kind,
        k,
        method: a.method,
        scan: {
          neighbours: a['scan-neighbours'],
          heads: a['scan-heads'],
          epochs: a['scan-epochs'],
          entropyWeight: a['scan-entropy-weight'],
        },
        metric: a.metric,
        maxIter: a.iters,
        restarts: a.restarts,
        tol: a.tol,
        balanced: Boolean(a.balanced),
        seed: a.seed,
        knn: a.knn,
        out: a.out,
        grid: Boolean(a.grid),
      }),
    );
  },
});
