// CUDA against the CPU: the same ops, gradients, a UNet training step, device moves and files, then the
// trainers and the sampler with device = cuda (the same losses and images as on the CPU, and a run that
// moves between devices on resume). Skipped where no CUDA device is present (CI); run on the GPU machine
// with scripts/gpu-check.sh.
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { generate, idConditions, loadModel } from '../../src/diffusion/pipeline.js';
import { DiffusionTrainer } from '../../src/diffusion/trainer.js';
import { UNet, unetConfig } from '../../src/diffusion/unet.js';
import { EncoderTrainer } from '../../src/features/ssl/encoder-trainer.js';
import * as optim from '../../src/optim/index.js';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';

const available = torch.cuda.isAvailable();

/** max |a - b| / (max |b| + 1e-6): TF32 convolutions on recent GPUs are not bit-equal to the CPU */
function relErr(a: Tensor, b: Tensor): number {
  return torch.tidy(
    () => a.cpu().float().sub(b.cpu().float()).abs().max().item() / (b.cpu().float().abs().max().item() + 1e-6),
  );
}

describe('cuda', { skip: available ? false : 'no CUDA device here' }, () => {
  test('ops give the CPU results', () => {
    torch.manualSeed(0);
    const x = torch.randn([4, 8, 16, 16]),
      w = torch.randn([12, 8, 3, 3]),
      b = torch.randn([12]);
    assert.ok(
      relErr(torch.conv2d(x.cuda(), w.cuda(), b.cuda(), { padding: 1 }), torch.conv2d(x, w, b, { padding: 1 })) < 5e-3,
    );
    const m = torch.randn([64, 32]),
      n = torch.randn([32, 48]);
    assert.ok(relErr(m.cuda().matmul(n.cuda()), m.matmul(n)) < 5e-3);
    assert.ok(relErr(torch.groupNorm(x.cuda(), 4), torch.groupNorm(x, 4)) < 1e-4);
    assert.ok(relErr(torch.softmax(m.cuda(), 1), torch.softmax(m, 1)) < 1e-5);
    const q = torch.randn([2, 4, 10, 8]);
    assert.ok(
      relErr(torch.scaledDotProductAttention(q.cuda(), q.cuda(), q.cuda()), torch.scaledDotProductAttention(q, q, q)) <
        5e-3,
    );
    assert.equal(x.cuda().device, 'cuda:0');
    assert.equal(x.cuda().cpu().device, 'cpu');
  });

  test('gradients match the CPU', () => {
    torch.manualSeed(1);
    const w = torch.randn([16, 8]);
    const x = torch.randn([32, 8]);
    const grad = (dev: torch.Device) => {
      const wd = w.to(dev).detach().requiresGrad_(true);
      torch.tanh(x.to(dev).matmul(wd.t())).square().sum().backward();
      return wd.grad!.cpu();
    };
    assert.ok(relErr(grad('cuda'), grad('cpu')) < 5e-3);
  });

  test('a UNet training step on CUDA matches the CPU step; modules, optimizers and files follow the device', () => {
    const cfg = unetConfig('tiny', { imageSize: 32, channels: 1, condDim: 10 });
    torch.manualSeed(2);
    const cpuNet = new UNet(cfg);
    const gpuNet = new UNet(cfg);
    gpuNet.loadStateDict(cpuNet.stateDict());
    gpuNet.to('cuda');
    for (const p of gpuNet.parameters()) assert.equal(p.device, 'cuda:0');
    const x = torch.randn([8, 1, 32, 32]),
      t = torch.randint(0, 1000, [8]),
      c = torch.oneHot(torch.randint(0, 10, [8]), 10).float();
    const step = (net: UNet, dev: torch.Device) => {
      const opt = new optim.AdamW(net.parameters(), { lr: 1e-3 });
      const loss = torch.tidy(() => {
        const l = torch.mseLoss(net.forward(x.to(dev), t.to(dev), c.to(dev)), x.to(dev));
        l.backward();
        opt.step();
        return l.item();
      });
      return loss;
    };
    const lc = step(cpuNet, 'cpu'),
      lg = step(gpuNet, 'cuda');
    assert.ok(Math.abs(lc - lg) / lc < 5e-3, `loss cpu ${lc} cuda ${lg}`);
    const sc = cpuNet.stateDict(),
      sg = gpuNet.stateDict();
    let worst = 0;
    for (const [k, v] of sc) worst = Math.max(worst, relErr(sg.get(k)!, v));
    assert.ok(worst < 2e-2, `largest relative parameter difference after one step ${worst}`);
    const path = join(mkdtempSync(join(tmpdir(), 'sg-cuda-')), 'w.safetensors');
    torch.safetensors.saveFile(path, Object.fromEntries(sg));
    const back = torch.safetensors.loadFile(path).tensors;
    for (const [k, v] of sg) assert.equal(relErr(back.get(k)!, v), 0, k);
  });
});

describe('cuda: trainers and sampling', { skip: available ? false : 'no CUDA device here' }, () => {
  const quiet = () => {};
  const tmp = () => mkdtempSync(join(tmpdir(), 'sg-cuda-run-'));
  // The Fashion-MNIST test split; the GPU check carries its 4.4 MB and points SG_FASHION_MNIST_DIR at it.
  const data = {
    kind: 'fashion-mnist' as const,
    dir: process.env.SG_FASHION_MNIST_DIR,
    split: 'test' as const,
    limit: 16,
  };

  test('the diffusion trainer gives the CPU losses on cuda, and a cuda run resumes on the CPU', async () => {
    const config = {
      data,
      condition: { kind: 'label' as const },
      model: { preset: 'tiny' as const },
      train: { steps: 6, batchSize: 8, lr: 1e-3, warmup: 1, seed: 4 },
    };
    const onCpu = await DiffusionTrainer.open(join(tmp(), 'cpu'), { config, log: quiet });
    const gpuDir = join(tmp(), 'gpu');
    const onGpu = await DiffusionTrainer.open(gpuDir, { config, device: 'cuda', log: quiet });
    assert.equal(onGpu.model.parameters()[0]!.device, 'cuda:0');
    for (let i = 0; i < 3; i++) {
      const lc = (await onCpu.trainStep()).loss,
        lg = (await onGpu.trainStep()).loss;
      assert.ok(Math.abs(lc - lg) / lc < 2e-2, `step ${i + 1}: loss cpu ${lc} cuda ${lg}`);
    }
    onGpu.saveCheckpoint();
    // The resumed trainer takes the run over while this one keeps stepping for the comparison.
    onGpu.run.release();
    const resumed = await DiffusionTrainer.open(gpuDir, { resume: true, device: 'cpu', log: quiet });
    assert.equal(resumed.step, 3);
    for (const [k, v] of onGpu.model.stateDict()) assert.equal(relErr(resumed.model.stateDict().get(k)!, v), 0, k);
    const lr = (await resumed.trainStep()).loss,
      lg = (await onGpu.trainStep()).loss;
    assert.ok(Math.abs(lr - lg) / lg < 2e-2, `step 4: resumed on cpu ${lr}, cuda ${lg}`);
    for (const t of [onCpu, onGpu, resumed]) t.dispose();
  });

  test('a seed gives the same images on cuda as on the CPU; images come back on the CPU', async () => {
    const dir = join(tmp(), 'run');
    const t = await DiffusionTrainer.open(dir, {
      config: {
        data,
        condition: { kind: 'label' },
        model: { preset: 'tiny' },
        train: { steps: 2, batchSize: 8, seed: 1 },
      },
      log: quiet,
    });
    await t.train({ progress: false });
    t.dispose();
    const cond = idConditions([0, 1, 9, 0], 10);
    const images = (['cpu', 'cuda'] as const).map((device) => {
      const m = loadModel(dir, { device });
      try {
        return generate(m, { n: 4, cond, scale: 2, sampler: 'ddim', steps: 4, eta: 0.5, seed: 9, batchSize: 3 });
      } finally {
        m.dispose();
      }
    });
    assert.equal(images[1]!.device, 'cpu');
    const diff = torch.tidy(() => images[0]!.sub(images[1]!).abs().max().item());
    assert.ok(diff < 2e-2, `largest pixel difference cpu vs cuda ${diff}`);
  });

  test('the SimCLR encoder trainer gives the CPU losses on cuda', async () => {
    const config = { data, model: { widths: [8, 16] }, train: { steps: 2, batchSize: 8, seed: 2 } };
    const onCpu = await EncoderTrainer.open(join(tmp(), 'cpu'), { config, log: quiet });
    const onGpu = await EncoderTrainer.open(join(tmp(), 'gpu'), { config, device: 'cuda', log: quiet });
    for (let i = 0; i < 2; i++) {
      const lc = (await onCpu.trainStep()).loss,
        lg = (await onGpu.trainStep()).loss;
      assert.ok(Math.abs(lc - lg) / lc < 2e-2, `step ${i + 1}: loss cpu ${lc} cuda ${lg}`);
    }
    onCpu.dispose();
    onGpu.dispose();
  });
});
