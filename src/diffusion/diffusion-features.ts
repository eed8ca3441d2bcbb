// Diffusion features: the activations of one block of a trained diffusion UNet at a chosen noise level
// (Hu et al., "Guided Diffusion from Self-Supervised Diffusion Features"), pooled to an image feature,
// with the activation map itself as dense features. The null condition is used for conditional models.
import { loadModel, type LoadedModel } from './pipeline.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { FeatureExtractor } from '../features/extract.js';
import { sha256File } from '../features/features-file.js';

export interface DiffusionFeatureOptions {
  /** 'middle' (default), 'input.N' or 'output.N' */
  block?: string;
  /** timestep of the noise added before the forward pass (0 = almost clean) */
  t?: number;
  /** seed of that noise: one noise image shared by all images, so features do not depend on batching */
  seed?: number;
  /** use EMA weights (default) */
  ema?: boolean;
}

export class DiffusionFeatures implements FeatureExtractor {
  readonly name = 'diffusion';
  private readonly m: LoadedModel;
  private readonly hash: string;
  private readonly noise: Tensor;

  constructor(
    readonly checkpoint: string,
    readonly o: DiffusionFeatureOptions = {},
  ) {
    this.m = loadModel(checkpoint, { ema: o.ema ?? true });
    this.hash = sha256File(this.m.path);
    const block = o.block ?? 'middle';
    if (!this.m.model.blockNames().includes(block))
      throw new RangeError(`unknown block '${block}'; this UNet has ${this.m.model.blockNames().join(', ')}`);
    const t = o.t ?? 100;
    if (!Number.isInteger(t) || t < 0 || t >= this.m.schedule.T)
      throw new RangeError(`t must be an integer in [0, ${this.m.schedule.T})`);
    const c = this.m.model.config;
    this.noise = torch.keep(
      torch.randn([1, c.channels, c.imageSize, c.imageSize], {
        generator: torch.streamGenerator(o.seed ?? 0, 'diffusion-features.noise'),
      }),
    );
  }

  provenance() {
    return {
      extractor: this.name,
      config: JSON.stringify({
        checkpoint: this.m.path,
        step: this.m.step,
        block: this.o.block ?? 'middle',
        t: this.o.t ?? 100,
        seed: this.o.seed ?? 0,
      }),
      checkpointHash: this.hash,
    };
  }

  embed(images: Tensor): { features: Tensor; patches: Tensor } {
    const cfg = this.m.model.config;
    return torch.tidy(() => {
      const b = images.shape[0]!;
      const t = torch.full([b], this.o.t ?? 100, { dtype: 'int64' });
      const xt = this.m.schedule.qSample(images, t, this.noise.expandAs(images));
      const cond = cfg.condDim > 0 ? torch.zeros([b, cfg.condDim]) : null;
      const maps =
        cfg.spatialCondChannels > 0 ? torch.zeros([b, cfg.spatialCondChannels, cfg.imageSize, cfg.imageSize]) : null;
      const act = this.m.model.forwardFeatures(xt, t, this.o.block ?? 'middle', cond, maps);
      return { features: act.mean([2, 3]), patches: act.permute(0, 2, 3, 1) };
    });
  }

  dispose(): void {
    this.m.dispose();
    this.noise.dispose();
  }
}
