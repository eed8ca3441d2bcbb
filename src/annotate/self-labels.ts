// The self-annotation pipeline of the paper's image-level guidance: features of g -> f (k-means, a SCAN
// clustering head, or the random/feature/ground-truth controls) -> a condition set with its provenance,
// so later stages (consistency, the report) can rebuild g and f from the file alone.
import type { Features } from '../features/features-file.js';
import { buildAnnotations, type Annotations, type ConditionKind } from './annotations.js';
import { kmeans, type KMeansMetric } from './kmeans.js';
import { SCAN_DEFAULTS, scanCluster, type ScanHeadScore, type ScanOptions } from './scan.js';

/** How cluster ids are found: k-means (the paper's f), or SCAN's neighbour-consistency head. */
export type ClusterMethod = 'kmeans' | 'scan';
export const CLUSTER_METHODS: readonly ClusterMethod[] = ['kmeans', 'scan'];
export type ScanSettings = Pick<ScanOptions, 'heads' | 'neighbours' | 'epochs' | 'batchSize' | 'lr' | 'entropyWeight'>;

export interface SelfLabelOptions {
  /** the guidance signal (default 'onehot': one-hot cluster ids, the paper's) */
  kind?: ConditionKind;
  /** number of clusters (needed by onehot, centroid and random) */
  k?: number;
  /** default 'kmeans' */
  method?: ClusterMethod;
  /** SCAN's settings, when method is 'scan' (defaults: SCAN_DEFAULTS) */
  scan?: ScanSettings;
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
  /** what SCAN reported, when it ran */
  scan: { heads: ScanHeadScore[]; chosen: number; neighbourAgreement: number; seconds: number } | null;
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
  const method = o.method ?? 'kmeans';
  if (!CLUSTER_METHODS.includes(method)) throw new RangeError(`unknown clustering method '${String(method)}'`);
  if (method === 'scan' && o.balanced)
    throw new RangeError("SCAN's entropy term already keeps clusters even; --balanced is for k-means only");
  if (method === 'scan' && metric !== 'cosine') throw new RangeError('SCAN mines neighbours by cosine similarity only');
  let clusters: { assignments: Int32Array; centroids: Annotations['centroids']; head?: Annotations['head'] } | null =
    null;
  let report: SelfLabels['kmeans'] = null;
  let scanReport: SelfLabels['scan'] = null;
  let description = '';
  if ((kind === 'onehot' || kind === 'centroid') && o.k !== undefined) {
    if (method === 'scan') {
      const sc = { ...SCAN_DEFAULTS, ...o.scan };
      const r = scanCluster(feats.features, { k: o.k, seed, ...sc });
      clusters = { assignments: r.assignments, centroids: r.centroids, head: r.head };
      scanReport = { heads: r.heads, chosen: r.chosen, neighbourAgreement: r.neighbourAgreement, seconds: r.seconds };
      description = `SCAN clustering head (${sc.neighbours} cosine neighbours, ${sc.heads} heads, ${sc.epochs} epochs, entropy weight ${sc.entropyWeight}, seed ${seed}; head ${r.chosen} chosen by loss)`;
    } else {
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
      description = `k-means (${metric}${o.balanced ? ', Sinkhorn-balanced' : ''}, ${restarts} restarts, seed ${seed})`;
    }
  }
  const methodText =
    kind === 'ground-truth'
      ? 'ground-truth labels'
      : kind === 'random'
        ? 'random ids'
        : clusters
          ? description
          : `the ${kind} itself`;
  const p = feats.provenance;
  const meta: Record<string, string> = {
    method: methodText,
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
      head: clusters?.head ?? null,
      k: o.k,
      labels: o.labels,
      numClasses: o.numClasses,
      knn: o.knn,
      seed,
    },
    meta,
  );
  return { annotations, kmeans: report, scan: scanReport };
}
