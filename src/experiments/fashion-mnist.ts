// The reproduction experiment on Fashion-MNIST (or the colour objects): every row of the paper's main table trained with the same
// model preset, steps, batch and seed and evaluated the same way, plus rows whose f is SCAN's clustering
// head, the long-tailed rows (several k, Sinkhorn-balanced clusters, replicate seeds), a sampler study
// that picks the table's sampler, and the guidance-scale sweep with several evaluation seeds per scale.
// Each stage is a file or run directory under the experiment root, so the runner can be stopped at any
// point and run again to continue; finished rows are skipped. After every row the report in docs/ is
// rewritten from whatever has finished. The colour objects have no long-tailed rows: their natural counts
// are unbalanced already (docs/data.md).
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { disposeAnnotations, saveAnnotations, type ConditionKind } from '../annotate/annotations.js';
import { SCAN_DEFAULTS } from '../annotate/scan.js';
import { selfLabels, type ScanSettings } from '../annotate/self-labels.js';
import type { ImageDataset } from '../data/dataset.js';
import { DataSpec, loadDataset } from '../data/spec.js';
import type { ConditionSpec, TrainConfigInput } from '../diffusion/config.js';
import { DiffusionFeatures } from '../diffusion/diffusion-features.js';
import { DiffusionTrainer } from '../diffusion/trainer.js';
import { clusterQuality } from '../eval/cluster-metrics.js';
import { evalRunName, evaluate, readEvalMetrics, type EvalMetrics } from '../eval/evaluate.js';
import { accuracy, EvalNetTrainer, loadEvalNet } from '../eval/evalnet.js';
import { extractFeatures, type FeatureExtractor } from '../features/extract.js';
import { loadFeatures } from '../features/features-file.js';
import { EncoderTrainer, type EncoderConfigInput } from '../features/ssl/encoder-trainer.js';
import { SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import { latestCheckpoint, latestStep } from '../train/checkpoint.js';
import type { Device } from '../torch/index.js';
import { z } from 'zod';
import { readJsonFile } from '../util/json-file.js';
import { StageInterrupted, trainStage } from '../pipelines/stage.js';
import { ExperimentRecord, runFingerprint, tensorFingerprint, type RecordInputs } from './record.js';
import { Budget, BUDGETS, BudgetName, COLOUR_OBJECT_BUDGETS, SamplerChoice, samplerTag } from './budgets.js';
import { bestSelfRow, writeReport, type ReportInput, type RowResult, type SamplerStudyRow } from './report.js';

export { Budget, BUDGETS, BudgetName };

/** The image-level experiment's data: Fashion-MNIST, or the colour objects at 32 px (docs/data.md). */
export const ImageLevelDataset = z.enum(['fashion-mnist', 'colour-objects']);
export type ImageLevelDataset = z.infer<typeof ImageLevelDataset>;

const DATASET_TITLE: Record<ImageLevelDataset, string> = {
  'fashion-mnist': 'Fashion-MNIST',
  'colour-objects': 'the colour objects',
};

const budgetsOf = (d: ImageLevelDataset) => (d === 'fashion-mnist' ? BUDGETS : COLOUR_OBJECT_BUDGETS);

const StampsOption = z.object({
  dir: z.string(),
  exclude: z.array(z.string()).optional(),
  minPerCategory: z.number().optional(),
});

export interface ExperimentOptions {
  budget: BudgetName;
  /** the images (default fashion-mnist; a root keeps the dataset it was started with) */
  dataset?: ImageLevelDataset;
  /** colour-objects: the cut-outs (default Tux Paint's stamps; a root keeps what it was started with) */
  stamps?: z.infer<typeof StampsOption>;
  /** experiment root (run directories, features, annotations, caches) */
  root: string;
  /** where the report, grids and metrics go (docs/results) */
  docs: string;
  /** reuse a trained SimCLR encoder instead of training one */
  encoder?: string;
  /** reuse a trained evaluation network instead of training one */
  evalnet?: string;
  seed?: number;
  /** where the diffusion models and the encoder train and sample (not part of the plan: a run may move) */
  device?: Device;
  /** the command line, quoted in the report */
  command?: string;
  log?: (m: string) => void;
}

/** plan.json: the budget as planned (settings added since take the budget's value), seed and reused runs. */
const PlanFile = z.object({
  budget: BudgetName,
  /** roots made before the colour objects existed hold Fashion-MNIST */
  dataset: ImageLevelDataset.default('fashion-mnist'),
  stamps: StampsOption.optional(),
  config: Budget.partial(),
  seed: z.number().int().min(0),
  encoder: z.string(),
  evalnet: z.string(),
  command: z.string(),
});
type Plan = z.infer<typeof PlanFile> & { config: Budget };

/** f of a self-label row: k-means, k-means with Sinkhorn-balanced clusters, or SCAN's clustering head. */
type SelfLabelF = 'kmeans' | 'balanced' | 'scan';

interface RowDef {
  id: string;
  title: string;
  group: 'balanced' | 'long-tail';
  kind: RowResult['kind'];
  k: number | null;
  data: DataSpec;
  /** name of the row's condition file under annotations/ (the .quality.json beside it holds its NMI) */
  annotation: string | null;
  condition: () => Promise<ConditionSpec>;
  /** a replicate's training and evaluation seed (default: the plan's) */
  seed?: number;
}

/** Wall seconds per stage, summed over every invocation (the budget is the total across sessions). */
class Timing {
  private readonly t: Record<string, number>;
  constructor(private readonly path: string) {
    this.t = existsSync(path) ? readJsonFile(path, z.record(z.string(), z.number())) : {};
  }
  async time<T>(stage: string, f: () => Promise<T> | T): Promise<T> {
    const t0 = performance.now();
    try {
      return await f();
    } finally {
      this.t[stage] = (this.t[stage] ?? 0) + (performance.now() - t0) / 1000;
      mkdirSync(dirname(this.path), { recursive: true });
      writeFileSync(this.path, `${JSON.stringify(this.t, null, 2)}\n`);
    }
  }
  get all(): Record<string, number> {
    return { ...this.t };
  }
}

export class FashionMnistExperiment {
  readonly plan: Plan;
  private readonly root: string;
  private readonly log: (m: string) => void;
  private readonly timing: Timing;
  private readonly record: ExperimentRecord;
  private readonly datasets = new Map<string, ImageDataset>();
  /** the ground truth's number of classes, known once run() has loaded the training set */
  private classes: number | null = null;

  constructor(readonly o: ExperimentOptions) {
    this.root = resolve(o.root);
    this.log = o.log ?? ((m: string) => process.stderr.write(`experiment: ${m}\n`));
    mkdirSync(this.root, { recursive: true });
    const planPath = join(this.root, 'plan.json');
    if (existsSync(planPath)) {
      const planned = readJsonFile(planPath, PlanFile);
      if (planned.budget !== o.budget)
        throw new Error(`${this.root} holds the '${planned.budget}' budget; use another --root for '${o.budget}'`);
      if (o.dataset && planned.dataset !== o.dataset)
        throw new Error(`${this.root} holds ${planned.dataset}; use another --root for ${o.dataset}`);
      // A plan written before a budget setting existed takes that setting's value; the others stay as planned.
      this.plan = { ...planned, config: { ...budgetsOf(planned.dataset)[planned.budget], ...planned.config } };
      for (const [flag, given, planned] of [
        ['encoder', o.encoder, this.plan.encoder],
        ['evalnet', o.evalnet, this.plan.evalnet],
      ] as const) {
        if (given && resolve(given) !== planned)
          throw new Error(`--${flag} ${given} differs from the plan's ${planned} (${planPath})`);
      }
    } else {
      const seed = o.seed ?? 0;
      const dataset = o.dataset ?? 'fashion-mnist';
      this.plan = {
        budget: o.budget,
        dataset,
        ...(o.stamps ? { stamps: o.stamps } : {}),
        config: budgetsOf(dataset)[o.budget],
        seed,
        encoder: o.encoder ? resolve(o.encoder) : join(this.root, 'encoder'),
        evalnet: o.evalnet ? resolve(o.evalnet) : join(this.root, 'evalnet'),
        command: o.command ?? `bin/selfguided.mjs experiment ${dataset} --budget ${o.budget}`,
      };
      writeFileSync(planPath, `${JSON.stringify(this.plan, null, 2)}\n`);
    }
    this.record = new ExperimentRecord(
      join(o.docs, this.page, 'record'),
      {
        experiment: this.page,
        budget: this.plan.config,
        seed: this.plan.seed,
        ...(this.plan.stamps ? { stamps: this.plan.stamps } : {}),
      },
      this.log,
    );
    // The time table covers every session's work on the page, so it is kept with the record (a root made
    // before the record existed brings its own).
    const timing = join(this.record.dir, 'timing.json');
    if (!existsSync(timing) && existsSync(join(this.root, 'timing.json'))) {
      mkdirSync(this.record.dir, { recursive: true });
      copyFileSync(join(this.root, 'timing.json'), timing);
    }
    this.timing = new Timing(timing);
  }

  private get device(): Device {
    return this.o.device ?? 'cpu';
  }

  /** A timing stage's name, marked with the device when it is not the CPU (the time table says where). */
  private stage(name: string): string {
    return this.device === 'cpu' ? name : `${name} (${this.device})`;
  }

  private get b(): Budget {
    return this.plan.config;
  }

  /** the training set (balanced for Fashion-MNIST, its natural counts for the colour objects) */
  private get full(): DataSpec {
    return this.split('train');
  }

  private split(split: 'train' | 'test'): DataSpec {
    const limit = this.b.limit ? { limit: this.b.limit } : {};
    if (this.plan.dataset === 'fashion-mnist') return { kind: 'fashion-mnist', split, ...limit };
    return DataSpec.parse({
      kind: 'colour-objects',
      split,
      size: 32,
      ...(this.plan.stamps ? { stamps: this.plan.stamps } : {}),
      ...limit,
    });
  }

  private get ltData(): DataSpec {
    return {
      kind: 'fashion-mnist',
      split: 'train',
      ...(this.b.limit ? { limit: this.b.limit } : {}),
      longTail: { rho: this.b.rho, seed: this.plan.seed },
    };
  }

  /** The report's file (and folder) name under docs: the dataset's name. */
  private get page(): string {
    return this.plan.dataset;
  }

  private async dataset(spec: DataSpec): Promise<ImageDataset> {
    const key = JSON.stringify(spec);
    let ds = this.datasets.get(key);
    if (!ds) this.datasets.set(key, (ds = await loadDataset(spec)));
    return ds;
  }

  /** Runs every stage not yet done; returns 0 when all finished, 130 when stopped by a signal. */
  async run(): Promise<number> {
    try {
      this.classes = (await this.dataset(this.full)).numClasses ?? null;
      await this.prerequisites();
      await this.samplerStudy();
      for (const row of this.rows()) await this.runRow(row);
      const best = this.bestSelfLabelRow();
      if (best) {
        for (const s of this.b.sweep) for (const seed of this.sweepSeeds) await this.evalRow(best, s, seed);
      }
      for (const row of this.replicas().flatMap((r) => r.copies)) await this.runRow(row);
      this.report();
      this.log(`finished; report in ${join(this.o.docs, `${this.page}.md`)}`);
      return 0;
    } catch (e) {
      this.report();
      if (e instanceof StageInterrupted) {
        this.log('stopped; run the same command again to continue');
        return 130;
      }
      throw e;
    } finally {
      for (const ds of this.datasets.values()) ds.dispose();
      this.datasets.clear();
    }
  }

  // The evaluation network and the self-supervised encoder g of the annotation issue's best setting
  // (SimCLR, ResNet widths 16-32-64, crops of at least 60% of the area, backbone features), trained here
  // unless the plan reuses existing ones.
  private async prerequisites(): Promise<void> {
    const { evalnet, encoder, seed } = this.plan;
    const ownEvalnet = evalnet === join(this.root, 'evalnet');
    const evalnetCarry = { root: this.root, extras: [basename(this.evalnetAccuracyPath)] };
    if (ownEvalnet) this.record.restoreRun('evalnet', evalnet, evalnetCarry);
    if (ownEvalnet && !existsSync(this.evalnetAccuracyPath)) {
      await this.timing.time('evalnet', async () => {
        this.log(`training the evaluation network in ${evalnet}`);
        await this.record.trainCarried('evalnet', evalnet, { root: this.root }, () =>
          trainStage(
            evalnet,
            (how) => EvalNetTrainer.open(evalnet, { ...how, log: this.log }),
            { data: this.full, train: { steps: this.b.evalnetSteps, seed } },
            { steps: this.b.evalnetSteps },
          ),
        );
      });
    }
    if (!existsSync(this.evalnetAccuracyPath)) {
      const test = await loadDataset(this.split('test'));
      const { net, path } = loadEvalNet(evalnet);
      try {
        writeFileSync(
          this.evalnetAccuracyPath,
          `${JSON.stringify({ checkpoint: path, testAccuracy: accuracy(net, test) })}\n`,
        );
      } finally {
        net.dispose();
        test.dispose();
      }
    }
    if (ownEvalnet) this.record.keepRun('evalnet', evalnet, evalnetCarry);
    const ownEncoder = encoder === join(this.root, 'encoder');
    if (ownEncoder) this.record.restoreRun('encoder', encoder, { root: this.root });
    if (ownEncoder && latestStep(encoder) < this.b.encoderSteps) {
      await this.timing.time(this.stage('encoder'), async () => {
        const config: EncoderConfigInput = {
          data: this.full,
          model: { widths: [16, 32, 64] },
          // docs/self-labels.md, round 2: batch 256, crops of at least 60% of the area, 6,000 steps
          train: { steps: this.b.encoderSteps, batchSize: 256, cropScale: [0.6, 1], seed, checkpointEvery: 250 },
        };
        await this.record.trainCarried('encoder', encoder, { root: this.root }, () =>
          trainStage(
            encoder,
            (how) => EncoderTrainer.open(encoder, { ...how, device: this.device, log: this.log }),
            config,
            { steps: this.b.encoderSteps, what: 'training the SimCLR encoder g', log: this.log },
          ),
        );
      });
    } else if (!latestCheckpoint(encoder)) {
      throw new Error(`no encoder checkpoint in ${encoder}`);
    }
    if (ownEncoder) this.record.keepRun('encoder', encoder, { root: this.root });
  }

  private get evalnetAccuracyPath(): string {
    return join(this.root, 'evalnet-test-accuracy.json');
  }

  private features(name: string, data: DataSpec, make: () => FeatureExtractor): Promise<string> {
    const path = join(this.root, 'features', `${name}.safetensors`);
    if (existsSync(path)) return Promise.resolve(path);
    mkdirSync(join(this.root, 'features'), { recursive: true });
    return this.timing.time('features', async () => {
      this.log(`extracting features ${name}`);
      const ds = await this.dataset(data);
      const ex = make();
      try {
        extractFeatures(ds, ex, { out: path, extraProvenance: { dataSpec: JSON.stringify(data) } }).features.dispose();
      } finally {
        ex.dispose?.();
      }
      return path;
    });
  }

  /** A condition file from clustering a features file (or random ids / the features themselves). */
  private annotations(
    name: string,
    featuresPath: string,
    data: DataSpec,
    kind: ConditionKind,
    k: number | null,
    f: SelfLabelF = 'kmeans',
    scan?: ScanSettings,
  ): Promise<ConditionSpec> {
    const path = join(this.root, 'annotations', `${name}.safetensors`);
    if (existsSync(path)) return Promise.resolve({ kind: 'file', path });
    mkdirSync(join(this.root, 'annotations'), { recursive: true });
    return this.timing.time('annotations', async () => {
      const ds = await this.dataset(data);
      const feats = loadFeatures(featuresPath, { dataset: ds });
      try {
        if (kind === 'onehot')
          this.log(
            `clustering ${featuresPath} into k = ${k} (${f === 'scan' ? 'SCAN clustering head' : `spherical k-means${f === 'balanced' ? ', Sinkhorn-balanced' : ''}, 3 restarts`})`,
          );
        const { annotations: ann } = selfLabels(
          featuresPath,
          { ...feats, provenance: { ...feats.provenance, dataset: ds.info.name, dataSpec: JSON.stringify(data) } },
          {
            kind,
            k: k ?? undefined,
            metric: 'cosine',
            restarts: 3,
            seed: this.plan.seed,
            balanced: f === 'balanced',
            method: f === 'scan' ? 'scan' : 'kmeans',
            scan,
          },
        );
        saveAnnotations(path, ann);
        if (ann.assignments && ann.k !== null && ds.labels) {
          writeFileSync(
            path.replace(/\.safetensors$/, '.quality.json'),
            `${JSON.stringify(clusterQuality(ann.assignments, ds.labels))}\n`,
          );
        }
        disposeAnnotations(ann);
      } finally {
        feats.features.dispose();
      }
      return { kind: 'file' as const, path };
    });
  }

  private rows(): RowDef[] {
    const ssl = (name: string, data: DataSpec) =>
      this.features(name, data, () => new SslEncoderFeatures(this.plan.encoder, 'backbone'));
    const selfRow = (k: number, group: RowDef['group'], f: SelfLabelF = 'kmeans'): RowDef => {
      const lt = group === 'long-tail';
      const data = lt ? this.ltData : this.full;
      const feats = lt ? `ssl-backbone-lt${this.b.rho}` : 'ssl-backbone';
      const variant = f === 'kmeans' ? '' : `${f}-`;
      const annotation = `${feats}-${variant}k${k}`;
      const how = { kmeans: '', balanced: ', Sinkhorn-balanced clusters', scan: ', SCAN clustering head' }[f];
      return {
        id: `${lt ? 'lt-' : ''}self-${variant}k${k}`,
        title: `self-labels, SimCLR backbone, k = ${k}${how}${lt ? `, long-tailed (rho = ${this.b.rho})` : ''}`,
        group,
        kind: 'self-label',
        k,
        data,
        annotation,
        // Equal-sized clusters contradict a long tail: SCAN's entropy term is weighed down there.
        condition: async () =>
          this.annotations(annotation, await ssl(feats, data), data, 'onehot', k, f, {
            entropyWeight: lt ? this.b.ltScanEntropyWeight : SCAN_DEFAULTS.entropyWeight,
          }),
      };
    };
    const controls: RowDef[] = [
      {
        id: 'diffusion-k10',
        title: 'self-labels, diffusion features (unguided model, middle block, t = 100), k = 10',
        group: 'balanced',
        kind: 'self-label',
        k: 10,
        data: this.full,
        annotation: 'diffusion-middle-t100-k10',
        condition: async () => {
          // Read from the unguided row's model, which a root that took 'none' from the record trains here.
          await this.train(this.row('none'));
          const path = await this.features(
            'diffusion-middle-t100',
            this.full,
            () =>
              new DiffusionFeatures(join(this.root, 'rows', 'none'), { block: 'middle', t: 100, seed: this.plan.seed }),
          );
          return this.annotations('diffusion-middle-t100-k10', path, this.full, 'onehot', 10);
        },
      },
      {
        id: 'ssl-feature',
        title: 'continuous SimCLR backbone feature (64-d, L2-normalised)',
        group: 'balanced',
        kind: 'feature',
        k: null,
        data: this.full,
        annotation: 'ssl-backbone-feature',
        condition: async () =>
          this.annotations('ssl-backbone-feature', await ssl('ssl-backbone', this.full), this.full, 'feature', null),
      },
      {
        id: 'random-k10',
        title: 'random ids, k = 10 (control)',
        group: 'balanced',
        kind: 'random',
        k: 10,
        data: this.full,
        annotation: 'random-k10',
        condition: async () =>
          this.annotations('random-k10', await ssl('ssl-backbone', this.full), this.full, 'random', 10),
      },
    ];
    return [
      {
        id: 'none',
        title: 'no guidance',
        group: 'balanced',
        kind: 'none',
        k: null,
        data: this.full,
        annotation: null,
        condition: async () => ({ kind: 'none' }),
      },
      {
        id: 'gt-labels',
        title: `ground-truth labels (${this.classes} classes)`,
        group: 'balanced',
        kind: 'ground-truth',
        k: this.classes,
        data: this.full,
        annotation: null,
        condition: async () => ({ kind: 'label' }),
      },
      ...this.b.ks.map((k) => selfRow(k, 'balanced')),
      ...this.b.scanKs.map((k) => selfRow(k, 'balanced', 'scan')),
      ...(this.b.controls ? controls : []),
      ...(this.b.ltKs.length ? this.longTailRows(selfRow) : []),
    ];
  }

  private longTailRows(selfRow: (k: number, group: RowDef['group'], f?: SelfLabelF) => RowDef): RowDef[] {
    return [
      {
        id: 'lt-none',
        title: `no guidance, long-tailed (rho = ${this.b.rho})`,
        group: 'long-tail',
        kind: 'none',
        k: null,
        data: this.ltData,
        annotation: null,
        condition: async () => ({ kind: 'none' }),
      },
      {
        id: 'lt-gt-labels',
        title: `ground-truth labels, long-tailed (rho = ${this.b.rho})`,
        group: 'long-tail',
        kind: 'ground-truth',
        k: 10,
        data: this.ltData,
        annotation: null,
        condition: async () => ({ kind: 'label' }),
      },
      ...this.b.ltKs.map((k) => selfRow(k, 'long-tail')),
      ...(this.b.ltBalancedK !== null ? [selfRow(this.b.ltBalancedK, 'long-tail', 'balanced')] : []),
      ...this.b.ltScanKs.map((k) => selfRow(k, 'long-tail', 'scan')),
    ];
  }

  private row(id: string): RowDef {
    const r = this.rows().find((x) => x.id === id);
    if (!r) throw new Error(`no row '${id}'`);
    return r;
  }

  /**
   * The long-tailed rows the claims compare (ground truth and the best long-tailed self-labels), each with
   * copies trained and evaluated with the budget's other seeds; the condition files stay the same, so the
   * spread is that of training and sampling.
   */
  private replicas(): { row: RowDef; copies: RowDef[] }[] {
    const best = this.bestSelfLabelRow('long-tail');
    if (!best) return [];
    return ['lt-gt-labels', best.id].map((id) => {
      const row = this.row(id);
      return { row, copies: this.b.replicateSeeds.map((seed) => ({ ...row, id: `${row.id}-seed${seed}`, seed })) };
    });
  }

  private rowDir(id: string): string {
    return join(this.root, 'rows', id);
  }

  // --- the sampler: the budget's, or the study's choice once the study has run ---

  private get samplerChoicePath(): string {
    return join(this.root, 'sampler-choice.json');
  }

  /** The table's sampler; null while the sampler study has not chosen yet. */
  private get sampler(): SamplerChoice | null {
    if (this.b.samplerStudy.length === 0) return { sampler: this.b.sampler, eta: 0 };
    return existsSync(this.samplerChoicePath) ? readJsonFile(this.samplerChoicePath, SamplerChoice) : null;
  }

  /** The rows the study compares the samplers on: the unguided row and the first self-label row. */
  private get studyRows(): RowDef[] {
    return ['none', `self-k${this.b.ks[0]}`].map((id) => this.row(id));
  }

  // Every sampler of the study at sampleSteps network evaluations on the two rows (same seed, so the same
  // starting noise and conditions); the lowest mean FD-evalnet chooses the sampler of everything after.
  private async samplerStudy(): Promise<void> {
    if (this.b.samplerStudy.length === 0 || this.sampler) return;
    for (const c of this.b.samplerStudy)
      for (const row of this.studyRows) await this.evalRow(row, this.b.scale, this.plan.seed, c);
    const mean = (c: SamplerChoice) =>
      this.studyRows.reduce((a, r) => a + this.metrics(r.id, this.b.scale, this.plan.seed, c)!.fd.evalnet, 0) /
      this.studyRows.length;
    const best = this.b.samplerStudy.reduce((a, c) => (mean(c) < mean(a) ? c : a));
    this.log(`sampler study: ${samplerTag(best)} has the lowest mean FD-evalnet (${mean(best).toFixed(2)})`);
    writeFileSync(this.samplerChoicePath, `${JSON.stringify(best)}\n`);
  }

  private evalDir(id: string, scale: number, seed: number, c: SamplerChoice): string {
    return join(
      this.rowDir(id),
      'eval',
      evalRunName({ ...c, steps: this.b.sampleSteps, scale, n: this.b.samples, seed }),
    );
  }

  private metrics(id: string, scale: number, seed: number, c = this.sampler): EvalMetrics | null {
    if (!c) return null;
    const p = join(this.evalDir(id, scale, seed, c), 'metrics.json');
    return existsSync(p) ? readEvalMetrics(p) : null;
  }

  /** A row's metrics at the table's scale with its own seed. */
  private rowMetrics(r: Pick<RowDef, 'id' | 'seed'>): EvalMetrics | null {
    return this.metrics(r.id, this.b.scale, r.seed ?? this.plan.seed);
  }

  /** The self-label row of a group with the lowest FD-evalnet, once all of them are evaluated. */
  private bestSelfLabelRow(group: RowDef['group'] = 'balanced'): RowDef | null {
    return bestSelfRow(this.rows(), group, (r) => this.rowMetrics(r)?.fd.evalnet ?? null);
  }

  private get sweepSeeds(): number[] {
    return Array.from({ length: this.b.sweepEvals }, (_, i) => this.plan.seed + i);
  }

  private async runRow(row: RowDef): Promise<void> {
    await this.evalRow(row, this.b.scale, row.seed ?? this.plan.seed);
  }

  private async train(row: RowDef): Promise<void> {
    const dir = this.rowDir(row.id);
    const condition = await row.condition();
    const carry = {
      root: this.root,
      inputs: { condition: condition.kind === 'file' ? tensorFingerprint(condition.path) : JSON.stringify(condition) },
    };
    this.record.restoreRun(`row-${row.id}`, dir, carry);
    if (latestStep(dir) >= this.b.steps) return;
    await this.timing.time(this.stage(`train ${row.id}`), async () => {
      const config: TrainConfigInput = {
        data: row.data,
        condition,
        model: { preset: this.b.preset },
        train: {
          steps: this.b.steps,
          batchSize: this.b.batchSize,
          lr: this.b.lr,
          warmup: this.b.warmup,
          emaDecay: this.b.emaDecay,
          seed: row.seed ?? this.plan.seed,
          checkpointEvery: this.b.checkpointEvery,
          logEvery: 100,
        },
      };
      await this.record.trainCarried(`row-${row.id}`, dir, carry, () =>
        trainStage(dir, (how) => DiffusionTrainer.open(dir, { ...how, device: this.device, log: this.log }), config, {
          steps: this.b.steps,
          what: `row ${row.id}: training`,
          log: this.log,
        }),
      );
    });
  }

  /**
   * Stops carrying the runs of rows nothing samples again: the sampler study's rows until it has chosen,
   * the balanced self-label rows until the sweep (on the best of them) is done, other rows once evaluated.
   */
  private dropFinishedRuns(): void {
    const best = this.bestSelfLabelRow();
    const sweepDone =
      best !== null && this.b.sweep.every((sc) => this.sweepSeeds.every((seed) => this.metrics(best.id, sc, seed)));
    const studying = this.b.samplerStudy.length > 0 && !this.sampler;
    const study = new Set(this.studyRows.map((r) => r.id));
    for (const r of this.rows().concat(this.replicas().flatMap((x) => x.copies))) {
      if (!this.rowMetrics(r)) continue;
      if (studying && study.has(r.id)) continue;
      if (!sweepDone && r.group === 'balanced' && r.kind === 'self-label') continue;
      this.record.dropRun(`row-${r.id}`);
    }
  }

  /** What a row's evaluations are measured against, for the record: g, the judge, its data and condition. */
  private async inputs(row: RowDef): Promise<RecordInputs> {
    const c = await row.condition();
    return {
      g: runFingerprint(this.plan.encoder),
      judge: runFingerprint(this.plan.evalnet),
      // where the images are cached is not what they are
      data: JSON.stringify({ ...row.data, cache: undefined }),
      condition: c.kind === 'file' ? tensorFingerprint(c.path) : JSON.stringify(c),
    };
  }

  /**
   * A row's evaluation: on disk, else from the record when it was measured against the same g, judge, data
   * and condition, else the row trained (if it is not yet) and evaluated, and the evaluation recorded.
   */
  private async evalRow(row: RowDef, scale: number, seed: number, c: SamplerChoice = this.sampler!): Promise<void> {
    const out = this.evalDir(row.id, scale, seed, c);
    const key = `${row.id}/${basename(out)}`;
    if (existsSync(join(out, 'metrics.json'))) {
      // measured before the record existed
      if (!this.record.has(key)) this.record.keep(key, out, await this.inputs(row));
      return;
    }
    if (this.record.has(key) && this.record.restore(key, out, await this.inputs(row))) return this.report();
    await this.train(row);
    const other = seed !== (row.seed ?? this.plan.seed) ? ` seed${seed}` : '';
    await this.timing.time(this.stage(`eval ${row.id} s${scale} ${samplerTag(c)}${other}`), () =>
      evaluate({
        checkpoint: this.rowDir(row.id),
        evalnet: this.plan.evalnet,
        n: this.b.samples,
        scale,
        sampler: c.sampler,
        eta: c.eta,
        steps: this.b.sampleSteps,
        seed,
        // Small batches were fastest for the tiny UNet on the 2-core CPU; a GPU wants large ones.
        batchSize: this.device === 'cpu' ? 16 : 250,
        cacheDir: join(this.root, 'cache'),
        out,
        device: this.device,
        log: this.log,
        extraFeatures: [{ name: 'ssl', make: () => new SslEncoderFeatures(this.plan.encoder, 'backbone') }],
      }),
    );
    this.record.keep(key, out, await this.inputs(row));
    this.dropFinishedRuns();
    this.report();
  }

  private report(): void {
    const sampler = this.sampler;
    const results: RowResult[] = this.rows().map((r) => {
      const qualityFile =
        r.kind === 'self-label' && r.annotation ? join(this.root, 'annotations', `${r.annotation}.quality.json`) : null;
      return {
        id: r.id,
        title: r.title,
        group: r.group,
        kind: r.kind,
        k: r.k,
        metrics: this.rowMetrics(r),
        grid: sampler ? join(this.evalDir(r.id, this.b.scale, this.plan.seed, sampler), 'samples.png') : '',
        selfLabelNmi:
          qualityFile && existsSync(qualityFile)
            ? readJsonFile(qualityFile, z.looseObject({ nmi: z.number() })).nmi
            : null,
      };
    });
    const best = this.bestSelfLabelRow();
    const sweep = best
      ? this.b.sweep.map((s) => ({
          scale: s,
          runs: this.sweepSeeds.map((seed) => ({ seed, metrics: this.metrics(best.id, s, seed) })),
          grid: sampler ? join(this.evalDir(best.id, s, this.plan.seed, sampler), 'samples.png') : '',
        }))
      : [];
    const study: SamplerStudyRow[] = this.b.samplerStudy.flatMap((c) =>
      this.studyRows.map((r) => {
        const dir = this.evalDir(r.id, this.b.scale, this.plan.seed, c);
        return {
          sampler: c,
          row: r.id,
          metrics: this.metrics(r.id, this.b.scale, this.plan.seed, c),
          grid: join(dir, 'samples.png'),
        };
      }),
    );
    const accPath = this.evalnetAccuracyPath;
    const input: ReportInput = {
      dataset: { name: this.page, title: DATASET_TITLE[this.plan.dataset], classes: this.classes },
      budgetName: this.plan.budget,
      budget: this.b,
      seed: this.plan.seed,
      root: this.root,
      docs: this.o.docs,
      encoder: this.plan.encoder,
      evalnet: this.plan.evalnet,
      evalnetAccuracy: existsSync(accPath)
        ? readJsonFile(accPath, z.looseObject({ testAccuracy: z.number() })).testAccuracy
        : null,
      sampler,
      samplerStudy: study,
      rows: results,
      sweepRow: best?.id ?? null,
      sweep,
      timing: this.timing.all,
      command: this.plan.command,
      replicas: this.replicas().map(({ row, copies }) => ({
        id: row.id,
        seeds: [
          { seed: this.plan.seed, metrics: this.rowMetrics(row) },
          ...copies.map((c) => ({ seed: c.seed!, metrics: this.rowMetrics(c) })),
        ],
      })),
    };
    writeReport(input);
  }
}
