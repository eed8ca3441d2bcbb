// Every random stream of the project in one table, named for what it draws. A stream is the user's seed
// plus the stream's id (and a position, such as an epoch or a k-means restart), so streams never
// overlap and one seed drives them all. The ids are fixed: changing one changes what a seed gives.
import { Generator } from '../torch/index.js';
import { Rng } from './rng.js';

/** Host-side streams (xoshiro128**, see Rng): shuffles, subsets, flips, draws of rows. */
export const HOST_STREAMS = {
  /** the batch order of each epoch (position: epoch) */
  'loader.order': 1,
  /** horizontal flips of a batch (position: epoch, batch start) */
  'loader.flips': 2,
  /** the shuffled conditions a continuous-feature consistency is compared against */
  'consistency.shuffle': 3,
  /** the images pixels+PCA is fitted on */
  'pixels-pca.subset': 5,
  /** the example images of each cluster in a cluster grid */
  'cluster-grid.examples': 13,
  /** k-means++ seeding (position: restart) */
  'kmeans.init': 17,
  /** the real images precision/recall/density/coverage compare against */
  'eval.real-rows': 17,
  /** the training conditions drawn for sampling, as the paper samples */
  'sample.condition-rows': 31,
  /** the ids of the random-label control */
  'annotations.random-ids': 101,
  /** which images a long-tailed subset keeps */
  'long-tail.subset': 7919,
  /** a scene canvas: its items, their sizes, places and the background (position: canvas index) */
  'scenes.canvas': 7927,
  /** the patches patch k-means is fitted on */
  'masks.fit-patches': 7933,
  /** the shuffled layouts of the layout-following chance level */
  'layout.shuffle': 7937,
  /** the example images of each self-label in an annotation view */
  'annotation-view.examples': 7949,
  /** SCAN's batch order and each image's neighbour partner (position: epoch) */
  'scan.pairs': 7951,
} as const;
export type HostStream = keyof typeof HOST_STREAMS;

/** libtorch generator streams (the CPU generator; draws are moved to the device). */
export const TORCH_STREAMS = {
  /** the sampler's x_T and ancestral noise */
  'sample.noise': 0,
  /** the noised probe image of diffusion features */
  'diffusion-features.noise': 0,
  /** a trainer's own draws: timesteps, noise, condition dropout, augmentations */
  'train.noise': 1,
  /** the initial weights of SCAN's clustering heads */
  'scan.heads': 2,
} as const;
export type TorchStream = keyof typeof TORCH_STREAMS;

/** The host stream `name` of `seed`, at a position (epoch, restart, ...) if it has one. */
export function hostRng(seed: number, name: HostStream, ...position: number[]): Rng {
  return new Rng(seed, ...position, HOST_STREAMS[name]);
}

/** The libtorch generator stream `name` of `seed`. */
export function torchGenerator(seed: number, name: TorchStream): Generator {
  return new Generator(seed + TORCH_STREAMS[name]);
}
