// The self-labels table: k-means on each features file at several k, scored against Fashion-MNIST's
// labels (NMI, ARI, Hungarian accuracy, purity) with the clustering time. Prints markdown rows.
//   node --import tsx experiments/self-labels.ts --features name=path[,name=path...] [--ks 10,50,100] [--restarts 3]
import { parseArgs } from 'node:util';
import { kmeans } from '../src/annotate/kmeans.js';
import { DataSpec, loadDataset } from '../src/data/spec.js';
import { clusterQuality } from '../src/eval/cluster-metrics.js';
import { loadFeatures } from '../src/features/features-file.js';

const { values: a } = parseArgs({
  options: {
    features: { type: 'string' },
    ks: { type: 'string', default: '10,50,100' },
    restarts: { type: 'string', default: '3' },
    seed: { type: 'string', default: '0' },
    metric: { type: 'string', default: 'cosine' },
  },
});
if (!a.features) throw new Error('--features name=path[,name=path...] is required');
const ks = a.ks!.split(',').map(Number);
console.log('| features | k | NMI | ARI | accuracy | purity | k-means time (s) |');
console.log('|---|---|---|---|---|---|---|');
for (const entry of a.features.split(',')) {
  const cut = entry.lastIndexOf('=');
  const [name, path] = cut >= 0 ? [entry.slice(0, cut), entry.slice(cut + 1)] : [entry, entry];
  const f = loadFeatures(path);
  const ds = await loadDataset(DataSpec.parse(JSON.parse(f.provenance.dataSpec ?? '{"kind":"fashion-mnist"}')));
  if (!ds.labels) throw new Error(`${path}: its dataset has no labels`);
  for (const k of ks) {
    const t0 = performance.now();
    const r = kmeans(f.features, {
      k,
      restarts: Number(a.restarts),
      seed: Number(a.seed),
      metric: a.metric as 'cosine',
    });
    const secs = (performance.now() - t0) / 1000;
    const q = clusterQuality(r.assignments, ds.labels);
    console.log(
      `| ${name} (${f.features.shape[1]}-d) | ${k} | ${q.nmi.toFixed(3)} | ${q.ari.toFixed(3)} | ${q.accuracy.toFixed(3)} | ${q.purity.toFixed(3)} | ${secs.toFixed(1)} |`,
    );
    r.centroids.dispose();
  }
  f.features.dispose();
  ds.dispose();
}
