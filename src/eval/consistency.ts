// Do generated images follow their condition? For ground-truth-label guidance, the evaluation network
// classifies each sample and we count agreement with the label it was generated for. For self-label
// guidance, the same g embeds each sample and the same f (nearest centroid of the clustering that made
// the self-labels) assigns it; we count samples assigned back to their cluster. For continuous-feature
// guidance, the cosine between g(sample) and its condition vector. Each comes with its chance level:
// agreement expected if predictions were independent of conditions (sum over ids of p_cond * p_pred),
// or the cosine against a shuffled condition.
import { loadFeatures } from '../features/features-file.js';
import { embedImages } from '../features/extract.js';
import { assignNearest, type KMeansMetric } from '../annotate/kmeans.js';
import type { ConditionSet } from '../diffusion/conditions.js';
import * as torch from '../torch/index.js';
import { keep, type Tensor } from '../torch/index.js';
import { hostRng } from '../util/streams.js';
import { evalnetOutputs, type EvalNet } from './evalnet.js';
import { extractorFromProvenance } from './rebuild-extractor.js';

export interface Agreement {
  /** fraction of samples whose predicted id equals the id they were generated for */
  rate: number;
  /** the rate expected if predictions were independent of the conditions */
  chance: number;
  /** per conditioned id: how many samples and their agreement */
  perId: { id: number; n: number; rate: number }[];
}

export function agreement(targets: Int32Array, predicted: Int32Array, k: number): Agreement {
  if (targets.length !== predicted.length)
    throw new RangeError(`${targets.length} targets but ${predicted.length} predictions`);
  const n = targets.length;
  if (n === 0) throw new RangeError('agreement of an empty set');
  const count = new Float64Array(k),
    hit = new Float64Array(k),
    pred = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const t = targets[i]!,
      p = predicted[i]!;
    if (t < 0 || t >= k || p < 0 || p >= k) throw new RangeError(`id outside [0, ${k}): target ${t}, prediction ${p}`);
    count[t]!++;
    pred[p]!++;
    if (t === p) hit[t]!++;
  }
  let hits = 0,
    chance = 0;
  const perId: Agreement['perId'] = [];
  for (let c = 0; c < k; c++) {
    hits += hit[c]!;
    chance += (count[c]! / n) * (pred[c]! / n);
    if (count[c]! > 0) perId.push({ id: c, n: count[c]!, rate: hit[c]! / count[c]! });
  }
  return { rate: hits / n, chance, perId };
}

/** The Inception-Score analogue exp(E_x KL(p(y|x) || p(y))) from classifier logits [N, K]. */
export function inceptionScore(logits: Tensor): number {
  return torch.tidy(() => {
    const logp = torch.logSoftmax(logits.double(), 1);
    const logMarginal = logp.exp().mean(0).log();
    return Math.exp(
      logp
        .exp()
        .mul(logp.sub(logMarginal.unsqueeze(0)))
        .sum(1)
        .mean()
        .item(),
    );
  });
}

/**
 * Mean over samples of the evaluation network's largest class probability: a fidelity measure (how
 * recognisable samples are) that, unlike k-NN precision, does not depend on a neighbourhood radius.
 */
export function meanMaxSoftmax(logits: Tensor): number {
  return torch.tidy(() => torch.softmax(logits.double(), 1).max(1).values.mean().item());
}

/** A multi-label judge's confidence: the mean over samples and classes of max(p, 1 - p) = 1/2 + |p - 1/2|, p a class's sigmoid. */
export function multiLabelConfidence(logits: Tensor): number {
  return torch.tidy(() => {
    const p = logits.sigmoid();
    return p.sub(0.5).abs().add(0.5).mean().item();
  });
}

export interface Consistency {
  kind: 'evalnet-label' | 'self-label' | 'feature-cosine';
  /** agreement rate (label kinds) or mean cosine (feature kind) */
  value: number;
  chance: number;
  k: number | null;
  perId?: Agreement['perId'];
  /** how it was measured, in words */
  method: string;
}

/** Scores samples against the conditions they were generated from (rows index the training set). */
export interface ConsistencyJudge {
  readonly kind: Consistency['kind'];
  score(samples: Tensor, rows: Int32Array): Consistency;
  dispose(): void;
}

function classify(net: EvalNet, images: Tensor): Int32Array {
  return torch.tidy(() =>
    Int32Array.from(evalnetOutputs(net, images).logits.argmax(1).toTypedArray() as BigInt64Array, Number),
  );
}

function fromAgreement(kind: Consistency['kind'], a: Agreement, k: number, method: string): Consistency {
  return { kind, value: a.rate, chance: a.chance, k, perId: a.perId, method };
}

function idsOf(c: ConditionSet, rows: Int32Array): Int32Array {
  return Int32Array.from(rows, (r) => c.ids![r]!);
}

/** The evaluation network as judge of label-guided samples. */
export function labelJudge(c: ConditionSet, net: EvalNet): ConsistencyJudge {
  if (!c.ids || c.numIds === null) throw new Error('label consistency needs conditions with ids');
  if (net.numClasses !== c.numIds)
    throw new Error(`the evaluation network has ${net.numClasses} classes but the conditions have ${c.numIds}`);
  return {
    kind: 'evalnet-label',
    score: (samples, rows) =>
      fromAgreement(
        'evalnet-label',
        agreement(idsOf(c, rows), classify(net, samples), c.numIds!),
        c.numIds!,
        'evaluation network accuracy on samples w.r.t. the label they were generated for',
      ),
    dispose: () => {},
  };
}

/**
 * g and f of a self-label condition file, rebuilt from its metadata, as judge of its samples. `seed`
 * draws the shuffled conditions of a continuous feature's chance level.
 */
export async function selfLabelJudge(c: ConditionSet, seed = 0): Promise<ConsistencyJudge | null> {
  const featuresPath = c.meta.features;
  if (!featuresPath || !c.vectors) return null;
  const { tensors } = torch.safetensors.loadFile(c.source);
  const centroids = tensors.get('centroids') ?? null;
  const headW = tensors.get('head.weight') ?? null;
  const headB = tensors.get('head.bias') ?? null;
  const kept = new Set([centroids, headW, headB]);
  for (const t of tensors.values()) if (!kept.has(t)) t.dispose();
  const feats = loadFeatures(featuresPath);
  feats.features.dispose();
  const g = await extractorFromProvenance(feats.provenance);
  const metric: KMeansMetric =
    (c.meta.metric as KMeansMetric | undefined) ?? (/euclidean/.test(c.meta.method ?? '') ? 'euclidean' : 'cosine');
  const where = `${feats.provenance.extractor} features of ${featuresPath}`;
  if (c.ids && c.numIds !== null && (centroids || (headW && headB))) {
    // A learned head (SCAN) assigns as it did in training; k-means' f is the nearest centroid.
    const head = headW && headB ? { weight: keep(headW), bias: keep(headB) } : null;
    const cent = head ? null : keep(centroids!);
    if (head) centroids?.dispose();
    const fName = head
      ? `the ${c.numIds}-way clustering head of the condition file`
      : `nearest of the ${c.numIds} ${metric} centroids`;
    return {
      kind: 'self-label',
      score: (samples, rows) => {
        const pred = torch.tidy(() => {
          const f = embedImages(g, samples);
          const x = metric === 'cosine' || head ? torch.normalize(f, 2, 1) : f;
          const idx = head ? torch.linear(x, head.weight, head.bias).argmax(1) : assignNearest(x, cent!, metric).idx;
          return Int32Array.from(idx.toTypedArray() as BigInt64Array, Number);
        });
        return fromAgreement(
          'self-label',
          agreement(idsOf(c, rows), pred, c.numIds!),
          c.numIds!,
          `samples assigned back by g (${where}) and f (${fName})`,
        );
      },
      dispose: () => {
        for (const t of [cent, head?.weight, head?.bias]) t?.dispose();
        g.dispose?.();
      },
    };
  }
  for (const t of [centroids, headW, headB]) t?.dispose();
  if (c.ids) {
    g.dispose?.();
    return null;
  }
  // Continuous conditions: the cosine of g(sample) with its own condition vector against a shuffled one.
  const vectors = c.vectors;
  return {
    kind: 'feature-cosine',
    score: (samples, rows) =>
      torch.tidy(() => {
        const f = torch.normalize(embedImages(g, samples), 2, 1);
        const cond = torch.normalize(vectors.indexSelect(0, torch.tensor(rows).long()), 2, 1);
        if (cond.shape[1] !== f.shape[1])
          throw new Error(`g gives ${f.shape[1]}-d features but the conditions are ${cond.shape[1]}-d`);
        const perm = hostRng(seed, 'consistency.shuffle').permutation(rows.length);
        const value = f.mul(cond).sum(1).mean().item();
        const chance = f
          .mul(cond.indexSelect(0, torch.tensor(perm).long()))
          .sum(1)
          .mean()
          .item();
        return {
          kind: 'feature-cosine' as const,
          value,
          chance,
          k: null,
          method: `mean cosine of g(sample) (${where}) with its condition vector; chance: with a shuffled condition`,
        };
      }),
    dispose: () => g.dispose?.(),
  };
}
