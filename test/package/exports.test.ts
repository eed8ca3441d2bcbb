// The package's entry points resolve (by the package's own name) and carry the API the README shows.
import assert from 'node:assert/strict';
import { test } from 'node:test';

test("'selfguided' and 'selfguided/torch' resolve to the library", async () => {
  const sg = await import('selfguided');
  const torch = await import('selfguided/torch');
  assert.equal(sg.torch.zeros, torch.zeros);
  const t = sg.torch.ones([2, 3]);
  assert.equal(t.sum().item(), 6);
  t.dispose();
  for (const f of [
    sg.diffusion.DiffusionTrainer,
    sg.diffusion.generate,
    sg.annotate.selfLabels,
    sg.evaluation.evaluate,
    sg.pipelines.selfBoxesFile,
    sg.startServer,
  ])
    assert.equal(typeof f, 'function');
  assert.equal(typeof (await import('selfguided/nn')).Module, 'function');
  assert.equal(typeof (await import('selfguided/optim')).AdamW, 'function');
});
