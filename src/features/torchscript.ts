// External encoders the user brings as TorchScript files (e.g. DINO ViT-S/16 traced in PyTorch), with
// their preprocessing: resize, grayscale to RGB, normalisation, and which outputs are the image feature
// and the patch map.
import * as torch from '../torch/index.js';
import type { JitOutput, Tensor } from '../torch/index.js';
import type { FeatureExtractor } from './extract.js';
import { sha256File } from './features-file.js';

export interface TorchScriptOptions {
  /** resize to size x size before the network (e.g. 224); omitted keeps the dataset's size */
  size?: number;
  /** repeat grayscale to 3 channels (most pretrained encoders are RGB) */
  rgb?: boolean;
  /** per-channel mean and std applied to pixels in [0, 1] (ImageNet's by default) */
  mean?: number[];
  std?: number[];
  /** the image feature: the output itself ('output'), an index into a tuple/list, or a dict key */
  featureOutput?: 'output' | number | string;
  /** the patch map, if any: index or key, and its layout */
  patchOutput?: number | string;
  /** 'nchw' conv maps [B, D, h, w]; 'tokens' ViT tokens [B, 1 + h*w, D] (first token dropped) */
  patchLayout?: 'nchw' | 'tokens';
  device?: torch.Device;
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

function select(out: JitOutput, which: 'output' | number | string, what: string): Tensor {
  let v: JitOutput | undefined = out;
  if (which !== 'output') {
    v =
      typeof which === 'number'
        ? Array.isArray(out)
          ? out[which]
          : undefined
        : !Array.isArray(out) && out !== null && typeof out === 'object' && !(out instanceof torch.Tensor)
          ? (out as Record<string, JitOutput>)[which]
          : undefined;
  }
  if (!(v instanceof torch.Tensor))
    throw new Error(`TorchScript ${what} output '${String(which)}' is not a tensor in the module's output`);
  return v;
}

export class TorchScriptEncoder implements FeatureExtractor {
  readonly name = 'torchscript';
  private readonly module: torch.ScriptModule;
  private readonly hash: string;

  constructor(
    readonly path: string,
    readonly o: TorchScriptOptions = {},
  ) {
    this.module = torch.ScriptModule.load(path, o.device ?? 'cpu');
    this.module.eval();
    this.hash = sha256File(path);
  }

  provenance() {
    return { extractor: this.name, config: JSON.stringify({ path: this.path, ...this.o }), checkpointHash: this.hash };
  }

  private preprocess(images: Tensor): Tensor {
    return torch.tidy(() => {
      let x = images.add(1).div(2);
      if (this.o.size && this.o.size !== x.shape[2]) x = torch.interpolate(x, { size: this.o.size, mode: 'bilinear' });
      if (this.o.rgb !== false && x.shape[1] === 1) x = x.expand(x.shape[0]!, 3, x.shape[2]!, x.shape[3]!);
      const c = x.shape[1]!;
      const mean = this.o.mean ?? (c === 3 ? IMAGENET_MEAN : Array(c).fill(0.5));
      const std = this.o.std ?? (c === 3 ? IMAGENET_STD : Array(c).fill(0.5));
      if (mean.length !== c || std.length !== c)
        throw new RangeError(`normalisation has ${mean.length} means / ${std.length} stds for ${c} channels`);
      return x
        .sub(torch.tensor(mean).reshape(1, c, 1, 1))
        .div(torch.tensor(std).reshape(1, c, 1, 1))
        .to({ device: this.o.device ?? 'cpu' });
    });
  }

  embed(images: Tensor): { features: Tensor; patches: Tensor | null } {
    return torch.tidy(() => {
      const out = this.module.forward(this.preprocess(images));
      let features = select(out, this.o.featureOutput ?? (Array.isArray(out) ? 0 : 'output'), 'feature');
      if (features.ndim > 2) features = features.flatten(1);
      let patches: Tensor | null = null;
      if (this.o.patchOutput !== undefined) {
        const p = select(out, this.o.patchOutput, 'patch');
        if ((this.o.patchLayout ?? 'nchw') === 'nchw') {
          if (p.ndim !== 4) throw new Error(`patch output must be [B, D, h, w], got [${p.shape.join(', ')}]`);
          patches = p.permute(0, 2, 3, 1);
        } else {
          const [b, tokens, d] = p.shape as [number, number, number];
          const side = Math.round(Math.sqrt(tokens - 1));
          if (side * side !== tokens - 1)
            throw new Error(`patch tokens: ${tokens} - 1 is not a square number of patches`);
          patches = p.narrow(1, 1, tokens - 1).reshape(b, side, side, d);
        }
      }
      return { features: features.cpu(), patches: patches ? patches.cpu() : null };
    });
  }
}
