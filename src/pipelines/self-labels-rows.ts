// Self-labels of a features file too large for memory (what `selfguided cluster --fit-sample N` runs):
// k-means fitted on a seeded sample of rows read from the file, then every row assigned in blocks read
// from disk, written as the same one-hot condition file the in-memory path writes. Nothing holds all the
// features or the images: the labels a run is judged against come from the dataset's cheapest source (a
// pass over a shard directory's .cls entries, or the small built-in datasets).
import { writeFileSync } from 'node:fs';
import { buildAnnotations, disposeAnnotations, saveAnnotations } from '../annotate/annotations.js';
import { kmeansRows } from '../annotate/kmeans.js';
import type { SelfLabelOptions } from '../annotate/self-labels.js';
import { DataSpec, loadDataset } from '../data/spec.js';
import { StreamedDataset } from '../data/stream.js';
import { clusterQuality, clusterSizes } from '../eval/cluster-metrics.js';
import { openFeatureRows } from '../features/feature-rows.js';
import { parseJsonWith } from '../util/json-file.js';
import type { AnnotateFileResult } from './annotate-file.js';

export interface SelfLabelsRowsOptions extends Pick<
  SelfLabelOptions,
  'k' | 'metric' | 'restarts' | 'maxIter' | 'tol' | 'seed'
> {
  /** rows k-means is fitted on */
  fitSample: number;
  out?: string;
  log?: (msg: string) => void;
}

/** The dataset's labels without its images, or null when it has none or records no way to reload it. */
async function labelsOf(dataSpec: string | undefined, where: string): Promise<Int32Array | null> {
  if (!dataSpec) return null;
  const spec = parseJsonWith(DataSpec, dataSpec, `${where} (its dataSpec)`);
  if (spec.kind === 'shards')
    return (await StreamedDataset.open(spec.path, { limit: spec.limit, labels: true })).labels;
  const ds = await loadDataset(spec);
  try {
    return ds.labels;
  } finally {
    ds.dispose();
  }
}

export async function selfLabelsRows(path: string, o: SelfLabelsRowsOptions): Promise<AnnotateFileResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  if (o.k === undefined) throw new RangeError('k-means on a sample needs k');
  const metric = o.metric ?? 'cosine',
    restarts = o.restarts ?? 3,
    seed = o.seed ?? 0;
  const rows = openFeatureRows(path);
  const t0 = performance.now();
  try {
    const r = kmeansRows(rows, {
      k: o.k,
      metric,
      restarts,
      maxIter: o.maxIter,
      tol: o.tol,
      seed,
      fitSample: o.fitSample,
    });
    const seconds = (performance.now() - t0) / 1000;
    log(
      `k-means: k=${o.k} ${metric}, fitted on ${Math.min(o.fitSample, rows.rows)} of ${rows.rows} rows (${r.iterations} iterations, ${r.reseeded} empty clusters re-seeded), every row assigned: inertia ${r.inertia.toFixed(2)}, ${seconds.toFixed(1)} s`,
    );
    const p = rows.provenance;
    const annotations = buildAnnotations(
      { kind: 'onehot', assignments: r.assignments, centroids: r.centroids, k: o.k, seed },
      {
        method: `k-means (${metric}, ${restarts} restarts, seed ${seed}) fitted on a sample of ${o.fitSample} rows, every row assigned`,
        metric,
        features: path,
        extractor: p.extractor,
        extractorConfig: p.config,
        dataset: p.dataset,
        ...(p.dataSpec ? { dataSpec: p.dataSpec } : {}),
      },
    );
    try {
      const out = o.out ?? path.replace(/\.safetensors$/, '') + `-k${o.k}-onehot.safetensors`;
      saveAnnotations(out, annotations);
      const sizes = clusterSizes(r.assignments, o.k);
      const report: Record<string, unknown> = {
        features: path,
        out,
        seconds,
        condition: 'onehot',
        k: o.k,
        fitSample: o.fitSample,
        inertia: r.inertia,
        sizes: { min: sizes.min, max: sizes.max, empty: sizes.empty, all: sizes.sizes },
      };
      const lines = [
        `wrote ${out}`,
        `cluster sizes: min ${sizes.min}, max ${sizes.max}, empty ${sizes.empty}\n${sizes.histogram}`,
      ];
      const labels = await labelsOf(p.dataSpec, path);
      if (labels && labels.length === rows.rows && labels.every((l) => l >= 0)) {
        const q = clusterQuality(r.assignments, labels);
        report.quality = q;
        lines.push(
          `against ground-truth labels: NMI ${q.nmi.toFixed(4)}  ARI ${q.ari.toFixed(4)}  accuracy ${q.accuracy.toFixed(4)}  purity ${q.purity.toFixed(4)}`,
        );
      }
      lines.push('no cluster grid: with --fit-sample the images are not loaded');
      writeFileSync(out.replace(/\.safetensors$/, '.json'), `${JSON.stringify(report, null, 2)}\n`);
      return { out, report, lines };
    } finally {
      disposeAnnotations(annotations);
    }
  } finally {
    rows.close();
  }
}
