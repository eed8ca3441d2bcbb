// A tiny label-guided diffusion run for the web app's tests: 4 steps on 64 Fashion-MNIST images, metrics
// every 2 steps, checkpoints and previews at steps 2 and 4.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DiffusionTrainer } from '../../src/diffusion/index.js';
import * as torch from '../../src/torch/index.js';

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

/** The newest checkpoint of a run with one metadata record edited (tensors kept), as a crafted file would be. */
export function craftCheckpointMetadata(run: string, key: string, edit: (v: Record<string, unknown>) => void): void {
  const checkpoint = join(run, 'checkpoints', readdirSync(join(run, 'checkpoints')).sort().at(-1)!);
  const { tensors, metadata } = torch.safetensors.loadFile(checkpoint);
  const v = JSON.parse(metadata[key]!) as Record<string, unknown>;
  edit(v);
  torch.safetensors.saveFile(checkpoint, tensors, { ...metadata, [key]: JSON.stringify(v) });
  for (const t of Object.values(tensors)) t.dispose();
}
