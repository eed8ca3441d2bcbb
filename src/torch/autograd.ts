// Grad-mode scopes and multi-root backward.
import { native } from './native.js';
import type { Tensor } from './tensor.js';

/** Runs fn with gradient recording off (like `with torch.no_grad()`). */
export function noGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(false);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Runs fn with gradient recording on, also inside noGrad. */
export function enableGrad<T>(fn: () => T): T {
  const prev = native.setGradEnabled(true);
  try {
    return fn();
  } finally {
    native.setGradEnabled(prev);
  }
}

export function isGradEnabled(): boolean {
  return native.isGradEnabled();
}

export function setGradEnabled(flag: boolean): boolean {
  return native.setGradEnabled(flag);
}

/** Accumulates gradients of several roots at once (grads default to ones for scalar roots). */
export function backward(
  roots: readonly Tensor[],
  grads?: readonly (Tensor | null)[],
  opts: { retainGraph?: boolean } = {},
): void {
  native.backward(
    roots.map((r) => r.handle),
    (grads ?? []).map((g) => g?.handle ?? null),
    opts.retainGraph ?? false,
    false,
  );
}
