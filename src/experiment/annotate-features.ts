// Self-annotating a features file (what `selfguided cluster` runs): self-labels by selfLabels(), the
// condition file, the size histogram, cluster quality against the labels when the dataset has them, a
// grid of real images per cluster, and a JSON report beside the condition file.
import { writeFileSync } from 'node:fs';
import { disposeAnnotations, saveAnnotations } from '../annotate/annotations.js';
import { saveClusterGrid } from '../annotate/cluster-grid.js';
import { selfLabels, type SelfLabelOptions } from '../annotate/self-labels.js';
import type { ImageDataset } from '../data/dataset.js';
import { DataSpec, loadDataset } from '../data/spec.js';
import { clusterQuality, clusterSizes } from '../eval/cluster-metrics.js';
import { loadFeatures } from '../features/features-file.js';
import { parseJsonWith } from '../util/json-file.js';

export interface AnnotateFeaturesOptions extends Omit<SelfLabelOptions, 'labels' | 'numClasses'> {
  /** the condition file (default: beside the features, named by k and kind) */
  out?: string;
  /** write the PNG of real images per cluster (default true) */
  grid?: boolean;
  log?: (msg: string) => void;
}

export interface AnnotateFeaturesResult {
  /** the condition file; its .json report and .png grid sit beside it */
  out: string;
  report: Record<string, unknown>;
  /** what happened, in lines for a person */
  lines: string[];
}

function reloadDataset(featuresPath: string, spec: string | undefined): Promise<ImageDataset> | null {
  if (!spec) return null;
  return loadDataset(parseJsonWith(DataSpec, spec, `${featuresPath} (its dataSpec)`));
}

/**
 * Self-labels (or another guidance signal) of a features file as a condition file for training. The
 * dataset the features came from is reloaded from their provenance for labels and images, when it can be.
 */
export async function annotateFeaturesFile(path: string, o: AnnotateFeaturesOptions): Promise<AnnotateFeaturesResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const kind = o.kind ?? 'onehot';
  const feats = loadFeatures(path);
  const dsPromise = reloadDataset(path, feats.provenance.dataSpec);
  const ds = dsPromise ? await dsPromise : null;
  try {
    if (ds && ds.length !== feats.features.shape[0])
      throw new Error(
        `features file ${path} has ${feats.features.shape[0]} rows but its dataset now has ${ds.length} images`,
      );
    const {
      annotations: ann,
      kmeans: km,
      scan,
    } = selfLabels(path, feats, {
      ...o,
      labels: ds?.labels ?? null,
      numClasses: ds?.numClasses ?? null,
    });
    const seconds = km?.seconds ?? scan?.seconds ?? 0;
    if (scan) {
      const h = scan.heads[scan.chosen]!;
      log(
        `SCAN: k=${o.k}, head ${scan.chosen} of ${scan.heads.length} chosen (loss ${h.loss.toFixed(4)}: consistency ${h.consistency.toFixed(4)}, entropy ${h.entropy.toFixed(4)}; others ${scan.heads
          .filter((_, i) => i !== scan.chosen)
          .map((x) => x.loss.toFixed(4))
          .join(
            ', ',
          )}), neighbours in the same cluster ${(100 * scan.neighbourAgreement).toFixed(1)}%, ${seconds.toFixed(1)} s`,
      );
    }
    if (km) {
      log(
        `k-means: k=${o.k} ${o.metric ?? 'cosine'}${o.balanced ? ' balanced' : ''}, ${km.iterations} iterations, inertia ${km.inertia.toFixed(2)}, ${km.reseeded} empty clusters re-seeded, ${seconds.toFixed(1)} s`,
      );
    }
    const out = o.out ?? path.replace(/\.safetensors$/, '') + `-k${ann.k ?? 'none'}-${kind}.safetensors`;
    saveAnnotations(out, ann);
    const report: Record<string, unknown> = {
      features: path,
      condition: kind,
      k: ann.k,
      seconds,
      inertia: km?.inertia,
      ...(scan ? { scan } : {}),
      out,
    };
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
      if (ds && (o.grid ?? true)) {
        const png = out.replace(/\.safetensors$/, '.png');
        await saveClusterGrid(png, ds, ann.assignments, ann.k, { seed: o.seed ?? 0 });
        lines.push(`cluster grid: ${png}`);
      }
    }
    writeFileSync(out.replace(/\.safetensors$/, '.json'), `${JSON.stringify(report, null, 2)}\n`);
    disposeAnnotations(ann);
    return { out, report, lines };
  } finally {
    feats.features.dispose();
    ds?.dispose();
  }
}
