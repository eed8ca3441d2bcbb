// The benchmark model of ../shared/anchors/pytorch_unet.py, layer for layer (1,539,329 parameters),
// so the engine benchmark compares like with like.
import * as nn from '../src/nn/index.js';
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';

export function timestepEmbedding(t: Tensor, dim = 32): Tensor {
  return torch.tidy(() => {
    const half = dim / 2;
    const freqs = torch
      .arange(0, half, 1, { device: t.device })
      .mul(-Math.log(10000) / half)
      .exp();
    const args = t.float().unsqueeze(1).mul(freqs.unsqueeze(0));
    return torch.cat([args.sin(), args.cos()], 1);
  });
}

class ResBlock extends nn.Module<[Tensor, Tensor]> {
  n1: nn.GroupNorm;
  c1: nn.Conv2d;
  t: nn.Linear;
  n2: nn.GroupNorm;
  c2: nn.Conv2d;
  skip: nn.Conv2d | null;
  constructor(cin: number, cout: number, tdim = 128) {
    super();
    this.n1 = this.registerModule('n1', new nn.GroupNorm(8, cin));
    this.c1 = this.registerModule('c1', new nn.Conv2d(cin, cout, 3, { padding: 1 }));
    this.t = this.registerModule('t', new nn.Linear(tdim, cout));
    this.n2 = this.registerModule('n2', new nn.GroupNorm(8, cout));
    this.c2 = this.registerModule('c2', new nn.Conv2d(cout, cout, 3, { padding: 1 }));
    this.skip = cin !== cout ? this.registerModule('skip', new nn.Conv2d(cin, cout, 1)) : null;
  }
  forward(x: Tensor, temb: Tensor): Tensor {
    let h = this.c1.call(torch.silu(this.n1.call(x)));
    h = h.add(this.t.call(torch.silu(temb)).unsqueeze(-1).unsqueeze(-1));
    h = this.c2.call(torch.silu(this.n2.call(h)));
    return (this.skip ? this.skip.call(x) : x).add(h);
  }
}

class Attention extends nn.Module {
  n: nn.GroupNorm;
  qkv: nn.Conv2d;
  proj: nn.Conv2d;
  constructor(readonly c: number) {
    super();
    this.n = this.registerModule('n', new nn.GroupNorm(8, c));
    this.qkv = this.registerModule('qkv', new nn.Conv2d(c, 3 * c, 1));
    this.proj = this.registerModule('proj', new nn.Conv2d(c, c, 1));
  }
  forward(x: Tensor): Tensor {
    const [b, c, h, w] = x.shape as [number, number, number, number];
    const [q, k, v] = this.qkv
      .call(this.n.call(x))
      .reshape(b, 3, c, h * w)
      .unbind(1) as [Tensor, Tensor, Tensor];
    const att = torch.softmax(
      q
        .transpose(1, 2)
        .bmm(k)
        .mul(c ** -0.5),
      -1,
    );
    const out = v.bmm(att.transpose(1, 2)).reshape(b, c, h, w);
    return x.add(this.proj.call(out));
  }
}

class Upsample extends nn.Module {
  conv: nn.Conv2d;
  constructor(c: number) {
    super();
    // Named "1" like the PyTorch Sequential(Upsample, Conv2d), so state dicts line up.
    this.conv = this.registerModule('1', new nn.Conv2d(c, c, 3, { padding: 1 }));
  }
  forward(x: Tensor): Tensor {
    return this.conv.call(torch.interpolate(x, { scaleFactor: 2, mode: 'nearest' }));
  }
}

export class AnchorUNet extends nn.Module<[Tensor, Tensor]> {
  temb: nn.Sequential;
  cin: nn.Conv2d;
  down: nn.ModuleList<nn.AnyModule>;
  mid1: ResBlock;
  attn: Attention;
  mid2: ResBlock;
  up: nn.ModuleList<nn.AnyModule>;
  nout: nn.GroupNorm;
  cout: nn.Conv2d;
  constructor(ch = 32, mults = [1, 2, 2], nres = 2, tdim = 128) {
    super();
    this.temb = this.registerModule(
      'temb',
      new nn.Sequential(new nn.Linear(32, tdim), new nn.SiLU(), new nn.Linear(tdim, tdim)),
    );
    this.cin = this.registerModule('cin', new nn.Conv2d(1, ch, 3, { padding: 1 }));
    this.down = this.registerModule('down', new nn.ModuleList());
    const chans = [ch];
    let c = ch;
    mults.forEach((m, i) => {
      for (let r = 0; r < nres; r++) {
        this.down.append(new ResBlock(c, ch * m, tdim));
        c = ch * m;
        chans.push(c);
      }
      if (i !== mults.length - 1) {
        this.down.append(new nn.Conv2d(c, c, 3, { stride: 2, padding: 1 }));
        chans.push(c);
      }
    });
    this.mid1 = this.registerModule('mid1', new ResBlock(c, c, tdim));
    this.attn = this.registerModule('attn', new Attention(c));
    this.mid2 = this.registerModule('mid2', new ResBlock(c, c, tdim));
    this.up = this.registerModule('up', new nn.ModuleList());
    for (let i = mults.length - 1; i >= 0; i--) {
      for (let r = 0; r < nres + 1; r++) {
        this.up.append(new ResBlock(c + chans.pop()!, ch * mults[i]!, tdim));
        c = ch * mults[i]!;
      }
      if (i !== 0) this.up.append(new Upsample(c));
    }
    this.nout = this.registerModule('nout', new nn.GroupNorm(8, c));
    this.cout = this.registerModule('cout', new nn.Conv2d(c, 1, 3, { padding: 1 }));
  }

  forward(x: Tensor, t: Tensor): Tensor {
    const temb = this.temb.call(timestepEmbedding(t));
    let h = this.cin.call(x);
    const hs = [h];
    for (const m of this.down) {
      h = m instanceof ResBlock ? m.call(h, temb) : m.call(h);
      hs.push(h);
    }
    h = this.mid2.call(this.attn.call(this.mid1.call(h, temb)), temb);
    for (const m of this.up) {
      h = m instanceof ResBlock ? m.call(torch.cat([h, hs.pop()!], 1), temb) : m.call(h);
    }
    return this.cout.call(torch.silu(this.nout.call(h)));
  }
}
