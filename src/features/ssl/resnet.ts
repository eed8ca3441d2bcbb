// A small ResNet for 32x32 images: the self-supervised encoder's backbone. Its last stage (stride 4)
// gives dense patch features [B, h, w, D]; their average is the image feature.
import * as nn from '../../nn/index.js';
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';

export interface ResNetConfig {
  inChannels: number;
  widths: number[];
  blocksPerStage: number;
}

class BasicBlock extends nn.Module {
  c1: nn.Conv2d;
  b1: nn.BatchNorm2d;
  c2: nn.Conv2d;
  b2: nn.BatchNorm2d;
  down: nn.Sequential | null;
  constructor(cin: number, cout: number, stride: number) {
    super();
    this.c1 = this.registerModule('conv1', new nn.Conv2d(cin, cout, 3, { stride, padding: 1, bias: false }));
    this.b1 = this.registerModule('bn1', new nn.BatchNorm2d(cout));
    this.c2 = this.registerModule('conv2', new nn.Conv2d(cout, cout, 3, { padding: 1, bias: false }));
    this.b2 = this.registerModule('bn2', new nn.BatchNorm2d(cout));
    this.down =
      stride !== 1 || cin !== cout
        ? this.registerModule(
            'downsample',
            new nn.Sequential(new nn.Conv2d(cin, cout, 1, { stride, bias: false }), new nn.BatchNorm2d(cout)),
          )
        : null;
  }
  forward(x: Tensor): Tensor {
    const h = this.b2.call(this.c2.call(torch.relu(this.b1.call(this.c1.call(x)))));
    return torch.relu(h.add(this.down ? this.down.call(x) : x));
  }
}

export class SmallResNet extends nn.Module<[Tensor, number?], { features: Tensor; patches: Tensor }> {
  readonly stem: nn.Sequential;
  readonly stages: nn.ModuleList<BasicBlock>;
  constructor(readonly config: ResNetConfig) {
    super();
    const w = config.widths;
    this.stem = this.registerModule(
      'stem',
      new nn.Sequential(
        new nn.Conv2d(config.inChannels, w[0]!, 3, { padding: 1, bias: false }),
        new nn.BatchNorm2d(w[0]!),
        new nn.ReLU(),
      ),
    );
    this.stages = this.registerModule('stages', new nn.ModuleList<BasicBlock>());
    let cin = w[0]!;
    w.forEach((cout, s) => {
      for (let b = 0; b < config.blocksPerStage; b++) {
        this.stages.append(new BasicBlock(cin, cout, b === 0 && s > 0 ? 2 : 1));
        cin = cout;
      }
    });
  }
  get featureDim(): number {
    return this.config.widths.at(-1)!;
  }
  /**
   * features [B, D] (global average of the last stage) and patches [B, h, w, D'] from stage `patchStage`
   * (default the last; an earlier stage is finer and more local: at 48x48, stage 1 of three is 24x24)
   */
  forward(x: Tensor, patchStage = -1): { features: Tensor; patches: Tensor } {
    const at = patchStage < 0 ? this.stages.length + patchStage : patchStage;
    let h = this.stem.call(x);
    let patches: Tensor | null = null;
    for (const [i, b] of this.stages.items.entries()) {
      h = b.call(h);
      if (i === at) patches = h;
    }
    if (!patches)
      throw new RangeError(`patch stage ${patchStage} does not exist (the encoder has ${this.stages.length})`);
    return { features: h.mean([2, 3]), patches: patches.permute(0, 2, 3, 1) };
  }
}

/** SimCLR's projection head: the contrastive loss is computed on its output, features come before it. */
export class ProjectionHead extends nn.Module {
  readonly net: nn.Sequential;
  constructor(dim: number, hidden: number, out: number) {
    super();
    this.net = this.registerModule(
      'net',
      new nn.Sequential(new nn.Linear(dim, hidden), new nn.ReLU(), new nn.Linear(hidden, out)),
    );
  }
  forward(x: Tensor): Tensor {
    return this.net.call(x);
  }
}
