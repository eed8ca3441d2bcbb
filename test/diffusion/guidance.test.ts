// Classifier-free guidance: the combination, one doubled batch, and the single-pass shortcuts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { combineGuidance, guidedEps, NoiseSchedule } from '../../src/diffusion/index.js';
import * as torch from '../../src/torch/index.js';
import { close, flat } from '../helpers/check.js';

const schedule = new NoiseSchedule('linear', 1000);

// A fake network: the output is the condition's sum (per sample) plus x, so the conditional and the
// null-conditioned passes differ in a known way.
function fakeDenoiser(calls: { batch: number; condRows: number[][] }[]) {
  return (x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor | null) => {
    calls.push({ batch: x.shape[0]!, condRows: cond ? (cond.toArray() as number[][]) : [] });
    assert.deepEqual(flat(t), Array(x.shape[0]).fill(flat(t)[0]));
    const c = cond ? cond.sum(1).reshape(x.shape[0]!, 1, 1, 1) : torch.zeros([x.shape[0]!, 1, 1, 1]);
    return x.add(c);
  };
}

describe('classifier-free guidance', () => {
  test('eps_u + s (eps_c - eps_u)', () => {
    close(combineGuidance(torch.tensor([3]), torch.tensor([1]), 2), [5]);
    close(combineGuidance(torch.tensor([3]), torch.tensor([1]), 0), [1]);
    close(combineGuidance(torch.tensor([3]), torch.tensor([1]), 1), [3]);
  });

  test('runs the conditional and null passes as one doubled batch', () => {
    const calls: { batch: number; condRows: number[][] }[] = [];
    const cond = torch.tensor([
      [1, 0],
      [0, 2],
    ]);
    const eps = guidedEps(fakeDenoiser(calls), schedule, { scale: 3, cond, maps: null });
    const x = torch.tensor([0.5, -0.5]).reshape(2, 1, 1, 1);
    const out = eps(x, 10);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]!.batch, 4);
    assert.deepEqual(calls[0]!.condRows, [
      [1, 0],
      [0, 2],
      [0, 0],
      [0, 0],
    ]);
    // eps_c = x + sum(c), eps_u = x: guided = x + 3 sum(c)
    close(out, [0.5 + 3, -0.5 + 6]);
  });

  test('s = 1 and s = 0 need one plain pass; no condition means no guidance', () => {
    const calls: { batch: number; condRows: number[][] }[] = [];
    const cond = torch.tensor([[1, 1]]);
    const x = torch.zeros([1, 1, 1, 1]);
    close(guidedEps(fakeDenoiser(calls), schedule, { scale: 1, cond, maps: null })(x, 5), [2]);
    close(guidedEps(fakeDenoiser(calls), schedule, { scale: 0, cond, maps: null })(x, 5), [0]);
    close(guidedEps(fakeDenoiser(calls), schedule, { scale: 4, cond: null, maps: null })(x, 5), [0]);
    assert.deepEqual(
      calls.map((c) => c.batch),
      [1, 1, 1],
    );
    assert.deepEqual(calls[1]!.condRows, [[0, 0]]);
  });

  test('spatial maps are nulled with the vector', () => {
    const seen: number[] = [];
    const den = (x: torch.Tensor, _t: torch.Tensor, _c: torch.Tensor | null, maps: torch.Tensor | null) => {
      seen.push(...flat(maps!.sum([1, 2, 3])));
      return x.mul(0);
    };
    guidedEps(den, schedule, { scale: 2, cond: null, maps: torch.ones([2, 3, 2, 2]) })(torch.zeros([2, 1, 2, 2]), 0);
    assert.deepEqual(seen, [12, 12, 0, 0]);
  });

  test('guidance rescale: phi = 0 is plain guidance, phi = 1 matches the conditional spread per image', () => {
    const g = new torch.Generator(5);
    const c = torch.randn([2, 1, 4, 4], { generator: g }),
      u = torch.randn([2, 1, 4, 4], { generator: g }).mul(0.5);
    const plain = combineGuidance(c, u, 5);
    close(combineGuidance(c, u, 5, 0), flat(plain), 0);
    const full = combineGuidance(c, u, 5, 1);
    for (let i = 0; i < 2; i++) close(full.select(0, i).std().item(), c.select(0, i).std().item(), 1e-5);
    const half = combineGuidance(c, u, 5, 0.5);
    close(half, flat(full.add(plain).mul(0.5)), 1e-5);
    assert.throws(() => combineGuidance(c, u, 5, 1.5), /guidance rescale must be in \[0, 1\]/);
  });
});
