// What the samplers do with the network's output before a step, written once over any array with Tensor's
// arithmetic (scheduler-math.ts's Vec): libtorch tensors in the project, Float32Arrays in the exported web
// page. No imports but a type, so that a browser runs it as it is.
import type { Vec } from './scheduler-math.js';

/** Classifier-free guidance: eps_u + s (eps_c - eps_u); s = 0 unconditional, s = 1 purely conditional. */
export function guidedNoise<V extends Vec<V>>(epsCond: V, epsUncond: V, scale: number): V {
  return epsUncond.add(epsCond.sub(epsUncond).mul(scale));
}

/**
 * The noise estimate from the network's output at abar_t (the sampling abar): the output itself for an eps
 * model, sqrt(1 - abar) x_t + sqrt(abar) v for a v model.
 */
export function noiseFromOutput<V extends Vec<V>>(prediction: 'eps' | 'v', out: V, xt: V, abar: number): V {
  if (prediction === 'eps') return out;
  return xt.mul(Math.sqrt(1 - abar)).add(out.mul(Math.sqrt(abar)));
}
