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
import { describeSampler, type SamplerName } from '../diffusion/schedulers.js';
import { DiffusionTrainer } from '../diffusion/trainer.js';
import { clusterQuality, type ClusterQuality } from '../eval/cluster-metrics.js';
import { extractFeatures } from '../features/extract.js';
import { loadFeatures } from '../features/features-file.js';
import { EncoderTrainer, type EncoderConfigInput } from '../features/ssl/encoder-trainer.js';
import { SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import * as torch from '../torch/index.js';
import { z } from 'zod';
import { readJsonFile, writeJsonFile } from '../util/json-file.js';
import { StageInterrupted, trainStage } from './stage.js';

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
    await t.trainStep();
    const s = performance.now();
    for (let i = 0; i < n; i++) await t.trainStep();
    return (performance.now() - s) / 1000 / n;
  } finally {
    t.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The step counts sized to the budget from short timing probes, kept in plan.json so reruns resume it. */
async function demoPlan(out: string, o: DemoOptions, log: (m: string) => void, elapsed: () => number): Promise<Plan> {
  const planPath = join(out, 'plan.json');
  if (existsSync(planPath)) {
    log(`continuing the plan in ${planPath}`);
    return readJsonFile(planPath, Plan);
  }
  const { seed, k, guidance } = o;
  const budget = o.minutes * 60;
  const probe = join(out, 'probe');
  const encStep =
    guidance === 'self'
      ? await secondsPerStep(
          () => EncoderTrainer.open(probe, { config: encoderConfig(10, seed), log: () => {} }),
          probe,
          2,
        )
      : 0;
  const difStep = await secondsPerStep(
    () => DiffusionTrainer.open(probe, { config: diffusionConfig({ kind: 'label' }, 10, seed), log: () => {} }),
    probe,
    4,
  );
  const encoderSteps = guidance === 'self' ? Math.max(50, Math.floor((0.22 * budget) / encStep / 25) * 25) : 0;
  // Features of 60,000 images cost about 30 encoder steps; sampling about 6% of the budget.
  const left = budget * 0.92 - elapsed() - encoderSteps * encStep - 30 * encStep;
  const diffusionSteps = Math.max(100, Math.floor(left / 2 / difStep / 50) * 50);
  const plan: Plan = { encoderSteps, diffusionSteps, guidance, k, seed };
  mkdirSync(out, { recursive: true });
  writeJsonFile(planPath, plan);
  log(
    `measured ${encStep.toFixed(2)} s per encoder step, ${difStep.toFixed(3)} s per diffusion step; plan: encoder ${encoderSteps} steps, each diffusion model ${diffusionSteps} steps (budget ${o.minutes} min)`,
  );
  return plan;
}

/**
 * Self-labels f(g(x)): the SimCLR encoder g, its features of the 60,000 training images, k-means f,
 * and the real images of each cluster; returns the labels' quality against the hidden classes.
 */
async function demoSelfLabels(
  out: string,
  plan: Plan,
  perRow: number,
  log: (m: string) => void,
): Promise<{ labelsPath: string; quality: ClusterQuality }> {
  const encDir = join(out, 'encoder');
  await trainStage(
    encDir,
    (how) => EncoderTrainer.open(encDir, { ...how, log }),
    encoderConfig(plan.encoderSteps, plan.seed),
    { steps: plan.encoderSteps, what: 'training the SimCLR encoder g', log },
  );
  const labelsPath = join(out, `self-labels-k${plan.k}.safetensors`);
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
    let assignments: Int32Array;
    if (!existsSync(labelsPath)) {
      log(`clustering into k = ${plan.k} self-labels (spherical k-means, 3 restarts)`);
      const feats = loadFeatures(featPath, { dataset: ds });
      const { annotations: ann } = selfLabels(featPath, feats, { k: plan.k, restarts: 3, seed: plan.seed });
      feats.features.dispose();
      saveAnnotations(labelsPath, ann);
      disposeAnnotations(ann);
      assignments = ann.assignments!;
    } else {
      const t = torch.safetensors.loadFile(labelsPath);
      assignments = Int32Array.from(t.tensors.get('assignments')!.toTypedArray() as BigInt64Array, Number);
      for (const x of t.tensors.values()) x.dispose();
    }
    const quality = clusterQuality(assignments, ds.labels!);
    log(
      `self-labels against the hidden ground truth (for information only): NMI ${quality.nmi.toFixed(3)}, ARI ${quality.ari.toFixed(3)}, accuracy ${quality.accuracy.toFixed(3)}`,
    );
    await saveClusterGrid(join(out, 'clusters.png'), ds, assignments, plan.k, {
      perCluster: perRow,
      maxClusters: plan.k,
      seed: plan.seed,
      order: 'id',
    });
    return { labelsPath, quality };
  } finally {
    ds.dispose();
  }
}

/** Samples one row per cluster (or class), guided next to unguided from the same noise, as PNGs. */
async function demoSamples(
  out: string,
  runs: { guided: string; unguided: string },
  plan: Plan,
  o: DemoOptions,
  log: (m: string) => void,
): Promise<{ png: string; parameters: number; rows: number }> {
  const { perRow: per, sampleSteps: steps, scale, sampler, eta } = o;
  const guided = loadModel(runs.guided);
  const unguided = loadModel(runs.unguided);
  const rows = plan.guidance === 'self' ? plan.k : 10;
  const ids = Array.from({ length: rows * per }, (_, i) => Math.floor(i / per));
  log(
    `sampling ${ids.length} images from each model (${describeSampler(sampler, steps, eta)}, seed ${plan.seed}, guidance scale ${scale})`,
  );
  const cond = idConditions(ids, rows);
  const imgG = generate(guided, { n: ids.length, cond, scale, sampler, eta, steps, seed: plan.seed });
  const imgU = generate(unguided, { n: ids.length, cond: null, scale: 1, sampler, eta, steps, seed: plan.seed });
  const gap = torch.ones([1, 1, 32, 32]);
  const combined = torch.tidy(() => {
    const parts: torch.Tensor[] = [];
    for (let r = 0; r < rows; r++) parts.push(imgG.narrow(0, r * per, per), gap, imgU.narrow(0, r * per, per));
    return torch.cat(parts, 0);
  });
  const png = join(out, 'guided-vs-unguided.png');
  await saveGrid(combined, png, { nrow: 2 * per + 1, scale: 3 });
  await saveGrid(imgG, join(out, `${plan.guidance}-guided.png`), { nrow: per, scale: 3 });
  await saveGrid(imgU, join(out, 'unguided.png'), { nrow: per, scale: 3 });
  const parameters = guided.model.numParameters();
  for (const t of [cond, imgG, imgU, gap, combined]) t.dispose();
  guided.dispose();
  unguided.dispose();
  return { png, parameters, rows };
}

function demoSummary(
  out: string,
  plan: Plan,
  o: DemoOptions,
  runs: { guided: string; unguided: string },
  r: { quality: ClusterQuality | null; parameters: number; rows: number; minutes: number },
): string {
  const self = plan.guidance === 'self';
  const how = describeSampler(o.sampler, o.sampleSteps, o.eta);
  const unets = `Two \`tiny\` UNets (${(r.parameters / 1e6).toFixed(2)}M parameters), ${plan.diffusionSteps} steps each at batch 32`;
  return [
    `# selfguided demo: ${self ? 'self-guided' : 'label-guided'} diffusion on Fashion-MNIST`,
    '',
    `Fashion-MNIST's 60,000 training images (32x32, labels hidden from every stage${self ? '' : ' except the label-guided model'}), seed ${plan.seed}; this invocation took ${r.minutes.toFixed(1)} minutes on this machine.`,
    '',
    ...(self
      ? [
          `1. **g**: a SimCLR encoder (ResNet, widths 16-32-64) trained ${plan.encoderSteps} steps at batch 256 on the unlabeled images.`,
          `2. **f**: spherical k-means (k = ${plan.k}, 3 restarts) on its projection features: the self-labels. Against the hidden labels they score NMI ${r.quality!.nmi.toFixed(3)}, ARI ${r.quality!.ari.toFixed(3)}, Hungarian accuracy ${r.quality!.accuracy.toFixed(3)} (reported, never used).`,
          '   Real images of each cluster, row r is cluster r (compare with the samples below): ![clusters](clusters.png)',
          `3. ${unets}: one guided by the one-hot self-label (condition dropout 0.1), one unguided.`,
        ]
      : [`${unets}: one guided by the ground-truth class, one unguided.`]),
    '',
    `Samples (${how}, EMA weights): left, the guided model with guidance scale s = ${o.scale} (w = ${o.scale - 1}), one row per ${self ? 'cluster (row r is self-label r)' : 'class'}; right, the unguided model from the same starting noise.`,
    '',
    '![guided vs unguided](guided-vs-unguided.png)',
    '',
    `Run directories: \`${runs.guided}\`, \`${runs.unguided}\`${self ? `, \`${join(out, 'encoder')}\`` : ''}. More samples: \`bin/selfguided.mjs sample --checkpoint ${runs.guided} --ids 0-${r.rows - 1}\`.`,
    '',
  ].join('\n');
}

/**
 * The whole self-guided pipeline on Fashion-MNIST within a time budget (see the file's header). Every
 * stage is a file under `out`, so calling it again continues where an interrupted run stopped.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const out = resolve(o.out);
  const log = o.log ?? ((m: string) => process.stderr.write(`demo: ${m}\n`));
  const t0 = performance.now();
  const elapsed = () => (performance.now() - t0) / 1000;
  const plan = await demoPlan(out, o, log, elapsed);
  const runs = {
    guided: join(out, plan.guidance === 'self' ? 'self-guided' : 'label-guided'),
    unguided: join(out, 'unguided'),
  };
  try {
    const self = plan.guidance === 'self' ? await demoSelfLabels(out, plan, o.perRow, log) : null;
    const condition: TrainConfigInput['condition'] = self ? { kind: 'file', path: self.labelsPath } : { kind: 'label' };
    for (const [name, cond] of [
      ['guided', condition],
      ['unguided', { kind: 'none' as const }],
    ] as const) {
      const dir = runs[name];
      await trainStage(
        dir,
        (how) => DiffusionTrainer.open(dir, { ...how, log }),
        diffusionConfig(cond, plan.diffusionSteps, plan.seed),
        { steps: plan.diffusionSteps, what: `training the ${name} diffusion model`, log },
      );
    }
    const samples = await demoSamples(out, runs, plan, o, log);
    const summary = join(out, 'summary.md');
    writeFileSync(
      summary,
      demoSummary(out, plan, o, runs, { ...samples, quality: self?.quality ?? null, minutes: elapsed() / 60 }),
    );
    return { status: 'done', png: samples.png, summary, minutes: elapsed() / 60 };
  } catch (e) {
    if (!(e instanceof StageInterrupted)) throw e;
    log(`interrupted; run the demo again to continue from step ${e.step}`);
    return { status: 'interrupted', minutes: elapsed() / 60 };
  }
}
