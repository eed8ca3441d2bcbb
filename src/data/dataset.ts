// The in-memory image dataset every stage shares: uint8 pixels [N, C, H, W] (compact), converted to
// float in [-1, 1] one batch at a time; ground-truth labels are kept aside and used only on request.
import * as torch from '../torch/index.js';
import { keep, type Tensor } from '../torch/index.js';
import type { SceneAnnotations } from './scene-annotations.js';

export interface DatasetInfo {
  /** e.g. "fashion-mnist/train" or "folder:/path" */
  name: string;
  /** how the pixels were made (source path, size, padding/resize), for provenance records */
  preprocessing: Record<string, string | number | boolean>;
}

export class ImageDataset {
  readonly pixels: Tensor;
  readonly labels: Int32Array | null;
  readonly classNames: string[] | null;
  readonly info: DatasetInfo;
  /** hidden object annotations (boxes, classes, masks) of multi-object data; evaluation reads them, g and f never */
  readonly scene: SceneAnnotations | null;

  constructor(
    pixels: Tensor,
    labels: Int32Array | null,
    classNames: string[] | null,
    info: DatasetInfo,
    scene: SceneAnnotations | null = null,
  ) {
    if (pixels.dtype !== 'uint8' || pixels.ndim !== 4) {
      throw new TypeError(
        `ImageDataset needs uint8 pixels [N, C, H, W], got ${pixels.dtype} [${pixels.shape.join(', ')}]`,
      );
    }
    if (labels && labels.length !== pixels.shape[0])
      throw new RangeError(`${labels.length} labels for ${pixels.shape[0]} images`);
    this.pixels = keep(pixels);
    this.labels = labels;
    this.classNames = classNames;
    this.info = info;
    if (scene && (scene.boxes.shape[0] !== pixels.shape[0] || scene.masks.shape[0] !== pixels.shape[0]))
      throw new RangeError(`scene annotations for ${scene.boxes.shape[0]} images, not ${pixels.shape[0]}`);
    this.scene = scene;
  }

  get length(): number {
    return this.pixels.shape[0]!;
  }
  get channels(): number {
    return this.pixels.shape[1]!;
  }
  get size(): number {
    return this.pixels.shape[2]!;
  }
  get numClasses(): number | null {
    if (!this.labels) return null;
    return this.classNames?.length ?? Math.max(...this.labels) + 1;
  }

  /** Float images in [-1, 1] for the given indices. */
  images(indices: Int32Array | number[]): Tensor {
    return torch.tidy(() => {
      const idx = torch.tensor(Int32Array.from(indices)).long();
      return this.pixels
        .indexSelect(0, idx)
        .float()
        .mul(2 / 255)
        .sub(1);
    });
  }

  /** A dataset over a subset of this one's images (pixels copied, labels kept in step). */
  subset(indices: Int32Array | number[], name?: string): ImageDataset {
    const idx = Int32Array.from(indices);
    const px = torch.tidy(() => this.pixels.indexSelect(0, torch.tensor(idx).long()));
    const labels = this.labels ? Int32Array.from(idx, (i) => this.labels![i]!) : null;
    const scene = this.scene
      ? torch.tidy(() => {
          const t = torch.tensor(idx).long();
          const sc = this.scene!;
          return {
            boxes: keep(sc.boxes.indexSelect(0, t)),
            classes: keep(sc.classes.indexSelect(0, t)),
            masks: keep(sc.masks.indexSelect(0, t)),
            classNames: sc.classNames,
          };
        })
      : null;
    return new ImageDataset(
      px,
      labels,
      this.classNames,
      { ...this.info, name: name ?? `${this.info.name}[subset ${idx.length}]` },
      scene,
    );
  }

  dispose(): void {
    this.pixels.dispose();
    this.scene?.boxes.dispose();
    this.scene?.classes.dispose();
    this.scene?.masks.dispose();
  }
}

/** Float images in [-1, 1] -> uint8 pixels (rounded, clamped). */
export function toPixels(images: Tensor): Tensor {
  return torch.tidy(() => images.add(1).mul(127.5).round().clamp(0, 255).to('uint8'));
}
