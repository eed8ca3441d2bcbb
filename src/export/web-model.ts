// What an exported web folder's model.json holds: written by exportWeb (web-export.ts), read by the page
// (web/page.ts).

import type { LayoutKind } from '../diffusion/layout-math.js';

export interface WebModel {
  title: string;
  channels: number;
  imageSize: number;
  condDim: number;
  mapChannels: number;
  prediction: 'eps' | 'v';
  alphasCumprod: number[];
  conditions: { source: string; numIds: number | null; oneHot: boolean };
  /** box- and mask-guided models: what a layout drawn on the page becomes */
  layout: LayoutKind | null;
  /** one-hot id models: a few training images (PNG data URLs) of each id */
  idExamples: string[][] | null;
  /** conditions drawn from the training set: vector, maps (float32, base64) and the image they belong to */
  drawn: { cond: number[] | null; maps: string | null; image: string }[];
}
