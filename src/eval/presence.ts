// The canvas judge's layout-free check of label-set guidance: for each sample, the classes its condition
// asked for against the classes the judge finds in it. Ground-truth class sets are asked for as they are;
// a self-label set (n-hot over k clusters) through the cluster-to-class matching the annotation view uses
// (Hungarian on co-occurrence with the training canvases' hidden class sets). Beside it, the same check on
// shuffled requests (chance) and on the real canvases the conditions came from (what the judge can see).
import type { ImageDataset } from '../data/dataset.js';
import type { ConditionSet } from '../diffusion/conditions.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { hostRng } from '../util/streams.js';
import { labelSetAgreement } from './annotation-view.js';
import type { EvalNet } from './evalnet.js';
import { datasetClassSets, evalnetOutputs } from './evalnet.js';
import { presenceCheck, type Presence } from './multi-label.js';

export interface PresenceMetrics {
  /** how the requested classes were read from the conditions */
  via: 'ground-truth classes' | 'self-labels matched to classes';
  samples: Presence;
  /** the same samples against requests shuffled across them: the chance level */
  shuffled: Presence;
  /** the real canvases of the same condition rows against their requests: the judge's ceiling */
  real: Presence;
}

/** Each row's id set from n-hot vectors [N, D]; null when the vectors are not all 0/1 (continuous guidance). */
function nHotSets(vectors: ArrayLike<number>, n: number, d: number): number[][] | null {
  const sets: number[][] = [];
  for (let i = 0; i < n; i++) {
    const s: number[] = [];
    for (let c = 0; c < d; c++) {
      const v = vectors[i * d + c]!;
      if (v !== 0 && v !== 1) return null;
      if (v === 1) s.push(c);
    }
    sets.push(s);
  }
  return sets;
}

/** The requested class set of every training row, or null when the conditions are not label sets. */
export function requestedClassSets(conditions: ConditionSet, ds: ImageDataset, numClasses: number): number[][] | null {
  if (!conditions.vectors || conditions.maps || conditions.segments || !ds.scene) return null;
  const [n, d] = conditions.vectors.shape as [number, number];
  const sets = nHotSets(conditions.vectors.toTypedArray() as Float32Array, n, d);
  if (!sets) return null;
  if (conditions.meta.kind === 'ground-truth') return d === numClasses ? sets : null;
  const truth = nHotSets(datasetClassSets(ds, numClasses), n, numClasses)!;
  const { matching } = labelSetAgreement(sets, truth, d, numClasses);
  return sets.map((s) => [...new Set(s.map((a) => matching[a]!).filter((c) => c >= 0))]);
}

const nHot = (sets: number[][], c: number) => {
  const out = new Uint8Array(sets.length * c);
  sets.forEach((s, i) => s.forEach((k) => (out[i * c + k] = 1)));
  return out;
};

const probabilities = (logits: Tensor) => torch.tidy(() => logits.sigmoid().toTypedArray() as Float32Array);

/**
 * The presence check of samples drawn for condition rows `rows`, judged by a multi-label evaluation network
 * from its logits on the samples (the ones evaluate() already has); null when the network is single-label
 * or the conditions are not class sets.
 */
export function presenceStage(
  net: EvalNet,
  conditions: ConditionSet,
  ds: ImageDataset,
  sampleLogits: Tensor,
  rows: Int32Array,
  seed: number,
): PresenceMetrics | null {
  if (!net.multiLabel) return null;
  const C = net.numClasses;
  const all = requestedClassSets(conditions, ds, C);
  if (!all) return null;
  const asked = Array.from(rows, (r) => all[r]!);
  const perm = hostRng(seed, 'consistency.shuffle').permutation(asked.length);
  const fake = probabilities(sampleLogits);
  const realImages = ds.images(rows);
  const realOut = evalnetOutputs(net, realImages);
  const real = probabilities(realOut.logits);
  for (const t of [realImages, realOut.features, realOut.logits]) t.dispose();
  return {
    via: conditions.meta.kind === 'ground-truth' ? 'ground-truth classes' : 'self-labels matched to classes',
    samples: presenceCheck(fake, nHot(asked, C), C),
    shuffled: presenceCheck(
      fake,
      nHot(
        Array.from(perm, (j) => asked[j]!),
        C,
      ),
      C,
    ),
    real: presenceCheck(real, nHot(asked, C), C),
  };
}
