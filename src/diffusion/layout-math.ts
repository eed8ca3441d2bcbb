// A layout a person gives, as the condition arrays of a box- or mask-guided model: written once over plain
// arrays, for the library (layout.ts makes tensors of them) and for the exported web page (boxes drawn,
// masks painted in the browser). No imports, so that a browser runs it as it is.

/** Why a layout cannot apply to the model (the caller adds where the layout came from). */
export class LayoutProblem extends Error {
  constructor(why: string) {
    super(why);
    this.name = 'LayoutProblem';
  }
}

/** What a layout-guided model takes: boxes of k self-labels (one, or all objects) or masks of k segments. */
export interface LayoutKind {
  kind: 'boxes' | 'masks';
  k: number;
  objects: 'main' | 'all';
}

export interface LayoutBox {
  /** x0, y0, x1, y1 (end exclusive), in pixels or fractions of the canvas */
  box: [number, number, number, number];
  /** the box's self-label id */
  id: number;
}

/**
 * One box layout on an S x S canvas: maps [S * S] (1 inside the union of the boxes) and the one- or n-hot
 * vector [k] of their ids.
 */
export function boxLayoutArrays(
  kind: LayoutKind,
  S: number,
  boxes: readonly LayoutBox[],
  units: 'pixels' | 'fraction' = 'pixels',
): { cond: Float32Array; maps: Float32Array } {
  if (kind.kind !== 'boxes') throw new LayoutProblem('this model is mask-guided: give a mask PNG, not boxes');
  if (boxes.length === 0) throw new LayoutProblem('no boxes');
  if (kind.objects === 'main' && boxes.length > 1)
    throw new LayoutProblem(`this model was trained on one box per image; the layout has ${boxes.length}`);
  const scale = units === 'fraction' ? S : 1;
  const maps = new Float32Array(S * S);
  const cond = new Float32Array(kind.k);
  boxes.forEach(({ box, id }, i) => {
    const [x0, y0, x1, y1] = box.map((v) => Math.round(v * scale)) as [number, number, number, number];
    if (!(x0 >= 0 && y0 >= 0 && x1 <= S && y1 <= S && x1 > x0 && y1 > y0))
      throw new LayoutProblem(`box ${i} [${box.join(', ')}] (${units}) is empty or outside the ${S}x${S} canvas`);
    if (!Number.isInteger(id) || id < 0 || id >= kind.k)
      throw new LayoutProblem(`box ${i} has id ${id}; the model knows ${kind.k} self-labels (0-${kind.k - 1})`);
    for (let y = y0; y < y1; y++) maps.fill(1, y * S + x0, y * S + x1);
    cond[id] = 1;
  });
  return { cond, maps };
}

/**
 * One mask layout (segment ids [S * S]): one-hot maps [k * S * S], channel-major as the model takes them,
 * and the presence vector [k] of the segments it holds.
 */
export function maskLayoutArrays(
  kind: LayoutKind,
  ids: ArrayLike<number>,
  size: number,
  S: number,
): { cond: Float32Array; maps: Float32Array } {
  if (kind.kind !== 'masks') throw new LayoutProblem('this model is box-guided: give boxes (JSON), not a mask');
  if (size !== S) throw new LayoutProblem(`the mask is ${size}x${size}; the model makes ${S}x${S} images`);
  if (ids.length !== S * S) throw new LayoutProblem(`the mask has ${ids.length} pixels, not ${S * S}`);
  const cond = new Float32Array(kind.k);
  const maps = new Float32Array(kind.k * S * S);
  for (let p = 0; p < ids.length; p++) {
    const v = ids[p]!;
    if (v >= kind.k)
      throw new LayoutProblem(`grey level ${v} is not a segment id: the model knows ${kind.k} (0-${kind.k - 1})`);
    cond[v] = 1;
    maps[v * S * S + p] = 1;
  }
  return { cond, maps };
}
