// SGD with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD.
import { foreach, type Tensor } from '../torch/index.js';
import { Optimizer } from './optimizer.js';

export interface SGDHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
}

/** Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay, as torch.optim.SGD. */
export class SGD extends Optimizer<SGDHyper> {
  constructor(params: ConstructorParameters<typeof Optimizer<SGDHyper>>[0], o: Partial<SGDHyper> & { lr: number }) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...o });
    for (const g of this.groups) {
      if (g.hyper.nesterov && (g.hyper.momentum <= 0 || g.hyper.dampening !== 0)) {
        throw new RangeError('SGD: Nesterov momentum needs momentum > 0 and zero dampening');
      }
    }
  }

  protected update(params: Tensor[], grads: Tensor[], h: SGDHyper, step: number): void {
    let d = h.weightDecay !== 0 ? grads.map((g, i) => g.add(params[i]!, h.weightDecay)) : grads;
    if (h.momentum !== 0) {
      const bufs = params.map((p, i) => this.buffer(p, 'momentum_buffer', () => d[i]!.clone().detach()));
      // The first step only initialises the buffer with the gradient, as in PyTorch.
      if (step > 1) {
        foreach.mul_(bufs, h.momentum);
        foreach.add_(bufs, d, 1 - h.dampening);
      }
      d = h.nesterov ? d.map((g, i) => g.add(bufs[i]!, h.momentum)) : bufs;
    }
    foreach.add_(params, d, -h.lr);
  }
}
