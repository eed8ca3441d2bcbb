// The ADM (guided-diffusion) UNet: residual blocks with timestep (and condition) embeddings,
// scale-shift norm, multi-head self-attention at chosen resolutions, resblock up/down sampling.
// Image-level conditions enter through an MLP joined to the timestep embedding; spatial condition
// maps are concatenated to the input channels.
import * as nn from '../nn/index.js';
import { z } from 'zod';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';

/** The UNet's architecture, as a checkpoint records it (validated when a checkpoint is loaded). */
export const UNetConfig = z.object({
  imageSize: z.number().int().positive(),
  /** image channels (the output has the same number) */
  channels: z.number().int().positive(),
  /** channels of spatial condition maps concatenated to the input (0 = none) */
  spatialCondChannels: z.number().int().min(0),
  /** size of the image-level condition vector (0 = none) */
  condDim: z.number().int().min(0),
  /** 'concat' (the paper's): [temb, MLP(c)]; 'add': temb + MLP(c) */
  condMode: z.enum(['concat', 'add']),
  baseChannels: z.number().int().positive(),
  channelMult: z.array(z.number().int().positive()),
  numResBlocks: z.number().int().positive(),
  /** downsampling factors at which to attend, e.g. [4] = 1/4 resolution */
  attentionDs: z.array(z.number().int().positive()),
  numHeads: z.number().int().positive(),
  dropout: z.number().min(0).max(1),
  scaleShiftNorm: z.boolean(),
  resblockUpdown: z.boolean(),
});
export type UNetConfig = z.infer<typeof UNetConfig>;

export const UNET_PRESETS: Record<
  'tiny' | 'small' | 'small64' | 'paper',
  Omit<UNetConfig, 'imageSize' | 'channels' | 'spatialCondChannels' | 'condDim'>
> = {
  tiny: {
    condMode: 'concat',
    baseChannels: 16,
    channelMult: [1, 2],
    numResBlocks: 1,
    attentionDs: [],
    numHeads: 2,
    dropout: 0,
    scaleShiftNorm: true,
    resblockUpdown: true,
  },
  small: {
    condMode: 'concat',
    baseChannels: 32,
    channelMult: [1, 2, 2],
    numResBlocks: 2,
    attentionDs: [4],
    numHeads: 4,
    dropout: 0.1,
    scaleShiftNorm: true,
    resblockUpdown: true,
  },
  // 64 px with the paper's layout: four levels (64, 32, 16, 8 px), attention at 16 and 8 px
  small64: {
    condMode: 'concat',
    baseChannels: 32,
    channelMult: [1, 2, 3, 4],
    numResBlocks: 2,
    attentionDs: [4, 8],
    numHeads: 4,
    dropout: 0.1,
    scaleShiftNorm: true,
    resblockUpdown: true,
  },
  paper: {
    condMode: 'concat',
    baseChannels: 128,
    channelMult: [1, 2, 4],
    numResBlocks: 2,
    attentionDs: [4],
    numHeads: 8,
    dropout: 0.1,
    scaleShiftNorm: true,
    resblockUpdown: true,
  },
};
export type UNetPreset = keyof typeof UNET_PRESETS;
export const UNET_PRESET_NAMES = ['tiny', 'small', 'small64', 'paper'] as const satisfies readonly UNetPreset[];

/** GroupNorm with up to 32 groups (ADM's GroupNorm32), fewer when channels are few. */
function norm(channels: number): nn.GroupNorm {
  let g = Math.min(32, channels);
  while (channels % g) g--;
  return new nn.GroupNorm(g, channels);
}

function zeroModule<M extends nn.AnyModule>(m: M): M {
  for (const p of m.parameters()) nn.init.zeros_(p);
  return m;
}

/** Sinusoidal embedding of integer timesteps [B] -> [B, dim] (cos first, as in ADM). */
export function timestepEmbedding(t: Tensor, dim: number, maxPeriod = 10000): Tensor {
  return torch.tidy(() => {
    const half = Math.floor(dim / 2);
    const freqs = torch
      .arange(0, half, 1, { device: t.device })
      .mul(-Math.log(maxPeriod) / half)
      .exp();
    const args = t.float().unsqueeze(1).mul(freqs.unsqueeze(0));
    const emb = torch.cat([args.cos(), args.sin()], 1);
    return dim % 2 ? torch.pad(emb, [0, 1]) : emb;
  });
}

type Resample = 'none' | 'up' | 'down';

export class ResBlock extends nn.Module<[Tensor, Tensor]> {
  inNorm: nn.GroupNorm;
  inConv: nn.Conv2d;
  emb: nn.Linear;
  outNorm: nn.GroupNorm;
  dropout: nn.Dropout;
  outConv: nn.Conv2d;
  skip: nn.Conv2d | null;
  constructor(
    cin: number,
    embDim: number,
    cout: number,
    readonly o: { dropout: number; scaleShift: boolean; resample: Resample },
  ) {
    super();
    this.inNorm = this.registerModule('in_norm', norm(cin));
    this.inConv = this.registerModule('in_conv', new nn.Conv2d(cin, cout, 3, { padding: 1 }));
    this.emb = this.registerModule('emb', new nn.Linear(embDim, o.scaleShift ? 2 * cout : cout));
    this.outNorm = this.registerModule('out_norm', norm(cout));
    this.dropout = this.registerModule('dropout', new nn.Dropout(o.dropout));
    this.outConv = this.registerModule('out_conv', zeroModule(new nn.Conv2d(cout, cout, 3, { padding: 1 })));
    this.skip = cin !== cout ? this.registerModule('skip', new nn.Conv2d(cin, cout, 1)) : null;
  }
  private resample(x: Tensor): Tensor {
    if (this.o.resample === 'up') return torch.interpolate(x, { scaleFactor: 2, mode: 'nearest' });
    if (this.o.resample === 'down') return torch.avgPool2d(x, 2);
    return x;
  }
  forward(x: Tensor, emb: Tensor): Tensor {
    let h = torch.silu(this.inNorm.call(x));
    // ADM resamples between the norm and the conv, and resamples the skip path the same way.
    h = this.inConv.call(this.resample(h));
    const xs = this.resample(x);
    const e = this.emb.call(torch.silu(emb)).unsqueeze(-1).unsqueeze(-1);
    if (this.o.scaleShift) {
      const [scale, shift] = e.chunk(2, 1);
      h = this.outNorm.call(h).mul(scale!.add(1)).add(shift!);
    } else {
      h = this.outNorm.call(h.add(e));
    }
    h = this.outConv.call(this.dropout.call(torch.silu(h)));
    return (this.skip ? this.skip.call(xs) : xs).add(h);
  }
}

export class AttentionBlock extends nn.Module {
  norm: nn.GroupNorm;
  qkv: nn.Conv2d;
  proj: nn.Conv2d;
  constructor(
    readonly channels: number,
    readonly heads: number,
  ) {
    super();
    if (channels % heads) throw new RangeError(`attention: ${channels} channels not divisible by ${heads} heads`);
    this.norm = this.registerModule('norm', norm(channels));
    this.qkv = this.registerModule('qkv', new nn.Conv2d(channels, 3 * channels, 1));
    this.proj = this.registerModule('proj', zeroModule(new nn.Conv2d(channels, channels, 1)));
  }
  forward(x: Tensor): Tensor {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    const d = c / this.heads;
    // [B, 3, heads, d, HW] -> q, k, v as [B, heads, HW, d]
    const qkv = this.qkv
      .call(this.norm.call(x))
      .reshape(b, 3, this.heads, d, h * w)
      .permute(1, 0, 2, 4, 3);
    const [q, k, v] = qkv.unbind(0) as [Tensor, Tensor, Tensor];
    const out = torch.scaledDotProductAttention(q, k, v).permute(0, 1, 3, 2).reshape(b, c, h, w);
    return x.add(this.proj.call(out));
  }
}

export class Downsample extends nn.Module {
  conv: nn.Conv2d;
  constructor(c: number) {
    super();
    this.conv = this.registerModule('conv', new nn.Conv2d(c, c, 3, { stride: 2, padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return this.conv.call(x);
  }
}

export class Upsample extends nn.Module {
  conv: nn.Conv2d;
  constructor(c: number) {
    super();
    this.conv = this.registerModule('conv', new nn.Conv2d(c, c, 3, { padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return this.conv.call(torch.interpolate(x, { scaleFactor: 2, mode: 'nearest' }));
  }
}

type Layer = ResBlock | AttentionBlock | Downsample | Upsample | nn.Conv2d;

/** A sequence of layers at one resolution; residual blocks get the embedding. */
export class Stage extends nn.Module<[Tensor, Tensor]> {
  constructor(readonly layers: Layer[]) {
    super();
    layers.forEach((l, i) => this.registerModule(String(i), l));
  }
  forward(x: Tensor, emb: Tensor): Tensor {
    let h = x;
    for (const l of this.layers) h = l instanceof ResBlock ? l.call(h, emb) : l.call(h);
    return h === x ? x.alias() : h;
  }
}

/**
 * The ADM UNet (Dhariwal & Nichol) with classifier-free guidance inputs. Args: a UNetConfig (see
 * unetConfig() for the presets). forward(x [B, C, H, W], t [B] int64, cond [B, condDim], maps
 * [B, K, H, W]) -> [B, C, H, W], the predicted noise (or v).
 */
export class UNet extends nn.Module<[Tensor, Tensor, (Tensor | null)?, (Tensor | null)?]> {
  readonly config: UNetConfig;
  readonly timeEmbed: nn.Sequential;
  readonly condEmbed: nn.Sequential | null;
  readonly input: nn.ModuleList<Stage>;
  readonly middle: Stage;
  readonly output: nn.ModuleList<Stage>;
  readonly outNorm: nn.GroupNorm;
  readonly outConv: nn.Conv2d;

  constructor(config: UNetConfig) {
    super();
    this.config = config;
    const { baseChannels: mc, channelMult, numResBlocks, attentionDs, numHeads, dropout } = config;
    if (config.imageSize % 2 ** (channelMult.length - 1)) {
      throw new RangeError(
        `image size ${config.imageSize} is not divisible by 2^${channelMult.length - 1} (channel mults ${channelMult.join(',')})`,
      );
    }
    const tdim = 4 * mc;
    this.timeEmbed = this.registerModule(
      'time_embed',
      new nn.Sequential(new nn.Linear(mc, tdim), new nn.SiLU(), new nn.Linear(tdim, tdim)),
    );
    this.condEmbed =
      config.condDim > 0
        ? this.registerModule(
            'cond_embed',
            new nn.Sequential(new nn.Linear(config.condDim, 2 * mc), new nn.SiLU(), new nn.Linear(2 * mc, tdim)),
          )
        : null;
    const embDim = this.condEmbed && config.condMode === 'concat' ? 2 * tdim : tdim;
    const block = (cin: number, cout: number, resample: Resample = 'none') =>
      new ResBlock(cin, embDim, cout, { dropout, scaleShift: config.scaleShiftNorm, resample });

    this.input = this.registerModule('input_blocks', new nn.ModuleList<Stage>());
    this.input.append(new Stage([new nn.Conv2d(config.channels + config.spatialCondChannels, mc, 3, { padding: 1 })]));
    const skips = [mc];
    let ch = mc,
      ds = 1;
    channelMult.forEach((mult, level) => {
      for (let r = 0; r < numResBlocks; r++) {
        const layers: Layer[] = [block(ch, mult * mc)];
        ch = mult * mc;
        if (attentionDs.includes(ds)) layers.push(new AttentionBlock(ch, numHeads));
        this.input.append(new Stage(layers));
        skips.push(ch);
      }
      if (level !== channelMult.length - 1) {
        this.input.append(new Stage([config.resblockUpdown ? block(ch, ch, 'down') : new Downsample(ch)]));
        skips.push(ch);
        ds *= 2;
      }
    });
    this.middle = this.registerModule(
      'middle_block',
      new Stage([block(ch, ch), new AttentionBlock(ch, numHeads), block(ch, ch)]),
    );
    this.output = this.registerModule('output_blocks', new nn.ModuleList<Stage>());
    [...channelMult.entries()].reverse().forEach(([level, mult]) => {
      for (let r = 0; r <= numResBlocks; r++) {
        const layers: Layer[] = [block(ch + skips.pop()!, mc * mult)];
        ch = mc * mult;
        if (attentionDs.includes(ds)) layers.push(new AttentionBlock(ch, numHeads));
        if (level > 0 && r === numResBlocks) {
          layers.push(config.resblockUpdown ? block(ch, ch, 'up') : new Upsample(ch));
          ds /= 2;
        }
        this.output.append(new Stage(layers));
      }
    });
    this.outNorm = this.registerModule('out_norm', norm(ch));
    this.outConv = this.registerModule('out_conv', zeroModule(new nn.Conv2d(ch, config.channels, 3, { padding: 1 })));
  }

  /**
   * x [B, C, H, W] noisy images, t [B] integer timesteps, cond [B, condDim] image-level condition,
   * maps [B, spatialCondChannels, H, W] spatial condition. Zero cond/maps are the null condition.
   */
  forward(x: Tensor, t: Tensor, cond?: Tensor | null, maps?: Tensor | null): Tensor {
    return this.run(x, t, cond, maps, null)!;
  }

  /** Names of the blocks whose activations forwardFeatures can return. */
  blockNames(): string[] {
    return [
      ...this.input.items.map((_, i) => `input.${i}`),
      'middle',
      ...this.output.items.map((_, i) => `output.${i}`),
    ];
  }

  /**
   * The activation [B, C', h, w] after one block ('input.N', 'middle' or 'output.N'), running the
   * network only as far as needed: the "diffusion features" of a trained model.
   */
  forwardFeatures(x: Tensor, t: Tensor, block: string, cond?: Tensor | null, maps?: Tensor | null): Tensor {
    if (!this.blockNames().includes(block))
      throw new RangeError(`unknown UNet block '${block}'; choose one of ${this.blockNames().join(', ')}`);
    return this.run(x, t, cond, maps, block)!;
  }

  private run(
    x: Tensor,
    t: Tensor,
    cond: Tensor | null | undefined,
    maps: Tensor | null | undefined,
    stopAt: string | null,
  ): Tensor | null {
    const c = this.config;
    const [b, ch, hh, ww] = x.shape as [number, number, number, number];
    if (ch !== c.channels || hh !== c.imageSize || ww !== c.imageSize) {
      throw new RangeError(
        `UNet expects [B, ${c.channels}, ${c.imageSize}, ${c.imageSize}] images, got [${x.shape.join(', ')}]`,
      );
    }
    if (c.condDim > 0 && (!cond || cond.shape[0] !== b || cond.shape[1] !== c.condDim)) {
      throw new RangeError(
        `UNet expects a condition [${b}, ${c.condDim}], got ${cond ? `[${cond.shape.join(', ')}]` : 'none'}`,
      );
    }
    if (c.spatialCondChannels > 0 && (!maps || maps.shape.join() !== [b, c.spatialCondChannels, hh, ww].join())) {
      throw new RangeError(
        `UNet expects condition maps [${b}, ${c.spatialCondChannels}, ${hh}, ${ww}], got ${maps ? `[${maps.shape.join(', ')}]` : 'none'}`,
      );
    }
    let emb = this.timeEmbed.call(timestepEmbedding(t, c.baseChannels));
    if (this.condEmbed && cond) {
      const ce = this.condEmbed.call(cond);
      emb = c.condMode === 'concat' ? torch.cat([emb, ce], 1) : emb.add(ce);
    }
    let h = c.spatialCondChannels > 0 ? torch.cat([x, maps!.to(x.dtype)], 1) : x;
    const hs: Tensor[] = [];
    for (const [i, s] of this.input.items.entries()) {
      h = s.call(h, emb);
      if (stopAt === `input.${i}`) return h;
      hs.push(h);
    }
    h = this.middle.call(h, emb);
    if (stopAt === 'middle') return h;
    for (const [i, s] of this.output.items.entries()) {
      h = s.call(torch.cat([h, hs.pop()!], 1), emb);
      if (stopAt === `output.${i}`) return h;
    }
    return this.outConv.call(torch.silu(this.outNorm.call(h)));
  }
}

export function unetConfig(
  preset: UNetPreset,
  o: Pick<UNetConfig, 'imageSize' | 'channels'> & Partial<UNetConfig>,
): UNetConfig {
  const base = UNET_PRESETS[preset];
  if (!base)
    throw new TypeError(`unknown model preset '${String(preset)}'; expected ${Object.keys(UNET_PRESETS).join(', ')}`);
  return { spatialCondChannels: 0, condDim: 0, ...base, ...o };
}
