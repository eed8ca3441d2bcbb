// The self-annotation pipeline of the paper's image-level guidance: features of g -> f (k-means, or
// the random/feature/ground-truth controls) -> a condition set with its provenance, so later stages
// (consistency, the report) can rebuild g and f from the file alone.
import type { Features } from '../features/features-file.js';
import { buildAnnotations, type Annotations, type ConditionKind } from './annotations.js';
import { kmeans, type KMeansMetric } from './kmeans.js';

export interface SelfLabelOptions {
  /** the guidance signal (default 'onehot': one-hot cluster ids, the paper's) */
  kind?: ConditionKind;
  /** number of clusters (needed by onehot, centroid and random) */
  k?: number;
  metric?: KMeansMetric;
  restarts?: number;
  maxIter?: number;
  tol?: number;
  /** equal-size clusters by Sinkhorn-Knopp */
  balanced?: boolean;
  seed?: number;
  /** neighbours averaged by kind 'knn' */
  knn?: number;
  /** ground-truth labels, for kind 'ground-truth' */
  labels?: Int32Array | null;
  numClasses?: number | null;
}

export interface SelfLabels {
  annotations: Annotations;
  /** what k-means reported, when it ran */
  kmeans: { iterations: number; inertia: number; reseeded: number; seconds: number } | null;
}

/**
 * Self-labels of a features file: k-means (k-means++, restarts, cosine or Euclidean, optionally
 * balanced) over features [N, D], and the condition of `kind` built from the clusters, with the
 * provenance (method, metric, features file, extractor and its settings, dataset) in its metadata.
 */
export function selfLabels(featuresPath: string, feats: Features, o: SelfLabelOptions = {}): SelfLabels {
  const kind = o.kind ?? 'onehot';
  const metric = o.metric ?? 'cosine';
  const restarts = o.restarts ?? 3;
  const seed = o.seed ?? 0;
  let clusters: { assignments: Int32Array; centroids: Annotations['centroids'] } | null = null;
  let report: SelfLabels['kmeans'] = null;
  if ((kind === 'onehot' || kind === 'centroid') && o.k !== undefined) {
    const t0 = performance.now();
    const r = kmeans(feats.features, {
      k: o.k,
      metric,
      maxIter: o.maxIter,
      restarts,
      tol: o.tol,
      balanced: o.balanced,
      seed,
    });
    clusters = { assignments: r.assignments, centroids: r.centroids };
    report = {
      iterations: r.iterations,
      inertia: r.inertia,
      reseeded: r.reseeded,
      seconds: (performance.now() - t0) / 1000,
    };
  }
  const method =
    kind === 'ground-truth'
      ? 'ground-truth labels'
      : kind === 'random'
        ? 'random ids'
        : clusters
          ? `k-means (${metric}${o.balanced ? ', Sinkhorn-balanced' : ''}, ${restarts} restarts, seed ${seed})`
          : `the ${kind} itself`;
  const p = feats.provenance;
  const meta: Record<string, string> = {
    method,
    metric,
    features: featuresPath,
    extractor: p.extractor,
    extractorConfig: p.config,
    dataset: p.dataset,
    ...(p.dataSpec ? { dataSpec: p.dataSpec } : {}),
  };
  const annotations = buildAnnotations(
    {
      kind,
      features: feats.features,
      assignments: clusters?.assignments,
      centroids: clusters?.centroids ?? undefined,
      k: o.k,
      labels: o.labels,
      numClasses: o.numClasses,
      knn: o.knn,
      seed,
    },
    meta,
  );
  return { annotations, kmeans: report };
}
