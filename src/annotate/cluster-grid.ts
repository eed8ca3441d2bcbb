// A picture of a clustering: one row per cluster with a few of its images, for a quick look.
import type { ImageDataset } from '../data/dataset.js';
import * as torch from '../torch/index.js';
import { saveGrid } from '../data/png.js';
import { hostRng } from '../util/streams.js';

/** Rows are the largest clusters first (order 'size') or clusters 0, 1, ... (order 'id'). */
export async function saveClusterGrid(
  path: string,
  ds: ImageDataset,
  assignments: Int32Array,
  k: number,
  o: { perCluster?: number; maxClusters?: number; seed?: number; order?: 'size' | 'id' } = {},
): Promise<void> {
  const per = o.perCluster ?? 8;
  const rows = Math.min(k, o.maxClusters ?? 20);
  const members: number[][] = Array.from({ length: k }, () => []);
  assignments.forEach((c, i) => members[c]!.push(i));
  // By default the largest clusters first: they say most about the partition.
  const ids = [...members.keys()];
  const order = (o.order === 'id' ? ids : ids.sort((a, b) => members[b]!.length - members[a]!.length)).slice(0, rows);
  const rng = hostRng(o.seed ?? 0, 'cluster-grid.examples');
  const picks: number[] = [];
  const blanks: number[] = [];
  for (const c of order) {
    const m = members[c]!;
    const perm = rng.permutation(m.length);
    for (let j = 0; j < per; j++) {
      if (j < m.length) picks.push(m[perm[j]!]!);
      else {
        blanks.push(picks.length);
        picks.push(-1);
      }
    }
  }
  const images = torch.tidy(() => {
    const valid = picks.map((p) => Math.max(p, 0));
    const x = ds.images(valid);
    if (!blanks.length) return x;
    const mask = torch.tensor(picks.map((p) => p < 0)).reshape(picks.length, 1, 1, 1);
    return torch.where(mask, 1, x);
  });
  await saveGrid(images, path, { nrow: per, scale: 2 });
  images.dispose();
}
