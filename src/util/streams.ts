// Every random stream of the project in one table, named for what it draws. A stream's key mixes the
// user's seed, the stream's name and a position (an epoch, a k-means restart, a canvas index) through
// SplitMix64's finaliser, so two names, two seeds or two positions give unrelated keys: seed 1 of one
// stream is not seed 0 of another (as it was when a stream was the seed plus a small id). One seed drives
// them all; renaming a stream changes what a seed gives. Host streams seed Rng (xoshiro128**); torch
// streams seed a libtorch generator (torch.streamGenerator: mt19937 on the CPU keeps the key's low 32
// bits, Philox on CUDA all 64).
import { Rng } from './rng.js';

/** Host-side streams: shuffles, subsets, flips, draws of rows. */
export const HOST_STREAMS = {
  'loader.order': 'the batch order of each epoch (position: epoch)',
  'loader.flips': 'horizontal flips of a batch (position: epoch, batch start)',
  'consistency.shuffle': 'the shuffled conditions a continuous-feature consistency is compared against',
  'pixels-pca.subset': 'the images pixels+PCA is fitted on',
  'cluster-grid.examples': 'the example images of each cluster in a cluster grid',
  'kmeans.init': 'k-means++ seeding (position: restart)',
  'kmeans.fit-sample': 'the rows k-means fits on before it assigns every row',
  'eval.real-rows': 'the real images precision/recall/density/coverage compare against',
  'sample.condition-rows': 'the training conditions drawn for sampling, as the paper samples',
  'annotations.random-ids': 'the ids of the random-label control',
  'long-tail.subset': 'which images a long-tailed subset keeps',
  'scenes.canvas': 'a scene canvas: its items, their sizes, places and the background (position: canvas index)',
  'colour.objects': "a colour-objects image: its background, the object's size, place and flip (position: image index)",
  'colour.scenes':
    'a colour-scenes canvas: its objects, their sizes, places, flips and the background (position: canvas index)',
  'masks.fit-patches': 'the patches patch k-means is fitted on',
  'layout.shuffle': 'the shuffled layouts of the layout-following chance level',
  'annotation-view.examples': 'the example images of each self-label in an annotation view',
  'scan.pairs': "SCAN's batch order and each image's neighbour partner (position: epoch)",
  'stream.shards': 'the shard order of a streamed epoch (position: epoch)',
  'stream.buffer': "a streamed epoch's shuffle buffer (position: epoch, rank)",
  'stream.flips': 'horizontal flips of a streamed batch (position: epoch, rank, batch)',
} as const;
export type HostStream = keyof typeof HOST_STREAMS;

/** libtorch generator streams (the CPU generator; draws are moved to the device). */
export const TORCH_STREAMS = {
  'sample.noise': "the sampler's x_T and ancestral noise",
  'diffusion-features.noise': 'the noised probe image of diffusion features',
  'train.noise': "a trainer's own draws: timesteps, noise, condition dropout, augmentations",
  'scan.heads': "the initial weights of SCAN's clustering heads",
} as const;
export type TorchStream = keyof typeof TORCH_STREAMS;

const MASK64 = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;

/** SplitMix64's finaliser: a bijection of 64-bit words that spreads every input bit over the output. */
function mix64(x: bigint): bigint {
  let z = x & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

const absorb = (h: bigint, v: bigint): bigint => mix64((h ^ v) + GOLDEN);

/** FNV-1a over the name's UTF-16 code units, 64-bit. */
function nameHash(name: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < name.length; i++) h = ((h ^ BigInt(name.charCodeAt(i))) * 0x100000001b3n) & MASK64;
  return h;
}

function word(what: string, v: number): bigint {
  if (!Number.isSafeInteger(v) || v < 0) throw new Error(`a stream's ${what} must be a non-negative integer, got ${v}`);
  return BigInt(v);
}

/** The 64-bit key of stream `name` of `seed` at a position (epoch, restart, ...), if it has one. */
export function streamKey(seed: number, name: HostStream | TorchStream, ...position: number[]): bigint {
  let h = absorb(nameHash(name), word('seed', seed));
  for (const p of position) h = absorb(h, word('position', p));
  return absorb(h, BigInt(position.length));
}

/** The host stream `name` of `seed`, at a position (epoch, restart, ...) if it has one. */
export function hostRng(seed: number, name: HostStream, ...position: number[]): Rng {
  return Rng.fromKey(streamKey(seed, name, ...position));
}
