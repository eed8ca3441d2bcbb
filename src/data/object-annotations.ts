// Object annotations (boxes, their classes, a semantic mask) as a file: what fashion-scenes writes beside
// its image folder, and what a user brings for their own images. Rows are matched to images by the
// relative paths in the `files` metadata, so the order of a folder listing does not matter.
import * as torch from '../torch/index.js';
import { z } from 'zod';
import { parseJsonWith } from '../util/json-file.js';
import { ImageDataset } from './dataset.js';
import type { SceneAnnotations } from './scene-annotations.js';

export const OBJECT_ANNOTATIONS_FORMAT = 'selfguided-object-annotations/1';

/** Writes boxes [N, M, 4], classes [N, M] and masks [N, H, W] with the image path of each row. */
export function saveObjectAnnotations(path: string, a: SceneAnnotations, files: string[]): void {
  if (files.length !== a.boxes.shape[0])
    throw new RangeError(`${files.length} file names for ${a.boxes.shape[0]} rows`);
  torch.safetensors.saveFile(
    path,
    { boxes: a.boxes, classes: a.classes, masks: a.masks },
    { format: OBJECT_ANNOTATIONS_FORMAT, files: JSON.stringify(files), classNames: JSON.stringify(a.classNames) },
  );
}

/**
 * The dataset with its object annotations from `path`, each image's row found by its path relative to
 * the folder. Every image must have a row, and masks must have the images' size.
 */
export function withObjectAnnotations(ds: ImageDataset, files: string[], path: string): ImageDataset {
  const { tensors, metadata } = torch.safetensors.loadFile(path);
  const free = () => {
    for (const t of tensors.values()) t.dispose();
  };
  try {
    if (metadata.format !== OBJECT_ANNOTATIONS_FORMAT)
      throw new Error(`${path} is not a ${OBJECT_ANNOTATIONS_FORMAT} file (format '${metadata.format ?? 'missing'}')`);
    const rows = parseJsonWith(z.array(z.string()), metadata.files ?? 'null', `${path} (metadata 'files')`);
    const classNames = parseJsonWith(
      z.array(z.string()),
      metadata.classNames ?? '[]',
      `${path} (metadata 'classNames')`,
    );
    const boxes = tensors.get('boxes'),
      classes = tensors.get('classes'),
      masks = tensors.get('masks');
    if (!boxes || !classes || !masks) throw new Error(`${path}: needs 'boxes', 'classes' and 'masks' tensors`);
    if (boxes.ndim !== 3 || boxes.shape[2] !== 4 || boxes.shape[0] !== rows.length)
      throw new Error(`${path}: 'boxes' must be [${rows.length}, M, 4], got [${boxes.shape.join(', ')}]`);
    if (masks.ndim !== 3 || masks.shape[1] !== ds.size || masks.shape[2] !== ds.size)
      throw new Error(
        `${path}: masks are ${masks.shape[1]}x${masks.shape[2]} but the images load at ${ds.size}x${ds.size} (--image-size)`,
      );
    const index = new Map(rows.map((f, i) => [f, i]));
    const missing = files.filter((f) => !index.has(f));
    if (missing.length)
      throw new Error(`${path} has no row for ${missing.length} image(s), e.g. ${missing.slice(0, 3).join(', ')}`);
    const pick = torch.tensor(Int32Array.from(files, (f) => index.get(f)!)).long();
    const scene = torch.tidy(() => ({
      boxes: torch.keep(boxes.indexSelect(0, pick).to('int32')),
      classes: torch.keep(classes.indexSelect(0, pick).to('int32')),
      masks: torch.keep(masks.indexSelect(0, pick).to('uint8')),
      classNames,
    }));
    pick.dispose();
    const px = torch.keep(ds.pixels.alias());
    return new ImageDataset(px, ds.labels, ds.classNames ?? classNames, ds.info, scene);
  } finally {
    free();
  }
}
