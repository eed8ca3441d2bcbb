// The engine benchmark's workload, shared by the timing worker and the profiler: the anchor UNet, one
// DDPM training step (noise a fixed batch at random timesteps, MSE on the noise, Adam) and one forward.
import * as optim from '../src/optim/index.js';
import * as torch from '../src/torch/index.js';
import { AnchorUNet } from './anchor-unet.js';

export interface AnchorWorkload {
  model: AnchorUNet;
  /** one training step; returns the loss */
  step(): number;
  /** one forward pass in eval mode without autograd */
  forward(): void;
  dispose(): void;
}

export function anchorWorkload(dev: torch.Device, batch: number): AnchorWorkload {
  const model = new AnchorUNet().to(dev);
  const x0 = torch.keep(torch.rand([batch, 1, 32, 32], { device: dev }).mul(2).sub(1));
  const abar = torch.keep(torch.linspace(1e-4, 0.02, 1000, { device: dev }).rsub(1).cumprod(0));
  const opt = new optim.Adam(model.parameters(), { lr: 2e-4 });
  const tFixed = torch.keep(torch.randint(0, 1000, [batch], { device: dev }));
  return {
    model,
    step: () =>
      torch.tidy(() => {
        model.train();
        const t = torch.randint(0, 1000, [batch], { device: dev });
        const eps = torch.randnLike(x0);
        const ab = abar.index([t]).reshape(batch, 1, 1, 1);
        const xt = ab.sqrt().mul(x0).add(ab.rsub(1).sqrt().mul(eps));
        const loss = torch.mseLoss(model.call(xt, t), eps);
        opt.zeroGrad();
        loss.backward();
        opt.step();
        return loss.item();
      }),
    forward: () => {
      model.eval();
      torch.noGrad(() => torch.tidy(() => model.call(x0, tFixed)));
    },
    dispose: () => {
      for (const t of [x0, abar, tFixed]) t.dispose();
      model.dispose();
    },
  };
}
