// k-means beyond memory: fitted on a seeded sample of rows, then every row of a features file on disk
// assigned a block at a time (kmeansRows over openFeatureRows).
//   Timing, on synthetic features (blobs around k centres) written to disk part by part:
//     npm run bench:kmeans-rows -- [--n 1280000] [--d 384] [--k 5000] [--fit-sample 100000] [--iters 20] [--restarts 1]
//   Agreement with full k-means on a features file both fit:
//     npm run bench:kmeans-rows -- --features FILE --k 10 --fit-sample 10000 [--restarts 3]
// Last line: kmeans-rows-bench: rows= k= fit_seconds= assign_seconds= seconds= peak_rss_mb= [full_seconds= nmi_vs_full= nmi_full_vs_full_seed=]
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { kmeans, kmeansRows } from '../src/annotate/kmeans.js';
import { DataSpec, loadDataset } from '../src/data/spec.js';
import { nmi } from '../src/eval/cluster-metrics.js';
import { openFeatureRows } from '../src/features/feature-rows.js';
import { joinFeatureParts } from '../src/features/features-file.js';
import * as torch from '../src/torch/index.js';
import { parseJsonWith } from '../src/util/json-file.js';

const { values: a } = parseArgs({
  options: {
    n: { type: 'string', default: '1280000' },
    d: { type: 'string', default: '384' },
    k: { type: 'string', default: '5000' },
    'fit-sample': { type: 'string', default: '100000' },
    iters: { type: 'string', default: '20' },
    restarts: { type: 'string', default: '1' },
    features: { type: 'string' },
    cache: { type: 'string', default: 'runs/bench-kmeans' },
    threads: { type: 'string', default: '2' },
  },
});
torch.setNumThreads(Number(a.threads));
const k = Number(a.k),
  fitSample = Number(a['fit-sample']);
const peakMb = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;

/** n x d float32 features around k centres, written in parts of 65,536 rows and joined on disk. */
function synthetic(n: number, d: number): string {
  const out = join(a.cache!, `synthetic-${n}x${d}-k${k}.safetensors`);
  try {
    const rows = openFeatureRows(out);
    rows.close();
    if (rows.rows === n) return out;
  } catch {
    // not there yet
  }
  const parts = join(a.cache!, 'parts');
  mkdirSync(parts, { recursive: true });
  const g = new torch.Generator(0);
  const centres = torch.randn([k, d], { generator: g });
  const files: string[] = [];
  for (let s = 0; s < n; s += 65536) {
    const m = Math.min(65536, n - s);
    const file = join(parts, `${String(s).padStart(9, '0')}.safetensors`);
    torch.tidy(() => {
      const ids = torch.randint(0, k, [m], { generator: g });
      const x = centres.indexSelect(0, ids).add(torch.randn([m, d], { generator: g }).mul(0.6));
      torch.safetensors.saveFile(file, { features: x.contiguous() });
    });
    files.push(file);
  }
  centres.dispose();
  joinFeatureParts(out, files, {
    extractor: 'synthetic',
    config: JSON.stringify({ n, d, k }),
    dataset: 'synthetic',
    datasetSize: n,
    preprocessing: '{}',
  });
  rmSync(parts, { recursive: true, force: true });
  return out;
}

const path = a.features ?? synthetic(Number(a.n), Number(a.d));
const rows = openFeatureRows(path);
console.log(`${path}: ${rows.rows} x ${rows.dim}, k = ${k}, fitted on ${Math.min(fitSample, rows.rows)} rows`);
const o = { k, maxIter: Number(a.iters), restarts: Number(a.restarts), seed: 0 };
let fitDone = 0;
const t0 = performance.now();
const r = kmeansRows(rows, {
  ...o,
  fitSample,
  onIteration: ({ iter, inertia }) => {
    fitDone = performance.now();
    if (iter % 5 === 0)
      console.log(`  iteration ${iter}: inertia ${inertia.toFixed(1)} (${((fitDone - t0) / 1000).toFixed(0)} s)`);
  },
});
const t1 = performance.now();
const fitSeconds = (fitDone - t0) / 1000,
  seconds = (t1 - t0) / 1000;
const empty = r.sizes.filter((s) => s === 0).length;
console.log(
  `fit ${fitSeconds.toFixed(1)} s (${r.iterations} iterations), assignment pass ${(seconds - fitSeconds).toFixed(1)} s; ${empty} empty clusters after assigning every row; peak RSS ${peakMb().toFixed(0)} MB`,
);
let extra = '';
if (a.features) {
  const all = rows.read(0, rows.rows);
  const t2 = performance.now();
  const full = kmeans(all, o);
  const fullSeconds = (performance.now() - t2) / 1000;
  const agreement = nmi(r.assignments, full.assignments);
  // How far full k-means moves with its own seed: the yardstick for the sample's disagreement.
  const other = kmeans(all, { ...o, seed: 1 });
  const seedNoise = nmi(other.assignments, full.assignments);
  console.log(
    `full k-means ${fullSeconds.toFixed(1)} s; NMI between the two partitions ${agreement.toFixed(4)}; full k-means seed 0 against seed 1 ${seedNoise.toFixed(4)}`,
  );
  const spec = rows.provenance.dataSpec;
  if (spec) {
    const ds = await loadDataset(parseJsonWith(DataSpec, spec, path));
    if (ds.labels)
      console.log(
        `NMI against the labels: sample-then-assign ${nmi(r.assignments, ds.labels).toFixed(4)}, full ${nmi(full.assignments, ds.labels).toFixed(4)}`,
      );
    ds.dispose();
  }
  extra = ` full_seconds=${fullSeconds.toFixed(1)} nmi_vs_full=${agreement.toFixed(4)} nmi_full_vs_full_seed=${seedNoise.toFixed(4)}`;
}
rows.close();
console.log(
  `kmeans-rows-bench: rows=${rows.rows} k=${k} fit_seconds=${fitSeconds.toFixed(1)} assign_seconds=${(seconds - fitSeconds).toFixed(1)} seconds=${seconds.toFixed(1)} peak_rss_mb=${peakMb().toFixed(0)}${extra}`,
);
