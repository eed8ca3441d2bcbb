// How well clusters match ground-truth classes: NMI, ARI, Hungarian-matched accuracy, purity, and
// the cluster size histogram. Host-side integer arithmetic over the contingency table.

/** counts[c][l]: images in cluster c with label l. */
export function contingency(
  clusters: ArrayLike<number>,
  labels: ArrayLike<number>,
): { table: number[][]; k: number; classes: number } {
  if (clusters.length !== labels.length)
    throw new RangeError(`${clusters.length} cluster ids for ${labels.length} labels`);
  let k = 0,
    classes = 0;
  for (let i = 0; i < clusters.length; i++) {
    if (clusters[i]! < 0 || labels[i]! < 0) throw new RangeError('cluster ids and labels must be non-negative');
    k = Math.max(k, clusters[i]! + 1);
    classes = Math.max(classes, labels[i]! + 1);
  }
  const table = Array.from({ length: k }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < clusters.length; i++) table[clusters[i]!]![labels[i]!]!++;
  return { table, k, classes };
}

function entropy(counts: number[], n: number): number {
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / n) * Math.log(c / n);
  return h;
}

/** Normalised mutual information with the arithmetic-mean normaliser (scikit-learn's default). */
export function nmi(clusters: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { table } = contingency(clusters, labels);
  const n = clusters.length;
  const rows = table.map((r) => r.reduce((a, b) => a + b, 0));
  const cols = table[0]!.map((_, j) => table.reduce((a, r) => a + r[j]!, 0));
  let mi = 0;
  table.forEach((r, i) =>
    r.forEach((c, j) => {
      if (c > 0) mi += (c / n) * Math.log((c * n) / (rows[i]! * cols[j]!));
    }),
  );
  const hu = entropy(rows, n),
    hv = entropy(cols, n);
  if (hu === 0 && hv === 0) return 1;
  const denom = (hu + hv) / 2;
  return denom === 0 ? 0 : Math.max(0, mi / denom);
}

const comb2 = (x: number) => (x * (x - 1)) / 2;

/** Adjusted Rand index. */
export function ari(clusters: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { table } = contingency(clusters, labels);
  const n = clusters.length;
  const rows = table.map((r) => r.reduce((a, b) => a + b, 0));
  const cols = table[0]!.map((_, j) => table.reduce((a, r) => a + r[j]!, 0));
  const index = table.reduce((a, r) => a + r.reduce((b, c) => b + comb2(c), 0), 0);
  const sumRows = rows.reduce((a, r) => a + comb2(r), 0);
  const sumCols = cols.reduce((a, c) => a + comb2(c), 0);
  const expected = (sumRows * sumCols) / comb2(n);
  const max = (sumRows + sumCols) / 2;
  if (max === expected) return 1;
  return (index - expected) / (max - expected);
}

/**
 * Minimum-cost assignment of rows to columns (Hungarian / Kuhn-Munkres with potentials, O(n^3)).
 * Rectangular matrices are padded; returns for each row its column, or -1 when unmatched.
 */
export function linearSumAssignment(cost: number[][]): number[] {
  const rows = cost.length,
    cols = cost[0]?.length ?? 0;
  const n = Math.max(rows, cols);
  const a = (i: number, j: number) => (i < rows && j < cols ? cost[i]![j]! : 0);
  const u = new Float64Array(n + 1),
    v = new Float64Array(n + 1);
  const p = new Int32Array(n + 1),
    way = new Int32Array(n + 1);
  for (let i = 1; i <= n; i++) {
    p[0] = i;
    let j0 = 0;
    const minv = new Float64Array(n + 1).fill(Infinity);
    const used = new Uint8Array(n + 1);
    do {
      used[j0] = 1;
      const i0 = p[j0]!;
      let delta = Infinity,
        j1 = 0;
      for (let j = 1; j <= n; j++) {
        if (used[j]) continue;
        const cur = a(i0 - 1, j - 1) - u[i0]! - v[j]!;
        if (cur < minv[j]!) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j]! < delta) {
          delta = minv[j]!;
          j1 = j;
        }
      }
      for (let j = 0; j <= n; j++) {
        if (used[j]) {
          u[p[j]!]! += delta;
          v[j]! -= delta;
        } else minv[j]! -= delta;
      }
      j0 = j1;
    } while (p[j0] !== 0);
    do {
      const j1 = way[j0]!;
      p[j0] = p[j1]!;
      j0 = j1;
    } while (j0);
  }
  const out = new Array<number>(rows).fill(-1);
  for (let j = 1; j <= n; j++) if (p[j]! - 1 < rows && j - 1 < cols) out[p[j]! - 1] = j - 1;
  return out;
}

/** Accuracy under the best one-to-one matching of clusters to classes (unmatched clusters count as wrong). */
export function hungarianAccuracy(clusters: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { table } = contingency(clusters, labels);
  const max = Math.max(...table.flat());
  const match = linearSumAssignment(table.map((r) => r.map((c) => max - c)));
  let correct = 0;
  match.forEach((j, i) => {
    if (j >= 0) correct += table[i]![j]!;
  });
  return correct / clusters.length;
}

/** Fraction of images whose cluster's majority class is their class (many-to-one matching). */
export function purity(clusters: ArrayLike<number>, labels: ArrayLike<number>): number {
  const { table } = contingency(clusters, labels);
  return table.reduce((a, r) => a + Math.max(...r), 0) / clusters.length;
}

export interface ClusterQuality {
  nmi: number;
  ari: number;
  accuracy: number;
  purity: number;
}

export function clusterQuality(clusters: ArrayLike<number>, labels: ArrayLike<number>): ClusterQuality {
  return {
    nmi: nmi(clusters, labels),
    ari: ari(clusters, labels),
    accuracy: hungarianAccuracy(clusters, labels),
    purity: purity(clusters, labels),
  };
}

/** Sizes of clusters 0..k-1, and a text histogram of how many clusters have how many members. */
export function clusterSizes(
  clusters: ArrayLike<number>,
  k: number,
): { sizes: number[]; min: number; max: number; empty: number; histogram: string } {
  const sizes = new Array<number>(k).fill(0);
  for (let i = 0; i < clusters.length; i++) sizes[clusters[i]!]!++;
  const min = Math.min(...sizes),
    max = Math.max(...sizes);
  const bins = 10;
  const width = Math.max(1, Math.ceil((max - min + 1) / bins));
  const counts = new Array<number>(bins).fill(0);
  for (const s of sizes) counts[Math.min(bins - 1, Math.floor((s - min) / width))]!++;
  const top = Math.max(...counts);
  const histogram = counts
    .map(
      (c, b) =>
        `${String(min + b * width).padStart(7)}-${String(min + (b + 1) * width - 1).padEnd(7)} ${'#'.repeat(Math.round((30 * c) / Math.max(1, top)))} ${c}`,
    )
    .join('\n');
  return { sizes, min, max, empty: sizes.filter((s) => s === 0).length, histogram };
}
