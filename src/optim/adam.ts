// Adam and AdamW (decoupled weight decay), as torch.optim, updated with multi-tensor kernels.
import * as torch from '../torch/index.js';
import { foreach, type Tensor } from '../torch/index.js';
import { Optimizer } from './optimizer.js';

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

abstract class AdamBase extends Optimizer<AdamHyper> {
  constructor(
    params: ConstructorParameters<typeof Optimizer<AdamHyper>>[0],
    o: Partial<AdamHyper>,
    defaults: AdamHyper,
  ) {
    super(params, { ...defaults, ...o });
    for (const g of this.groups) {
      const h = g.hyper;
      if (!(h.lr >= 0)) throw new RangeError(`invalid learning rate ${h.lr}`);
      if (!(h.beta1 >= 0 && h.beta1 < 1 && h.beta2 >= 0 && h.beta2 < 1))
        throw new RangeError(`invalid betas (${h.beta1}, ${h.beta2})`);
      if (!(h.eps >= 0)) throw new RangeError(`invalid eps ${h.eps}`);
    }
  }

  protected abstract decay(params: Tensor[], grads: Tensor[], h: AdamHyper): Tensor[];

  protected update(params: Tensor[], grads: Tensor[], h: AdamHyper, step: number): void {
    const g = this.decay(params, grads, h);
    const m = params.map((p) => this.buffer(p, 'exp_avg', () => torch.zerosLike(p)));
    const v = params.map((p) => this.buffer(p, 'exp_avg_sq', () => torch.zerosLike(p)));
    foreach.mul_(m, h.beta1);
    foreach.add_(m, g, 1 - h.beta1);
    foreach.mul_(v, h.beta2);
    foreach.addcmul_(v, g, g, 1 - h.beta2);
    const bc1 = 1 - h.beta1 ** step;
    const bc2 = 1 - h.beta2 ** step;
    const denom = foreach.sqrt(v);
    foreach.divScalar_(denom, Math.sqrt(bc2));
    foreach.addScalar_(denom, h.eps);
    foreach.addcdiv_(params, m, denom, -h.lr / bc1);
  }
}

/** Adam; weightDecay adds an L2 term to the gradient (coupled), as torch.optim.Adam. */
export class Adam extends AdamBase {
  constructor(params: ConstructorParameters<typeof Optimizer<AdamHyper>>[0], o: Partial<AdamHyper> = {}) {
    super(params, o, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
  }
  protected decay(params: Tensor[], grads: Tensor[], h: AdamHyper): Tensor[] {
    if (h.weightDecay === 0) return grads;
    return grads.map((g, i) => g.add(params[i]!, h.weightDecay));
  }
}

/** AdamW: weight decay applied to the weights directly, p <- p (1 - lr wd), as torch.optim.AdamW. */
export class AdamW extends AdamBase {
  constructor(params: ConstructorParameters<typeof Optimizer<AdamHyper>>[0], o: Partial<AdamHyper> = {}) {
    super(params, o, { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 1e-2 });
  }
  protected decay(params: Tensor[], grads: Tensor[], h: AdamHyper): Tensor[] {
    if (h.weightDecay !== 0) foreach.mul_(params, 1 - h.lr * h.weightDecay);
    return grads;
  }
}
