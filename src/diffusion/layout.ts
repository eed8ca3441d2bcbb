// Layout control: the conditions of a box- or mask-guided model from a layout a person gives, as boxes
// (JSON, pixel or fraction coordinates, a self-label id each) or a mask (a PNG with one grey level per
// segment id). A layout that cannot apply to the model is refused with the reason.
import { extname } from 'node:path';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { readJsonFile } from '../util/json-file.js';
import { disposeConditions, loadConditionFile } from './conditions.js';
import { drawConditions, type LoadedModel } from './pipeline.js';
import { boxLayoutArrays, LayoutProblem, maskLayoutArrays, type LayoutKind } from './layout-math.js';

export const BoxLayout = z.object({
  /** 'pixels' (default) or 'fraction' of the canvas */
  units: z.enum(['pixels', 'fraction']).default('pixels'),
  boxes: z
    .array(
      z.object({
        /** x0, y0, x1, y1 (end exclusive in pixels) */
        box: z.tuple([z.number(), z.number(), z.number(), z.number()]),
        /** the box's self-label id */
        id: z.number().int().min(0),
      }),
    )
    .min(1),
});
export type BoxLayout = z.output<typeof BoxLayout>;

export class LayoutError extends Error {
  constructor(source: string, why: string) {
    super(`layout ${source}: ${why}`);
    this.name = 'LayoutError';
  }
}

/** The kind of spatial guidance a model was trained with, from its condition file's metadata. */
export function spatialKind(m: LoadedModel): LayoutKind {
  const meta = m.conditions.meta;
  const cfg = m.model.config;
  if (cfg.spatialCondChannels === 0 || (meta.kind !== 'boxes' && meta.kind !== 'masks'))
    throw new LayoutError(m.path, `this model is not box- or mask-guided (its conditions: ${m.conditions.source})`);
  if (meta.kind === 'masks') return { kind: 'masks', k: Number(meta.segmentCount), objects: 'all' };
  return { kind: 'boxes', k: Number(meta.k), objects: meta.objects === 'all' ? 'all' : 'main' };
}

/** layout-math's arrays, with a problem told as a LayoutError of the layout's source. */
function fromSource<T>(source: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof LayoutProblem) throw new LayoutError(source, e.message);
    throw e;
  }
}

/** The conditions of one box layout: maps [1, 1, S, S] (union of the boxes) and the one-/n-hot vector [1, k]. */
export function boxLayoutConditions(m: LoadedModel, layout: BoxLayout, source: string): { cond: Tensor; maps: Tensor } {
  const kind = spatialKind(m);
  const S = m.model.config.imageSize;
  const { cond, maps } = fromSource(source, () => boxLayoutArrays(kind, S, layout.boxes, layout.units));
  return { cond: torch.tensor(cond, { shape: [1, kind.k] }), maps: torch.tensor(maps, { shape: [1, 1, S, S] }) };
}

/** The conditions of one mask layout (segment ids [S, S]): one-hot maps [1, K, S, S] and presence [1, K]. */
export function maskLayoutConditions(
  m: LoadedModel,
  ids: Uint8Array,
  size: number,
  source: string,
): { cond: Tensor; maps: Tensor } {
  const kind = spatialKind(m);
  const S = m.model.config.imageSize;
  const { cond, maps } = fromSource(source, () => maskLayoutArrays(kind, ids, size, S));
  return { cond: torch.tensor(cond, { shape: [1, kind.k] }), maps: torch.tensor(maps, { shape: [1, kind.k, S, S] }) };
}

/** Reads a layout file: boxes from .json, a mask from .png (one grey level per segment id). */
export async function readLayout(m: LoadedModel, path: string): Promise<{ cond: Tensor; maps: Tensor }> {
  if (extname(path).toLowerCase() === '.json') return boxLayoutConditions(m, readJsonFile(path, BoxLayout), path);
  if (extname(path).toLowerCase() !== '.png') throw new LayoutError(path, 'expected boxes as .json or a mask as .png');
  const { default: sharp } = await import('sharp');
  let img;
  try {
    img = await sharp(path).greyscale().raw().toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new LayoutError(path, `cannot read the PNG (${(e as Error).message})`);
  }
  if (img.info.width !== img.info.height)
    throw new LayoutError(path, `the mask is ${img.info.width}x${img.info.height}; it must be square`);
  return maskLayoutConditions(m, new Uint8Array(img.data), img.info.width, path);
}

/** A picture of spatial conditions [B, K, H, W] (a box channel, or one-hot segments) as [B, 3, H, W] in [-1, 1]. */
/** The first `count` layouts, each as a picture beside the sample made from it: [2 * count, 3, H, W]. */
export function layoutsBesideSamples(maps: Tensor, samples: Tensor, count: number): Tensor {
  return torch.tidy(() => {
    const n = Math.min(count, samples.shape[0]!);
    const pics = layoutPicture(maps.narrow(0, 0, n));
    const s = samples.narrow(0, 0, n);
    const rgb = s.shape[1] === 3 ? s : s.expand([n, 3, s.shape[2]!, s.shape[3]!]);
    return torch.stack([pics, rgb], 1).reshape(2 * n, 3, s.shape[2]!, s.shape[3]!);
  });
}

export function layoutPicture(maps: Tensor): Tensor {
  return torch.tidy(() => {
    const [b, k, h, w] = maps.shape as [number, number, number, number];
    if (k === 1) return maps.mul(2).sub(1).expand([b, 3, h, w]).contiguous();
    const ids = maps.argmax(1);
    const palette = torch.tensor(
      Float32Array.from(
        { length: k * 3 },
        (_, i) =>
          [
            0.9, 0.2, 0.3, 0.2, 0.7, 0.3, 1, 0.9, 0.1, 0, 0.5, 0.8, 0.96, 0.5, 0.2, 0.6, 0.1, 0.7, 0.3, 0.9, 0.9, 0.9,
            0.2, 0.9,
          ][i % 24]!,
      ),
      { shape: [k, 3] },
    );
    return palette.indexSelect(0, ids.reshape(-1)).reshape(b, h, w, 3).permute(0, 3, 1, 2).mul(2).sub(1).contiguous();
  });
}

export interface LayoutSampling {
  /** [n, D] and [n, K, S, S]: each layout repeated perLayout times */
  cond: Tensor;
  maps: Tensor;
  /** one [L, K, S, S] map per layout, for the picture beside its samples */
  layouts: Tensor;
  perLayout: number;
}

/**
 * The conditions to sample a layout-guided model with: the layout in `layout` (boxes JSON or mask PNG),
 * or `count` layouts drawn (seeded) from a condition file of the same kind (real layouts); each repeated
 * `perLayout` times.
 */
export async function layoutSampling(
  m: LoadedModel,
  o: { layout?: string; layoutsFrom?: string; count?: number; perLayout: number; seed: number },
): Promise<LayoutSampling> {
  let one: { cond: Tensor; maps: Tensor };
  if (o.layout) one = await readLayout(m, o.layout);
  else if (o.layoutsFrom) {
    spatialKind(m);
    const set = loadConditionFile(o.layoutsFrom, null);
    try {
      const drawn = drawConditions(set, o.count ?? 4, o.seed);
      if (!drawn.cond || !drawn.maps)
        throw new LayoutError(o.layoutsFrom, 'holds no vectors and maps to draw layouts from');
      const cfg = m.model.config;
      if (drawn.maps.shape[1] !== cfg.spatialCondChannels || drawn.cond.shape[1] !== cfg.condDim)
        throw new LayoutError(
          o.layoutsFrom,
          `its layouts have ${drawn.maps.shape[1]} channels and ${drawn.cond.shape[1]}-d vectors; the model takes ${cfg.spatialCondChannels} and ${cfg.condDim}`,
        );
      one = { cond: drawn.cond, maps: drawn.maps };
    } finally {
      disposeConditions(set);
    }
  } else throw new TypeError('layoutSampling: give layout or layoutsFrom');
  return torch.tidy(() => {
    const L = one.cond.shape[0]!;
    const rep = torch
      .tensor(Int32Array.from({ length: L * o.perLayout }, (_, i) => Math.floor(i / o.perLayout)))
      .long();
    const out = {
      cond: one.cond.indexSelect(0, rep),
      maps: one.maps.indexSelect(0, rep),
      layouts: one.maps.alias(),
      perLayout: o.perLayout,
    };
    one.cond.dispose();
    one.maps.dispose();
    return out;
  });
}
