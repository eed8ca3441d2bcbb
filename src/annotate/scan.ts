// SCAN's clustering step (Van Gansbeke et al. 2020) on fixed features: a softmax head trained so that
// every image and one of its nearest neighbours in g's feature space fall in the same cluster, while the
// clusters stay evenly used. It reads the neighbour graph, which k-means cannot: a class that is one
// connected but elongated region of feature space stays one cluster. Several heads train side by side
// from different initialisations and the one with the lowest loss over all images is kept, since
// neighbour consistency has poor local optima and the loss, unlike the labels, is there to read.
import * as torch from '../torch/index.js';
import { keep, type Tensor } from '../torch/index.js';
import { kaimingUniform_, uniform_ } from '../nn/init.js';
import { Adam } from '../optim/adam.js';
import { hostRng } from '../util/streams.js';
import { nearestNeighbours } from './neighbours.js';

export interface ScanOptions {
  k: number;
  /** heads trained side by side; the lowest full-data loss wins (SCAN's default is 10) */
  heads?: number;
  /** mined neighbours per image; each step pairs an image with one of them at random */
  neighbours?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** weight of the entropy of the mean prediction, which keeps every cluster in use */
  entropyWeight?: number;
  seed?: number;
  /** rows per block when mining neighbours and scoring the heads */
  blockSize?: number;
  onEpoch?: (info: { epoch: number; loss: number }) => void;
}

export interface ScanHeadScore {
  /** mean over images and their neighbours of -log(p_i . p_j) */
  consistency: number;
  /** entropy of the mean prediction (at most log k) */
  entropy: number;
  /** consistency - entropyWeight * entropy: what training minimises and the choice reads */
  loss: number;
}

export interface ScanResult {
  assignments: Int32Array;
  /** [k, D] unit-norm mean feature per cluster (as spherical k-means' centroids) */
  centroids: Tensor;
  /** the chosen head: assignments are argmax(weight [k, D] . unit feature + bias [k]) */
  head: { weight: Tensor; bias: Tensor };
  sizes: number[];
  heads: ScanHeadScore[];
  chosen: number;
  /** share of mined neighbour pairs that the chosen head puts in the same cluster */
  neighbourAgreement: number;
  seconds: number;
}

interface Defaults {
  heads: number;
  neighbours: number;
  epochs: number;
  batchSize: number;
  lr: number;
  entropyWeight: number;
}
/** Measured on Fashion-MNIST with the round-2 g (docs/self-labels.md, "A clustering head"). */
export const SCAN_DEFAULTS: Readonly<Defaults> = {
  heads: 5,
  neighbours: 20,
  epochs: 120,
  batchSize: 512,
  lr: 1e-2,
  entropyWeight: 5,
};

function positiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new RangeError(`SCAN: ${name} must be a positive integer, got ${v}`);
}

/** Per-head consistency and entropy of predictions for anchors and their neighbours: [H] each. */
function headTerms(logitsA: Tensor, logitsN: Tensor): { consistency: Tensor; meanP: Tensor } {
  const pa = logitsA.softmax(-1);
  const pn = logitsN.softmax(-1);
  // [B, H, k] -> [H]
  const consistency = pa.mul(pn).sum(-1).clampMin(1e-8).log().neg().mean(0);
  return { consistency, meanP: pa.mean(0) };
}

function entropy(p: Tensor): Tensor {
  return p.mul(p.clampMin(1e-8).log()).sum(-1).neg();
}

export function scanCluster(features: Tensor, o: ScanOptions): ScanResult {
  const t0 = performance.now();
  if (features.ndim !== 2) throw new RangeError(`SCAN expects features [N, D], got [${features.shape.join(', ')}]`);
  const [n, d] = features.shape as [number, number];
  const k = o.k;
  const heads = o.heads ?? SCAN_DEFAULTS.heads;
  const numNeighbours = o.neighbours ?? SCAN_DEFAULTS.neighbours;
  const epochs = o.epochs ?? SCAN_DEFAULTS.epochs;
  const batchSize = Math.min(o.batchSize ?? SCAN_DEFAULTS.batchSize, n);
  const w = o.entropyWeight ?? SCAN_DEFAULTS.entropyWeight;
  const seed = o.seed ?? 0;
  const blockSize = o.blockSize ?? 4096;
  positiveInt('k', k);
  positiveInt('heads', heads);
  positiveInt('neighbours', numNeighbours);
  positiveInt('epochs', epochs);
  positiveInt('batch size', batchSize);
  if (k > n) throw new RangeError(`SCAN: k = ${k} is larger than the number of points (${n})`);
  if (numNeighbours > n - 1) throw new RangeError(`SCAN: ${numNeighbours} neighbours asked of ${n} points`);
  if (!(w >= 0)) throw new RangeError(`SCAN: the entropy weight must be >= 0, got ${w}`);

  // The head is small and the steps are many: the CPU serves it, wherever the features live.
  const x = keep(
    torch.tidy(() => torch.normalize(features.to({ dtype: 'float32', device: 'cpu' }).contiguous(), 2, 1)),
  );
  const nbrs = torch.tidy(() => nearestNeighbours(x, numNeighbours, { blockSize }));
  const nbrIds = Int32Array.from(nbrs.toTypedArray() as BigInt64Array, Number);
  // All heads as one linear map [D -> H * k], initialised as PyTorch's nn.Linear.
  const g = torch.streamGenerator(seed, 'scan.heads');
  const weight = keep(torch.empty([heads * k, d]));
  const bias = keep(torch.empty([heads * k]));
  kaimingUniform_(weight, { a: Math.sqrt(5), generator: g });
  uniform_(bias, -1 / Math.sqrt(d), 1 / Math.sqrt(d), g);
  weight.requiresGrad_(true);
  bias.requiresGrad_(true);
  const logits = (rows: Tensor): Tensor => torch.linear(rows, weight, bias).reshape(-1, heads, k);
  const opt = new Adam([weight, bias], { lr: o.lr ?? SCAN_DEFAULTS.lr, weightDecay: 0 });

  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const rng = hostRng(seed, 'scan.pairs', epoch);
      const order = rng.permutation(n);
      let total = 0;
      let batches = 0;
      for (let s = 0; s < n; s += batchSize) {
        const anchors = order.subarray(s, Math.min(s + batchSize, n));
        const pairs = Int32Array.from(anchors, (i) => nbrIds[i * numNeighbours + rng.int(numNeighbours)]!);
        total += torch.tidy(() => {
          const t = headTerms(
            logits(x.indexSelect(0, torch.tensor(anchors).long())),
            logits(x.indexSelect(0, torch.tensor(pairs).long())),
          );
          const loss = t.consistency.sub(entropy(t.meanP).mul(w)).sum();
          opt.zeroGrad();
          loss.backward();
          opt.step();
          return loss.item() / heads;
        });
        batches++;
      }
      o.onEpoch?.({ epoch, loss: total / batches });
    }
    opt.zeroGrad();

    // Score every head on all images and all their neighbours.
    const scores = torch.noGrad(() =>
      torch.tidy(() => {
        const probs = logits(x).softmax(-1); // [N, H, k]
        let consistencySum = torch.zeros([heads]);
        for (let s = 0; s < n; s += blockSize) {
          const b = Math.min(blockSize, n - s);
          const pa = probs.narrow(0, s, b).unsqueeze(1); // [b, 1, H, k]
          const pn = probs.index([nbrs.narrow(0, s, b).flatten()]).reshape(b, numNeighbours, heads, k);
          consistencySum = consistencySum.add(pa.mul(pn).sum(-1).clampMin(1e-8).log().neg().sum([0, 1]));
        }
        const consistency = consistencySum.div(n * numNeighbours).toTypedArray() as Float32Array;
        const ent = entropy(probs.mean(0)).toTypedArray() as Float32Array;
        const headScores = [...consistency].map((c, h) => ({
          consistency: c,
          entropy: ent[h]!,
          loss: c - w * ent[h]!,
        }));
        let chosen = 0;
        for (let h = 1; h < heads; h++) if (headScores[h]!.loss < headScores[chosen]!.loss) chosen = h;
        const idx = probs.select(1, chosen).argmax(1);
        return { headScores, chosen, assignments: Int32Array.from(idx.toTypedArray() as BigInt64Array, Number) };
      }),
    );
    const { assignments, chosen } = scores;
    const sizes = new Array<number>(k).fill(0);
    for (const a of assignments) sizes[a]!++;
    let agree = 0;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < numNeighbours; j++)
        if (assignments[nbrIds[i * numNeighbours + j]!] === assignments[i]) agree++;
    const centroids = torch.tidy(() => {
      const idx = torch.tensor(assignments).long();
      const sums = torch.zeros([k, d]).indexAdd_(0, idx, x);
      return torch.normalize(sums, 2, 1);
    });
    const head = torch.noGrad(() => ({
      weight: weight
        .detach()
        .narrow(0, chosen * k, k)
        .clone(),
      bias: bias
        .detach()
        .narrow(0, chosen * k, k)
        .clone(),
    }));
    return {
      assignments,
      centroids,
      head,
      sizes,
      heads: scores.headScores,
      chosen,
      neighbourAgreement: agree / (n * numNeighbours),
      seconds: (performance.now() - t0) / 1000,
    };
  } finally {
    opt.dispose();
    x.dispose();
    nbrs.dispose();
    weight.dispose();
    bias.dispose();
  }
}
