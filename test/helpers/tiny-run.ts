// A tiny label-guided diffusion run for the web app's tests: 4 steps on 64 Fashion-MNIST images, metrics
// every 2 steps, checkpoints and previews at steps 2 and 4.
import { DiffusionTrainer } from '../../src/diffusion/index.js';

export async function trainTinyRun(dir: string): Promise<void> {
  const t = await DiffusionTrainer.open(dir, {
    config: {
      data: { kind: 'fashion-mnist', limit: 64 },
      condition: { kind: 'label' },
      model: { preset: 'tiny' },
      train: { steps: 4, batchSize: 8, checkpointEvery: 2, logEvery: 2 },
    },
    log: () => {},
  });
  await t.train({ progress: false, previewEvery: 2 });
  t.dispose();
}
