// A small Vision Transformer: the dense g of LOST and STEGO. The paper's f works on DINO's ViT, whose patch
// tokens, and the keys of its last attention layer, separate objects; a convolutional g's patches follow
// position more than content (docs/self-annotation.md). Layout after Dosovitskiy et al. and DINO's
// vision_transformer.py (pre-norm blocks, a CLS token, learned position embeddings interpolated to other
// grid sizes, so DINO's smaller local crops go through the same network), sized for 32-64 px images.
import * as nn from '../../nn/index.js';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';

export interface ViTConfig {
  inChannels: number;
  /** the side the position embeddings are learned for; other sides (multiples of patchSize) interpolate them */
  imageSize: number;
  patchSize: number;
  dim: number;
  depth: number;
  heads: number;
  /** hidden width of each block's MLP over dim */
  mlpRatio: number;
}

/** What a block's attention can report besides its output. */
interface AttentionParts {
  /** the keys, heads concatenated: [B, N, D] */
  keys?: Tensor;
  /** the attention weights: [B, heads, N, N] */
  weights?: Tensor;
}

class Attention extends nn.Module<[Tensor, { parts?: boolean }?], { out: Tensor } & AttentionParts> {
  readonly qkv: nn.Linear;
  readonly proj: nn.Linear;
  constructor(
    readonly dim: number,
    readonly heads: number,
  ) {
    super();
    if (dim % heads) throw new RangeError(`ViT width ${dim} is not divisible by ${heads} heads`);
    this.qkv = this.registerModule('qkv', new nn.Linear(dim, 3 * dim));
    this.proj = this.registerModule('proj', new nn.Linear(dim, dim));
  }
  forward(x: Tensor, o: { parts?: boolean } = {}): { out: Tensor } & AttentionParts {
    const [b, n] = x.shape as [number, number];
    const hd = this.dim / this.heads;
    const qkv = this.qkv.call(x).reshape(b, n, 3, this.heads, hd).permute(2, 0, 3, 1, 4);
    const [q, k, v] = [qkv.select(0, 0), qkv.select(0, 1), qkv.select(0, 2)] as [Tensor, Tensor, Tensor];
    const merge = (t: Tensor) => t.transpose(1, 2).reshape(b, n, this.dim);
    if (!o.parts) return { out: this.proj.call(merge(torch.scaledDotProductAttention(q, k, v))) };
    // The weights are asked for (attention maps, LOST's keys): computed by hand, the same product.
    const weights = torch.softmax(q.matmul(k.transpose(2, 3)).mul(1 / Math.sqrt(hd)), 3);
    return { out: this.proj.call(merge(weights.matmul(v))), keys: merge(k), weights };
  }
}

class Block extends nn.Module<[Tensor, { parts?: boolean }?], { x: Tensor } & AttentionParts> {
  readonly norm1: nn.LayerNorm;
  readonly attn: Attention;
  readonly norm2: nn.LayerNorm;
  readonly fc1: nn.Linear;
  readonly fc2: nn.Linear;
  constructor(dim: number, heads: number, mlpRatio: number) {
    super();
    this.norm1 = this.registerModule('norm1', new nn.LayerNorm(dim, 1e-6));
    this.attn = this.registerModule('attn', new Attention(dim, heads));
    this.norm2 = this.registerModule('norm2', new nn.LayerNorm(dim, 1e-6));
    this.fc1 = this.registerModule('fc1', new nn.Linear(dim, Math.round(dim * mlpRatio)));
    this.fc2 = this.registerModule('fc2', new nn.Linear(Math.round(dim * mlpRatio), dim));
  }
  forward(x: Tensor, o: { parts?: boolean } = {}): { x: Tensor } & AttentionParts {
    const a = this.attn.call(this.norm1.call(x), o);
    const h = x.add(a.out);
    return { ...a, x: h.add(this.fc2.call(torch.gelu(this.fc1.call(this.norm2.call(h))))) };
  }
}

/** The tokens of the last block and what its attention saw, for an image batch. */
export interface ViTOutput {
  /** the CLS token after the final norm: the image-level feature [B, D] */
  features: Tensor;
  /** patch tokens [B, h, w, D] (after the final norm when taken from the last block) */
  patches: Tensor;
}

export class VisionTransformer extends nn.Module<[Tensor, number?], ViTOutput> {
  readonly patchEmbed: nn.Conv2d;
  readonly clsToken: Tensor;
  readonly posEmbed: Tensor;
  /** the embedding a masked patch is replaced by (iBOT's masked patch distillation) */
  readonly maskToken: Tensor;
  readonly blocks: nn.ModuleList<Block>;
  readonly norm: nn.LayerNorm;

  constructor(readonly config: ViTConfig) {
    super();
    const { inChannels, imageSize, patchSize, dim, depth, heads, mlpRatio } = config;
    if (imageSize % patchSize)
      throw new RangeError(`ViT image size ${imageSize} is not a multiple of the patch size ${patchSize}`);
    const grid = imageSize / patchSize;
    this.patchEmbed = this.registerModule(
      'patch_embed',
      new nn.Conv2d(inChannels, dim, patchSize, { stride: patchSize }),
    );
    this.clsToken = this.registerParameter('cls_token', torch.zeros([1, 1, dim]));
    this.posEmbed = this.registerParameter('pos_embed', torch.zeros([1, 1 + grid * grid, dim]));
    this.maskToken = this.registerParameter('mask_token', torch.zeros([1, dim]));
    for (const p of [this.clsToken, this.posEmbed]) nn.init.truncNormal_(p, 0, 0.02);
    this.blocks = this.registerModule('blocks', new nn.ModuleList<Block>());
    for (let i = 0; i < depth; i++) this.blocks.append(new Block(dim, heads, mlpRatio));
    this.norm = this.registerModule('norm', new nn.LayerNorm(dim, 1e-6));
    for (const [, m] of this.namedModules())
      if (m instanceof nn.Linear) {
        nn.init.truncNormal_(m.weight, 0, 0.02);
        if (m.bias) nn.init.zeros_(m.bias);
      }
  }

  get featureDim(): number {
    return this.config.dim;
  }
  /** the number of blocks (what a patch "stage" indexes) */
  get stages(): { length: number } {
    return { length: this.config.depth };
  }

  /** Position embeddings for an h x w grid: the learned ones, bilinearly resized when the grid differs. */
  private positions(h: number, w: number): Tensor {
    const g = this.config.imageSize / this.config.patchSize;
    if (h === g && w === g) return this.posEmbed;
    const cls = this.posEmbed.narrow(1, 0, 1);
    const grid = this.posEmbed
      .narrow(1, 1, g * g)
      .reshape(1, g, g, this.config.dim)
      .permute(0, 3, 1, 2);
    const resized = torch.interpolate(grid, { size: [h, w], mode: 'bilinear', alignCorners: false });
    return torch.cat([cls, resized.permute(0, 2, 3, 1).reshape(1, h * w, this.config.dim)], 1);
  }

  /**
   * The token sequence [B, 1 + h*w, D] entering the blocks; `mask` [B, h*w] (true: masked) replaces those
   * patches' embeddings by the mask token before the positions are added.
   */
  embed(x: Tensor, mask?: Tensor): { tokens: Tensor; h: number; w: number } {
    const p = this.patchEmbed.call(x);
    const [b, d, h, w] = p.shape as [number, number, number, number];
    let patches = p.flatten(2).transpose(1, 2);
    if (mask) {
      if (mask.shape[0] !== b || mask.shape[1] !== h * w)
        throw new RangeError(`patch mask [${mask.shape.join(', ')}] for ${b} images of ${h}x${w} patches`);
      patches = torch.where(mask.unsqueeze(2), this.maskToken.reshape(1, 1, d).expand([b, h * w, d]), patches);
    }
    const tokens = torch.cat([this.clsToken.expand([b, 1, d]), patches], 1).add(this.positions(h, w));
    return { tokens, h, w };
  }

  /** All tokens after the final norm, [B, 1 + h*w, D] (CLS first), with patches masked as in embed(). */
  tokens(x: Tensor, mask?: Tensor): Tensor {
    let { tokens } = this.embed(x, mask);
    for (const blk of this.blocks.items) tokens = blk.call(tokens).x;
    return this.norm.call(tokens);
  }

  /**
   * The CLS token as the image feature, and the patch tokens of block `block` (default the last, after the
   * final norm) as [B, h, w, D].
   */
  forward(x: Tensor, block = -1): ViTOutput {
    const at = block < 0 ? this.config.depth + block : block;
    if (at < 0 || at >= this.config.depth)
      throw new RangeError(`block ${block} does not exist (the ViT has ${this.config.depth})`);
    const { tokens: t0, h, w } = this.embed(x);
    let t = t0;
    let picked: Tensor | null = null;
    for (const [i, blk] of this.blocks.items.entries()) {
      t = blk.call(t).x;
      if (i === at) picked = i === this.config.depth - 1 ? null : t;
    }
    const out = this.norm.call(t);
    const patchTokens = (picked ?? out).narrow(1, 1, h * w);
    return { features: out.select(1, 0), patches: patchTokens.reshape(x.shape[0]!, h, w, this.config.dim) };
  }

  /**
   * What the last block's attention sees: its keys as a patch map [B, h, w, D] (LOST's features) and the
   * CLS token's attention over the patches, per head [B, heads, h, w] (DINO's attention maps); with the
   * CLS feature of the same pass.
   */
  lastAttention(x: Tensor): { features: Tensor; keys: Tensor; cls: Tensor } {
    const { tokens: t0, h, w } = this.embed(x);
    let t = t0;
    const last = this.blocks.items.length - 1;
    for (let i = 0; i < last; i++) t = this.blocks.items[i]!.call(t).x;
    const parts = this.blocks.items[last]!.call(t, { parts: true });
    const b = x.shape[0]!;
    return {
      features: this.norm.call(parts.x.select(1, 0)),
      keys: parts.keys!.narrow(1, 1, h * w).reshape(b, h, w, this.config.dim),
      cls: parts
        .weights!.select(2, 0)
        .narrow(2, 1, h * w)
        .reshape(b, this.config.heads, h, w),
    };
  }
}
