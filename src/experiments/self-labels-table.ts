// The self-labels table: k-means (or SCAN's clustering head) on each features file at several k, scored
// against Fashion-MNIST's labels (NMI, ARI, Hungarian accuracy, purity) with the clustering time. Prints
// markdown rows.
//   node --conditions=source --import tsx src/experiments/self-labels-table.ts --features name=path[,name=path...] [--ks 10,50,100] [--restarts 3]
//     [--method kmeans|scan] [--scan-epochs 120] [--scan-heads 5] [--scan-neighbours 20] [--scan-entropy-weight 5]
import { parseArgs } from 'node:util';
import { kmeans } from '../annotate/kmeans.js';
import { SCAN_DEFAULTS, scanCluster } from '../annotate/scan.js';
import { DataSpec, loadDataset } from '../data/spec.js';
import { clusterQuality } from '../eval/cluster-metrics.js';
import { loadFeatures } from '../features/features-file.js';
import { pathToFileURL } from 'node:url';

/** Runs the self-labels table with these command-line arguments. */
export async function main(args: string[]): Promise<void> {
  const { values: a } = parseArgs({
    args,
    options: {
      features: { type: 'string' },
      ks: { type: 'string', default: '10,50,100' },
      restarts: { type: 'string', default: '3' },
      seed: { type: 'string', default: '0' },
      metric: { type: 'string', default: 'cosine' },
      method: { type: 'string', default: 'kmeans' },
      'scan-epochs': { type: 'string', default: String(SCAN_DEFAULTS.epochs) },
      'scan-heads': { type: 'string', default: String(SCAN_DEFAULTS.heads) },
      'scan-neighbours': { type: 'string', default: String(SCAN_DEFAULTS.neighbours) },
      'scan-entropy-weight': { type: 'string', default: String(SCAN_DEFAULTS.entropyWeight) },
    },
  });
  if (!a.features) throw new Error('--features name=path[,name=path...] is required');
  const ks = a.ks!.split(',').map(Number);
  if (a.method !== 'kmeans' && a.method !== 'scan') throw new Error(`--method kmeans|scan, got ${a.method}`);
  console.log(
    `| features | k | NMI | ARI | accuracy | purity | ${a.method === 'scan' ? 'SCAN' : 'k-means'} time (s) |`,
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const entry of a.features.split(',')) {
    const cut = entry.lastIndexOf('=');
    const [name, path] = cut >= 0 ? [entry.slice(0, cut), entry.slice(cut + 1)] : [entry, entry];
    const f = loadFeatures(path);
    const ds = await loadDataset(DataSpec.parse(JSON.parse(f.provenance.dataSpec ?? '{"kind":"fashion-mnist"}')));
    if (!ds.labels) throw new Error(`${path}: its dataset has no labels`);
    for (const k of ks) {
      const t0 = performance.now();
      const r =
        a.method === 'scan'
          ? scanCluster(f.features, {
              k,
              seed: Number(a.seed),
              epochs: Number(a['scan-epochs']),
              heads: Number(a['scan-heads']),
              neighbours: Number(a['scan-neighbours']),
              entropyWeight: Number(a['scan-entropy-weight']),
            })
          : kmeans(f.features, { k, restarts: Number(a.restarts), seed: Number(a.seed), metric: a.metric as 'cosine' });
      const secs = (performance.now() - t0) / 1000;
      const q = clusterQuality(r.assignments, ds.labels);
      console.log(
        `| ${name} (${f.features.shape[1]}-d) | ${k} | ${q.nmi.toFixed(3)} | ${q.ari.toFixed(3)} | ${q.accuracy.toFixed(3)} | ${q.purity.toFixed(3)} | ${secs.toFixed(1)} |`,
      );
      for (const t of [r.centroids, 'head' in r ? r.head.weight : null, 'head' in r ? r.head.bias : null]) t?.dispose();
    }
    f.features.dispose();
    ds.dispose();
  }
}

// Run as a script (not when imported).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2));
