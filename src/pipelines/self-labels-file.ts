// Self-labels of a features file (what `selfguided cluster` runs): selfLabels() (k-means, SCAN, the
// feature or k-NN vectors, or the dataset's labels), the cluster sizes, cluster quality against the labels
// when the dataset has them, and a grid of real images per cluster, through annotateFile's skeleton.
import { saveClusterGrid } from '../annotate/cluster-grid.js';
import { selfLabels, type SelfLabelOptions } from '../annotate/self-labels.js';
import { clusterQuality, clusterSizes } from '../eval/cluster-metrics.js';
import {
  annotateFile,
  type AnnotateFileOptions,
  type AnnotateFileResult,
  type AnnotationMethod,
} from './annotate-file.js';

export interface SelfLabelsFileOptions extends Omit<SelfLabelOptions, 'labels' | 'numClasses'>, AnnotateFileOptions {
  /** write the PNG of real images per cluster (default true) */
  grid?: boolean;
}

type SelfLabelRun = Pick<ReturnType<typeof selfLabels>, 'kmeans' | 'scan'>;

function selfLabelsMethod(o: SelfLabelsFileOptions): AnnotationMethod<SelfLabelRun> {
  const kind = o.kind ?? 'onehot';
  return {
    patches: false,
    annotate({ path, feats, ds, log }) {
      const r = selfLabels(path, feats, { ...o, labels: ds?.labels ?? null, numClasses: ds?.numClasses ?? null });
      const { annotations: ann, kmeans: km, scan } = r;
      const seconds = km?.seconds ?? scan?.seconds ?? 0;
      if (scan) {
        const h = scan.heads[scan.chosen]!;
        const others = scan.heads.filter((_, i) => i !== scan.chosen).map((x) => x.loss.toFixed(4));
        log(
          `SCAN: k=${o.k}, head ${scan.chosen} of ${scan.heads.length} chosen (loss ${h.loss.toFixed(4)}: consistency ${h.consistency.toFixed(4)}, entropy ${h.entropy.toFixed(4)}; others ${others.join(', ')}), neighbours in the same cluster ${(100 * scan.neighbourAgreement).toFixed(1)}%, ${seconds.toFixed(1)} s`,
        );
      }
      if (km)
        log(
          `k-means: k=${o.k} ${o.metric ?? 'cosine'}${o.balanced ? ' balanced' : ''}, ${km.iterations} iterations, inertia ${km.inertia.toFixed(2)}, ${km.reseeded} empty clusters re-seeded, ${seconds.toFixed(1)} s`,
        );
      const report: Record<string, unknown> = {
        condition: kind,
        k: ann.k,
        seconds,
        inertia: km?.inertia,
        ...(scan ? { scan } : {}),
      };
      const lines: string[] = [];
      if (ann.assignments && ann.k !== null) {
        const sizes = clusterSizes(ann.assignments, ann.k);
        report.sizes = { min: sizes.min, max: sizes.max, empty: sizes.empty, all: sizes.sizes };
        lines.push(`cluster sizes: min ${sizes.min}, max ${sizes.max}, empty ${sizes.empty}\n${sizes.histogram}`);
      }
      return { annotations: ann, result: { kmeans: km, scan }, report, lines };
    },
    defaultOut: (path, a) => path.replace(/\.safetensors$/, '') + `-k${a.annotations.k ?? 'none'}-${kind}.safetensors`,
    judge(ds, { annotations: ann }) {
      if (!ann.assignments || !ds.labels) return null;
      const q = clusterQuality(ann.assignments, ds.labels);
      return {
        report: { quality: q },
        line: `against ground-truth labels: NMI ${q.nmi.toFixed(4)}  ARI ${q.ari.toFixed(4)}  accuracy ${q.accuracy.toFixed(4)}  purity ${q.purity.toFixed(4)}`,
      };
    },
    async picture(ds, { annotations: ann }, png) {
      if (!ann.assignments || ann.k === null || o.grid === false) return null;
      await saveClusterGrid(png, ds, ann.assignments, ann.k, { seed: o.seed ?? 0 });
      return `cluster grid: ${png}`;
    },
  };
}

/**
 * Self-labels (or another guidance signal) of a features file as a condition file for training. The
 * dataset the features came from is reloaded from their provenance for labels and images, when it can be.
 */
export function selfLabelsFile(path: string, o: SelfLabelsFileOptions): Promise<AnnotateFileResult> {
  return annotateFile(path, selfLabelsMethod(o), o);
}
