// Shared test helpers: tolerant comparisons and a finite-difference gradient check.
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';

export function flat(t: Tensor): number[] {
  return Array.from(t.toTypedArray() as ArrayLike<number | bigint>, Number);
}

export function close(actual: number | number[] | Tensor, expected: number | number[], tol = 1e-5, msg = ''): void {
  const a = typeof actual === 'number' ? [actual] : Array.isArray(actual) ? actual : flat(actual);
  const e = typeof expected === 'number' ? [expected] : expected;
  assert.equal(a.length, e.length, `${msg} length ${a.length} vs ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const ok = Math.abs(a[i]! - e[i]!) <= tol * Math.max(1, Math.abs(e[i]!));
    assert.ok(ok, `${msg} element ${i}: ${a[i]} vs expected ${e[i]} (tol ${tol})`);
  }
}

/**
 * Checks d(sum(w * f(inputs)))/d(inputs) from autograd against central differences in float64.
 * w is a fixed random weighting so every output element contributes differently.
 */
export function gradcheck(
  name: string,
  f: (...xs: Tensor[]) => Tensor,
  inputs: Tensor[],
  o: { eps?: number; tol?: number } = {},
): void {
  const eps = o.eps ?? 1e-6;
  const tol = o.tol ?? 1e-5;
  torch.tidy(() => {
    const xs = inputs.map((x) => x.detach().clone().requiresGrad_(true));
    const out0 = f(...xs);
    const w = torch.randn(out0.shape, { dtype: 'float64', generator: new torch.Generator(123) });
    out0.mul(w).sum().backward();
    const analytic = xs.map((x) => flat(x.grad!));
    const objective = (vals: Tensor[]) =>
      torch.noGrad(() =>
        torch.tidy(() =>
          f(...vals)
            .mul(w)
            .sum()
            .item(),
        ),
      );
    xs.forEach((x, k) => {
      const base = flat(x);
      const numeric: number[] = [];
      for (let i = 0; i < base.length; i++) {
        const eval_ = (delta: number) => {
          const v = base.slice();
          v[i]! += delta;
          const xi = torch.tensor(Float64Array.from(v), { shape: x.shape });
          return objective(xs.map((y, j) => (j === k ? xi : y.detach())));
        };
        numeric.push((eval_(eps) - eval_(-eps)) / (2 * eps));
      }
      const a = analytic[k]!;
      for (let i = 0; i < a.length; i++) {
        const err = Math.abs(a[i]! - numeric[i]!);
        assert.ok(
          err <= tol * Math.max(1, Math.abs(numeric[i]!)),
          `${name}: d/d input${k}[${i}] autograd ${a[i]} vs numeric ${numeric[i]}`,
        );
      }
    });
  });
}

export function randn64(shape: number[], seed: number): Tensor {
  return torch.randn(shape, { dtype: 'float64', generator: new torch.Generator(seed) });
}

/**
 * Two states are the same bits, tensor by tensor (the resume tests: interrupted and resumed equals
 * uninterrupted). Every tensor of `expected` must be in `actual`; `what` prefixes the messages.
 */
export function sameState(actual: ReadonlyMap<string, Tensor>, expected: ReadonlyMap<string, Tensor>, what = ''): void {
  for (const [k, t] of expected) {
    const a = actual.get(k);
    assert.ok(a, `${what}${k} is missing`);
    assert.deepEqual(flat(a), flat(t), `${what}${k}`);
  }
}
