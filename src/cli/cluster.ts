// selfguided cluster: the self-annotation f. k-means (optionally balanced) on a features file, then
// a condition file for `selfguided train --condition`, cluster quality against labels when the
// dataset has them, the size histogram and a grid of images per cluster.
import { writeFileSync } from 'node:fs';
import { DataSpec, loadDataset } from '../data/spec.js';
import type { ImageDataset } from '../data/dataset.js';
import { CONDITION_KINDS, saveAnnotations, type ConditionKind } from '../annotate/annotations.js';
import { saveClusterGrid } from '../annotate/cluster-grid.js';
import type { KMeansMetric } from '../annotate/kmeans.js';
import { selfLabels } from '../annotate/self-labels.js';
import { parseJsonWith } from '../util/json-file.js';
import { clusterQuality, clusterSizes } from '../eval/cluster-metrics.js';
import { loadFeatures } from '../features/features-file.js';
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

function reloadDataset(featuresPath: string, spec: string | undefined): Promise<ImageDataset> | null {
  if (!spec) return null;
  return loadDataset(parseJsonWith(DataSpec, spec, `${featuresPath} (its dataSpec)`));
}

export async function runCluster(a: ParsedArgs): Promise<number> {
  const path = required<string>(a, 'cluster', 'features');
  const kind = a.condition as ConditionKind;
  const k = a.k as number | undefined;
  if (k === undefined && kind !== 'ground-truth' && kind !== 'feature' && kind !== 'knn')
    throw new UsageError('cluster', '--k is required');
  if (k !== undefined && k < 1) throw new UsageError('cluster', `--k must be >= 1, got ${k}`);
  const feats = loadFeatures(path);
  const dsPromise = reloadDataset(path, feats.provenance.dataSpec);
  const ds = dsPromise ? await dsPromise : null;
  if (ds && ds.length !== feats.features.shape[0])
    throw new Error(
      `features file ${path} has ${feats.features.shape[0]} rows but its dataset now has ${ds.length} images`,
    );
  try {
    const { annotations: ann, kmeans: km } = selfLabels(path, feats, {
      kind,
      k,
      metric: a.metric as KMeansMetric,
      maxIter: a.iters as number,
      restarts: a.restarts as number,
      tol: a.tol as number,
      balanced: Boolean(a.balanced),
      seed: a.seed as number,
      knn: a.knn as number,
      labels: ds?.labels ?? null,
      numClasses: ds?.numClasses ?? null,
    });
    const seconds = km?.seconds ?? 0,
      inertia = km?.inertia;
    if (km) {
      process.stderr.write(
        `k-means: k=${k} ${a.metric}${a.balanced ? ' balanced' : ''}, ${km.iterations} iterations, inertia ${km.inertia.toFixed(2)}, ${km.reseeded} empty clusters re-seeded, ${seconds.toFixed(1)} s\n`,
      );
    }
    const out =
      (a.out as string | undefined) ?? path.replace(/\.safetensors$/, '') + `-k${ann.k ?? 'none'}-${kind}.safetensors`;
    saveAnnotations(out, ann);
    const report: Record<string, unknown> = { features: path, condition: kind, k: ann.k, seconds, inertia, out };
    const lines = [`wrote ${out}`];
    if (ann.assignments && ann.k !== null) {
      const sizes = clusterSizes(ann.assignments, ann.k);
      report.sizes = { min: sizes.min, max: sizes.max, empty: sizes.empty, all: sizes.sizes };
      lines.push(`cluster sizes: min ${sizes.min}, max ${sizes.max}, empty ${sizes.empty}\n${sizes.histogram}`);
      if (ds?.labels) {
        const q = clusterQuality(ann.assignments, ds.labels);
        report.quality = q;
        lines.push(
          `against ground-truth labels: NMI ${q.nmi.toFixed(4)}  ARI ${q.ari.toFixed(4)}  accuracy ${q.accuracy.toFixed(4)}  purity ${q.purity.toFixed(4)}`,
        );
      }
      if (ds && a.grid) {
        const png = out.replace(/\.safetensors$/, '.png');
        await saveClusterGrid(png, ds, ann.assignments, ann.k, { seed: a.seed as number });
        lines.push(`cluster grid: ${png}`);
      }
    }
    writeFileSync(out.replace(/\.safetensors$/, '.json'), `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(`${lines.join('\n')}\n`);
    ann.centroids?.dispose();
    ann.vectors?.dispose();
    return 0;
  } finally {
    feats.features.dispose();
    ds?.dispose();
  }
}
