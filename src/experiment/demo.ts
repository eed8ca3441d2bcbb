// The demo (selfguided demo, the README's main job): the whole self-guided pipeline on the built-in Fashion-MNIST
// within a time budget: train the self-supervised encoder g, extract features, cluster them into
// self-labels f(g(x)), train a self-label-guided and an unguided diffusion model for the same number of
// steps, sample both from the same noise (one row per cluster), and write a side-by-side PNG, the
// cluster grid and a markdown summary. Every stage is a file in the run directory, so an interrupted
// demo continues where it stopped.
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { disposeAnnotations, saveAnnotations } from '../annotate/annotations.js';
import { saveClusterGrid } from '../annotate/cluster-grid.js';
import { selfLabels } from '../annotate/self-labels.js';
import { saveGrid } from '../data/png.js';
import { loadDataset } from '../data/spec.js';
import type { TrainConfigInput } from '../diffusion/config.js';
import { generate, idConditions, loadModel } from '../diffusion/pipeline.js';
import type { SamplerName } from '../diffusion/samplers.js';
import { samplerName } from './report.js';
import { DiffusionTrainer } from '../diffusion/trainer.js';
import { clusterQuality, type ClusterQuality } from '../eval/cluster-metrics.js';
import { extractFeatures } from '../features/extract.js';
import { loadFeatures } from '../features/features-file.js';
import { EncoderTrainer, type EncoderConfigInput } from '../features/ssl/encoder-trainer.js';
import { SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import * as torch from '../torch/index.js';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from '../util/json-file.js';

export interface DemoOptions {
  /** run directory */
  out: string;
  /** total time budget; step counts are sized to it by short timing probes */
  minutes: number;
  /** number of self-label clusters */
  k: number;
  /** guide by self-labels, or by the ground-truth labels for comparison */
  guidance: 'self' | 'label';
  seed: number;
  /** guidance scale s of the guided samples */
  scale: number;
  /** the sampler and its steps (docs/results' sampler study chose the default) */
  sampler: SamplerName;
  sampleSteps: number;
  /** DDIM's stochasticity (0 deterministic, 1 DDPM-like); other samplers ignore it */
  eta: number;
  /** samples per cluster (grid columns) */
  perRow: number;
  log?: (msg: string) => void;
}

export interface DemoResult {
  status: 'done' | 'interrupted';
  /** the side-by-side PNG and the summary (when done) */
  png?: string;
  summary?: string;
  minutes: number;
}

const Plan = z.object({
  encoderSteps: z.number().int().min(0),
  diffusionSteps: z.number().int().positive(),
  guidance: z.enum(['self', 'label']),
  k: z.number().int().positive(),
  seed: z.number().int().min(0),
});
type Plan = z.infer<typeof Plan>;

const encoderConfig = (steps: number, seed: number): EncoderConfigInput => ({
  data: { kind: 'fashion-mnist' },
  model: { widths: [16, 32, 64] },
  train: {
    steps,
    batchSize: 256,
    warmup: Math.min(100, Math.floor(steps / 5)),
    seed,
    checkpointEvery: 50,
    logEvery: 25,
  },
});

const diffusionConfig = (condition: TrainConfigInput['condition'], steps: number, seed: number): TrainConfigInput => ({
  data: { kind: 'fashion-mnist' },
  condition,
  model: { preset: 'tiny' },
  train: { steps, batchSize: 32, lr: 1e-3, warmup: 100, seed, checkpointEvery: 250, logEvery: 50, emaDecay: 0.999 },
});

async function secondsPerStep<T extends { trainStep(): unknown; dispose(): void }>(
  open: () => Promise<T>,
  dir: string,
  n: number,
): Promise<number> {
  rmSync(dir, { recursive: true, force: true });
  const t = await open();
  try {
    t.trainStep();
    const s = performance.now();
    for (let i = 0; i < n; i++) t.trainStep();
    return (performance.now() - s) / 1000 / n;
  } finally {
    t.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Continues a run that has a config.json (with or without checkpoints), or starts it. */
function openOrStart<T>(dir: string, resume: () => Promise<T>, start: () => Promise<T>): Promise<T> {
  return existsSync(join(dir, 'config.json')) ? resume() : start();
}

/**
 * The whole self-guided pipeline on Fashion-MNIST within a time budget (see the file's header). Every
 * stage is a file under `out`, so calling it again continues where an interrupted run stopped.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const out = resolve(o.out);
  const { seed, k, guidance } = o;
  const budget = o.minutes * 60;
  const log = o.log ?? ((m: string) => process.stderr.write(`demo: ${m}\n`));
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;

  // 0. The plan: step counts sized to the budget from short timing probes, kept so reruns resume it.
  const planPath = join(out, 'plan.json');
  let plan: Plan;
  if (existsSync(planPath)) {
    plan = readJsonFile(planPath, Plan);
    log(`continuing the plan in ${planPath}`);
  } else {
    const encStep =
      guidance === 'self'
        ? await secondsPerStep(
            () => EncoderTrainer.open(join(out, 'probe'), { config: encoderConfig(10, seed), log: () => {} }),
            join(out, 'probe'),
            2,
          )
        : 0;
    const difStep = await secondsPerStep(
      () =>
        DiffusionTrainer.open(join(out, 'probe'), {
          config: diffusionConfig({ kind: 'label' }, 10, seed),
          log: () => {},
        }),
      join(out, 'probe'),
      4,
    );
    const encoderSteps = guidance === 'self' ? Math.max(50, Math.floor((0.22 * budget) / encStep / 25) * 25) : 0;
    // Features of 60,000 images cost about 30 encoder steps; sampling about 6% of the budget.
    const left = budget * 0.92 - elapsed() - encoderSteps * encStep - 30 * encStep;
    const diffusionSteps = Math.max(100, Math.floor(left / 2 / difStep / 50) * 50);
    plan = { encoderSteps, diffusionSteps, guidance, k, seed };
    mkdirSync(out, { recursive: true });
    writeJsonFile(planPath, plan);
    log(
      `measured ${encStep.toFixed(2)} s per encoder step, ${difStep.toFixed(3)} s per diffusion step; plan: encoder ${encoderSteps} steps, each diffusion model ${diffusionSteps} steps (budget ${o.minutes} min)`,
    );
  }

  // 1-3. Self-labels: encoder g, features, k-means f.
  let condition: TrainConfigInput['condition'] = { kind: 'label' };
  let quality: ClusterQuality | null = null;
  const labelsPath = join(out, `self-labels-k${plan.k}.safetensors`);
  if (plan.guidance === 'self') {
    const encDir = join(out, 'encoder');
    const enc = await openOrStart(
      encDir,
      () => EncoderTrainer.open(encDir, { resume: true, steps: plan.encoderSteps, log }),
      () => EncoderTrainer.open(encDir, { config: encoderConfig(plan.encoderSteps, plan.seed), log }),
    );
    if (enc.step < plan.encoderSteps)
      log(`training the SimCLR encoder g (${enc.step}/${plan.encoderSteps} steps done)`);
    try {
      const r = await enc.train();
      if (r.status === 'interrupted') return { status: 'interrupted', minutes: elapsed() / 60 };
    } finally {
      enc.dispose();
    }
    const featPath = join(out, 'features.safetensors');
    const ds = await loadDataset({ kind: 'fashion-mnist', split: 'train' });
    try {
      if (!existsSync(featPath)) {
        log('extracting encoder features of the 60,000 training images');
        const ex = new SslEncoderFeatures(encDir, 'projection');
        const f = extractFeatures(ds, ex, {
          out: featPath,
          extraProvenance: { dataSpec: JSON.stringify({ kind: 'fashion-mnist' }) },
        });
        f.features.dispose();
        ex.dispose();
      }
      const feats = loadFeatures(featPath, { dataset: ds });
      let assignments: Int32Array;
      if (!existsSync(labelsPath)) {
        log(`clustering into k = ${plan.k} self-labels (spherical k-means, 3 restarts)`);
        const { annotations: ann } = selfLabels(featPath, feats, { k: plan.k, restarts: 3, seed: plan.seed });
        saveAnnotations(labelsPath, ann);
        disposeAnnotations(ann);
        assignments = ann.assignments!;
      } else {
        const t = torch.safetensors.loadFile(labelsPath);
        assignments = Int32Array.from(t.tensors.get('assignments')!.toTypedArray() as BigInt64Array, Number);
      }
      feats.features.dispose();
      quality = clusterQuality(assignments, ds.labels!);
      log(
        `self-labels against the hidden ground truth (for information only): NMI ${quality.nmi.toFixed(3)}, ARI ${quality.ari.toFixed(3)}, accuracy ${quality.accuracy.toFixed(3)}`,
      );
      await saveClusterGrid(join(out, 'clusters.png'), ds, assignments, plan.k, {
        perCluster: o.perRow,
        maxClusters: plan.k,
        seed: plan.seed,
        order: 'id',
      });
    } finally {
      ds.dispose();
    }
    condition = { kind: 'file', path: labelsPath };
  }

  // 4. The guided and the unguided diffusion model, same steps and seed.
  const runs = {
    guided: join(out, plan.guidance === 'self' ? 'self-guided' : 'label-guided'),
    unguided: join(out, 'unguided'),
  };
  for (const [name, cond] of [
    ['guided', condition],
    ['unguided', { kind: 'none' as const }],
  ] as const) {
    const dir = runs[name];
    const trainer = await openOrStart(
      dir,
      () => DiffusionTrainer.open(dir, { resume: true, steps: plan.diffusionSteps, log }),
      () => DiffusionTrainer.open(dir, { config: diffusionConfig(cond, plan.diffusionSteps, plan.seed), log }),
    );
    log(`training the ${name} diffusion model (${trainer.step}/${plan.diffusionSteps} steps done)`);
    try {
      const r = await trainer.train();
      if (r.status === 'interrupted') {
        log(`interrupted; run the demo again to continue from step ${r.step}`);
        return { status: 'interrupted', minutes: elapsed() / 60 };
      }
    } finally {
      trainer.dispose();
    }
  }

  // 5. Samples: one row per cluster (or class), guided next to unguided from the same noise.
  const { perRow: per, sampleSteps, scale, sampler, eta } = o;
  const how = samplerName({ sampler, eta }, sampleSteps);
  const guided = loadModel(runs.guided);
  const unguided = loadModel(runs.unguided);
  const rows = plan.guidance === 'self' ? plan.k : 10;
  const ids = Array.from({ length: rows * per }, (_, i) => Math.floor(i / per));
  log(`sampling ${ids.length} images from each model (${how}, seed ${plan.seed}, guidance scale ${scale})`);
  const cond = idConditions(ids, rows);
  const imgG = generate(guided, { n: ids.length, cond, scale, sampler, eta, steps: sampleSteps, seed: plan.seed });
  const imgU = generate(unguided, {
    n: ids.length,
    cond: null,
    scale: 1,
    sampler,
    eta,
    steps: sampleSteps,
    seed: plan.seed,
  });
  const gap = torch.ones([1, 1, 32, 32]);
  const combined = torch.tidy(() => {
    const parts: torch.Tensor[] = [];
    for (let r = 0; r < rows; r++) parts.push(imgG.narrow(0, r * per, per), gap, imgU.narrow(0, r * per, per));
    return torch.cat(parts, 0);
  });
  const pngPath = join(out, 'guided-vs-unguided.png');
  await saveGrid(combined, pngPath, { nrow: 2 * per + 1, scale: 3 });
  await saveGrid(imgG, join(out, `${plan.guidance}-guided.png`), { nrow: per, scale: 3 });
  await saveGrid(imgU, join(out, 'unguided.png'), { nrow: per, scale: 3 });
  const minutes = (elapsed() / 60).toFixed(1);
  const self = plan.guidance === 'self';
  const summary = [
    `# selfguided demo: ${self ? 'self-guided' : 'label-guided'} diffusion on Fashion-MNIST`,
    '',
    `Fashion-MNIST's 60,000 training images (32x32, labels hidden from every stage${self ? '' : ' except the label-guided model'}), seed ${plan.seed}; this invocation took ${minutes} minutes on this machine.`,
    '',
    ...(self
      ? [
          `1. **g**: a SimCLR encoder (ResNet, widths 16-32-64) trained ${plan.encoderSteps} steps at batch 256 on the unlabeled images.`,
          `2. **f**: spherical k-means (k = ${plan.k}, 3 restarts) on its projection features: the self-labels. Against the hidden labels they score NMI ${quality!.nmi.toFixed(3)}, ARI ${quality!.ari.toFixed(3)}, Hungarian accuracy ${quality!.accuracy.toFixed(3)} (reported, never used).`,
          '   Real images of each cluster, row r is cluster r (compare with the samples below): ![clusters](clusters.png)',
          `3. Two \`tiny\` UNets (${(guided.model.numParameters() / 1e6).toFixed(2)}M parameters), ${plan.diffusionSteps} steps each at batch 32: one guided by the one-hot self-label (condition dropout 0.1), one unguided.`,
        ]
      : [
          `Two \`tiny\` UNets (${(guided.model.numParameters() / 1e6).toFixed(2)}M parameters), ${plan.diffusionSteps} steps each at batch 32: one guided by the ground-truth class, one unguided.`,
        ]),
    '',
    `Samples (${how}, EMA weights): left, the guided model with guidance scale s = ${scale} (w = ${scale - 1}), one row per ${self ? 'cluster (row r is self-label r)' : 'class'}; right, the unguided model from the same starting noise.`,
    '',
    '![guided vs unguided](guided-vs-unguided.png)',
    '',
    `Run directories: \`${runs.guided}\`, \`${runs.unguided}\`${self ? `, \`${join(out, 'encoder')}\`` : ''}. More samples: \`bin/selfguided.mjs sample --checkpoint ${runs.guided} --ids 0-${rows - 1}\`.`,
    '',
  ].join('\n');
  writeFileSync(join(out, 'summary.md'), summary);
  for (const t of [cond, imgG, imgU, gap, combined]) t.dispose();
  guided.dispose();
  unguided.dispose();
  return { status: 'done', png: pngPath, summary: join(out, 'summary.md'), minutes: elapsed() / 60 };
}
