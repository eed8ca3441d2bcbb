// The free baselines beside every self-annotation, judged as the self-annotations are: CorLoc of the
// centre box and of the Otsu threshold's largest component against the hidden boxes; mIoU, foreground IoU
// and pixel accuracy of the Otsu foreground and of its colour clusters against the hidden masks.
import { centreBox, colourSegments, largestComponentBoxes, otsuForeground } from '../annotate/baselines.js';
import { corLoc } from '../annotate/lost.js';
import type { ImageDataset } from '../data/dataset.js';
import { sceneBoxes } from '../data/scene-annotations.js';
import { maskQuality, type MaskQuality } from '../eval/segmentation.js';

type Quality = Pick<MaskQuality, 'mIoU' | 'foregroundIoU' | 'pixelAccuracy'>;

export interface BaselineReport {
  images: number;
  boxes: { centre: number; otsuLargestComponent: number };
  masks: { otsuForeground: Quality; otsuColourClusters: Quality & { K: number } };
}

function hidden(ds: ImageDataset): NonNullable<ImageDataset['scene']> {
  if (!ds.scene) throw new Error(`${ds.info.name} has no hidden boxes and masks to judge baselines against`);
  return ds.scene;
}

/** CorLoc of the centre box and of the Otsu threshold's largest component. */
export function boxBaselines(ds: ImageDataset, fg = otsuForeground(ds.pixels)): BaselineReport['boxes'] {
  const truth = sceneBoxes(hidden(ds));
  return {
    centre: corLoc(new Array(ds.length).fill(centreBox(ds.size)), truth),
    otsuLargestComponent: corLoc(largestComponentBoxes(fg, ds.length, ds.size), truth),
  };
}

/** The Otsu foreground, and its colour clusters (K segments, background included), against the masks. */
export function maskBaselines(
  ds: ImageDataset,
  o: { K?: number; seed?: number } = {},
  fg = otsuForeground(ds.pixels),
): BaselineReport['masks'] {
  const scene = hidden(ds);
  const classes = scene.classNames.length + 1;
  const K = o.K ?? classes;
  const truth = scene.masks.toTypedArray() as Uint8Array;
  const quality = (seg: ArrayLike<number>, k: number): Quality => {
    const q = maskQuality(seg, truth, k, classes);
    return { mIoU: q.mIoU, foregroundIoU: q.foregroundIoU, pixelAccuracy: q.pixelAccuracy };
  };
  return {
    otsuForeground: quality(fg, 2),
    otsuColourClusters: { ...quality(colourSegments(ds.pixels, fg, K, o.seed ?? 0), K), K },
  };
}

export function annotationBaselines(ds: ImageDataset, o: { K?: number; seed?: number } = {}): BaselineReport {
  const fg = otsuForeground(ds.pixels);
  return { images: ds.length, boxes: boxBaselines(ds, fg), masks: maskBaselines(ds, o, fg) };
}

/** The report as lines for a person. */
export function baselineLines(r: BaselineReport): string[] {
  return [
    `free baselines on ${r.images} images:`,
    `  ${boxBaselineLine(r.boxes)}`,
    ...maskBaselineLines(r.masks).map((l) => `  ${l}`),
  ];
}

export const boxBaselineLine = (b: BaselineReport['boxes']): string =>
  `boxes, CorLoc: centre box ${b.centre.toFixed(4)}; Otsu threshold, largest component ${b.otsuLargestComponent.toFixed(4)}`;

const qualityText = (x: Quality) =>
  `mIoU ${x.mIoU.toFixed(4)}  foreground IoU ${x.foregroundIoU.toFixed(4)}  pixel accuracy ${x.pixelAccuracy.toFixed(4)}`;

export const maskBaselineLines = (m: BaselineReport['masks']): string[] => [
  `masks, Otsu foreground: ${qualityText(m.otsuForeground)}`,
  `masks, Otsu foreground + colour k-means (K = ${m.otsuColourClusters.K}): ${qualityText(m.otsuColourClusters)}`,
];
