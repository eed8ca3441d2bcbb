// The trained self-supervised encoder as a feature extractor: backbone features (before the head,
// SimCLR's and DINO's usual choice) or what the head makes of them (SimCLR's projection, DINO's
// normalised bottleneck), and the backbone's patch map. A DINO run's features are its teacher's.
import { z } from 'zod';
import { checkpointMeta, loadCheckpoint, resolveCheckpoint } from '../../train/checkpoint.js';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import type { FeatureExtractor } from '../extract.js';
import { sha256File } from '../features-file.js';
import { ENCODER_FORMAT, EncoderConfig, SslEncoder, teacherState } from './encoder-trainer.js';
import { VisionTransformer } from './vit.js';

export type EncoderOutput = 'backbone' | 'projection' | 'grid';
/** A ViT's patch map: its last tokens, or the keys of its last attention layer (LOST's choice). */
export type PatchSource = 'tokens' | 'keys';
export const PATCH_SOURCES: readonly PatchSource[] = ['tokens', 'keys'];

export class SslEncoderFeatures implements FeatureExtractor {
  readonly name = 'ssl-encoder';
  readonly model: SslEncoder;
  readonly path: string;
  readonly step: number;
  private readonly hash: string;

  constructor(
    checkpoint: string,
    /**
     * backbone: the last stage's global average; projection: what the head makes of it; grid: the last
     * stage averaged over a 2x2 grid of the image (4 x D; keeps where things are, which on aligned
     * items such as Fashion-MNIST's separates classes that differ in layout)
     */
    readonly output: EncoderOutput = 'backbone',
    /** the backbone stage the patch map comes from (default the last; a ViT's block) */
    readonly patchStage: number = -1,
    readonly patchSource: PatchSource = 'tokens',
  ) {
    this.path = resolveCheckpoint(checkpoint);
    const ck = loadCheckpoint(this.path, ENCODER_FORMAT);
    try {
      const cfg = checkpointMeta(ck, 'config', EncoderConfig);
      const imageSize =
        cfg.model.arch === 'vit' ? checkpointMeta(ck, 'imageSize', z.number().int().positive()) : undefined;
      this.model = new SslEncoder(checkpointMeta(ck, 'inChannels', z.number().int().positive()), cfg.model, imageSize);
      // DINO's features are its teacher's (the moving average), as Caron et al. evaluate them.
      this.model.loadStateDict(cfg.model.objective === 'dino' ? teacherState(ck.ema) : ck.model);
      this.model.eval();
      this.step = ck.step;
      const stages = this.model.backbone.stages.length;
      if (patchStage >= stages || patchStage < -stages)
        throw new RangeError(`--patch-stage ${patchStage}: the encoder has ${stages} stages (0-${stages - 1})`);
      if (patchSource === 'keys' && cfg.model.arch !== 'vit')
        throw new RangeError(
          '--patch-source keys needs a ViT encoder (encoder train --arch vit); a ResNet has no attention keys',
        );
      if (patchSource === 'keys' && patchStage !== -1)
        throw new RangeError("--patch-source keys are the last block's; --patch-stage does not apply");
    } finally {
      ck.dispose();
    }
    this.hash = sha256File(this.path);
  }

  provenance() {
    return {
      extractor: this.name,
      config: JSON.stringify({
        checkpoint: this.path,
        step: this.step,
        output: this.output,
        ...(this.patchStage !== -1 ? { patchStage: this.patchStage } : {}),
        ...(this.patchSource !== 'tokens' ? { patchSource: this.patchSource } : {}),
        // What LOST's default normalisation follows (lostNormalizeFor).
        ...(this.model.backbone instanceof VisionTransformer ? { arch: 'vit' } : {}),
      }),
      checkpointHash: this.hash,
    };
  }

  embed(images: Tensor): { features: Tensor; patches: Tensor } {
    const out =
      this.patchSource === 'keys'
        ? torch.tidy(() => {
            const a = this.model.vit.lastAttention(images);
            return { features: a.features, patches: a.keys };
          })
        : this.model.backbone.call(images, this.patchStage);
    if (this.output === 'backbone') return out;
    if (this.output === 'grid') {
      // From the last stage whatever patch stage is asked for: the patch map stays as requested.
      const lastOut = this.patchStage === -1 ? null : this.model.backbone.call(images);
      const last = lastOut?.patches ?? out.patches;
      const grid = torch.tidy(() => torch.adaptiveAvgPool2d(last.permute(0, 3, 1, 2), [2, 2]).flatten(1));
      out.features.dispose();
      lastOut?.features.dispose();
      lastOut?.patches.dispose();
      return { features: grid, patches: out.patches };
    }
    const projected = this.model.projection(out.features);
    out.features.dispose();
    return { features: projected, patches: out.patches };
  }

  dispose(): void {
    this.model.dispose();
  }
}
