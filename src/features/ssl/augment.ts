// Batched augmentations for contrastive learning, all on the engine and drawn from one generator (so
// a resumed run draws the same views): random resized crop with flip (one affine grid sample), colour
// jitter, random grayscale (RGB), Gaussian blur and noise.
import * as torch from '../../torch/index.js';
import type { Generator, Tensor } from '../../torch/index.js';

export interface AugmentOptions {
  /** crop area as a fraction of the image */
  scale?: [number, number];
  ratio?: [number, number];
  flip?: boolean;
  /** brightness / contrast / saturation jitter strength, applied with probability jitterP */
  jitter?: number;
  jitterP?: number;
  grayscaleP?: number;
  blurP?: number;
  noiseStd?: number;
  /** output size of the crops (default: the input's), e.g. DINO's small local views */
  size?: number;
}

function uniform(n: number, lo: number, hi: number, g: Generator): Tensor {
  return torch
    .rand([n], { generator: g })
    .mul(hi - lo)
    .add(lo);
}

/** Random resized crops (and flips) of a batch in [-1, 1], resampled to the same size. */
export function randomResizedCrop(x: Tensor, g: Generator, o: AugmentOptions = {}): Tensor {
  return torch.tidy(() => {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    const [s0, s1] = o.scale ?? [0.2, 1];
    const [r0, r1] = o.ratio ?? [3 / 4, 4 / 3];
    const area = uniform(b, s0, s1, g);
    const logRatio = uniform(b, Math.log(r0), Math.log(r1), g);
    const ratio = logRatio.exp();
    const sw = area.mul(ratio).sqrt().clampMax(1);
    const sh = area.div(ratio).sqrt().clampMax(1);
    const cx = uniform(b, -1, 1, g).mul(sw.rsub(1));
    const cy = uniform(b, -1, 1, g).mul(sh.rsub(1));
    const flip = o.flip === false ? torch.ones([b]) : torch.rand([b], { generator: g }).lt(0.5).float().mul(2).sub(1);
    const zero = torch.zeros([b]);
    const theta = torch.stack([torch.stack([sw.mul(flip), zero, cx], 1), torch.stack([zero, sh, cy], 1)], 1);
    const grid = torch.affineGrid(theta, [b, c, o.size ?? h, o.size ?? w], false);
    return torch.gridSample(x, grid, { mode: 'bilinear', paddingMode: 'border' });
  });
}

function perSample(mask: Tensor, a: Tensor, b: Tensor): Tensor {
  return torch.where(mask.reshape(mask.shape[0]!, 1, 1, 1), a, b);
}

/** Jitter, grayscale, blur and noise on a batch in [-1, 1]. */
export function photometric(x: Tensor, g: Generator, o: AugmentOptions = {}): Tensor {
  return torch.tidy(() => {
    const [b, c] = x.shape as [number, number];
    const s = o.jitter ?? 0.4;
    let y = x.add(1).div(2);
    const jit = torch.rand([b], { generator: g }).lt(o.jitterP ?? 0.8);
    const bright = uniform(b, 1 - s, 1 + s, g).reshape(b, 1, 1, 1);
    const contrast = uniform(b, 1 - s, 1 + s, g).reshape(b, 1, 1, 1);
    const mean = y.mean([1, 2, 3], { keepdim: true });
    let j = y.mul(bright);
    j = j.sub(mean).mul(contrast).add(mean);
    if (c === 3) {
      const sat = uniform(b, 1 - s, 1 + s, g).reshape(b, 1, 1, 1);
      const gray = j.mean(1, { keepdim: true });
      j = j.sub(gray).mul(sat).add(gray);
    }
    y = perSample(jit, j.clamp(0, 1), y);
    if (c === 3) {
      const gm = torch.rand([b], { generator: g }).lt(o.grayscaleP ?? 0.2);
      y = perSample(gm, y.mean(1, { keepdim: true }).expand(b, 3, y.shape[2]!, y.shape[3]!), y);
    }
    const blurMask = torch.rand([b], { generator: g }).lt(o.blurP ?? 0.5);
    const k = torch
      .tensor([
        [1, 2, 1],
        [2, 4, 2],
        [1, 2, 1],
      ])
      .div(16)
      .reshape(1, 1, 3, 3)
      .expand(c, 1, 3, 3)
      .contiguous();
    const blurred = torch.conv2d(torch.pad(y, [1, 1, 1, 1], 'replicate'), k, null, { groups: c });
    y = perSample(blurMask, blurred, y);
    if ((o.noiseStd ?? 0.03) > 0) y = y.add(torch.randn(y.shape, { generator: g }).mul(o.noiseStd ?? 0.03)).clamp(0, 1);
    return y.mul(2).sub(1);
  });
}

export function augment(x: Tensor, g: Generator, o: AugmentOptions = {}): Tensor {
  return torch.tidy(() => photometric(randomResizedCrop(x, g, o), g, o));
}
