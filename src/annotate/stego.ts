// STEGO (Hamilton et al., 2022): a light segmentation head trained on frozen patch features with the
// feature-correspondence distillation loss, then a cluster probe (minibatch spherical k-means on the
// head's codes) that turns codes into K segments. Trained on the one training loop.
import { z } from 'zod';
import { BatchSampler } from '../data/loader.js';
import { loadFeatures } from '../features/features-file.js';
import * as nn from '../nn/index.js';
import * as optim from '../optim/index.js';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { checkpointMeta, loadCheckpoint, resolveCheckpoint } from '../train/checkpoint.js';
import { TrainingLoop, type StepMetrics } from '../train/loop.js';
import type { OpenRunOptions, RunDir } from '../train/run-dir.js';
import type { TrainingState } from '../train/state.js';

export const STEGO_FORMAT = 'selfguided-stego/1';

/** Cosine correlation of every patch of a with every patch of b: [B, hw_a, hw_b]. */
function correlation(a: Tensor, b: Tensor): Tensor {
  return torch.normalize(a, 2, 2).matmul(torch.normalize(b, 2, 2).transpose(1, 2));
}

/**
 * One term of STEGO's loss: -clamp(S, min 0) * (F - shift), where F correlates the frozen features and
 * S the codes of two images' patches; patches whose features agree more than `shift` pull their codes
 * together, the others push them apart. Args: features [B, P, D], codes [B, P, C] of each side.
 */
export function correspondenceLoss(f1: Tensor, f2: Tensor, c1: Tensor, c2: Tensor, shift: number): Tensor {
  const fd = correlation(f1, f2);
  const cd = correlation(c1, c2);
  return cd.clamp(0, Infinity).mul(fd.sub(shift)).neg().mean();
}

/** The segmentation head: a linear 1x1 branch plus a two-layer 1x1 MLP branch, D -> codeDim. */
export class StegoHead extends nn.Module<[Tensor], Tensor> {
  readonly linear: nn.Linear;
  readonly mlp: nn.Sequential;
  constructor(
    readonly inDim: number,
    readonly codeDim: number,
  ) {
    super();
    this.linear = this.registerModule('linear', new nn.Linear(inDim, codeDim));
    this.mlp = this.registerModule(
      'mlp',
      new nn.Sequential(new nn.Linear(inDim, inDim), new nn.ReLU(), new nn.Linear(inDim, codeDim)),
    );
  }
  /** patches [..., D] -> codes [..., codeDim] */
  forward(x: Tensor): Tensor {
    return this.linear.call(x).add(this.mlp.call(x));
  }
}

/** The cluster probe: K unit centroids in code space; a code's segment is its most similar centroid. */
export class ClusterProbe extends nn.Module<[Tensor], { loss: Tensor; scores: Tensor }> {
  readonly centroids: Tensor;
  constructor(
    readonly K: number,
    readonly codeDim: number,
  ) {
    super();
    this.centroids = this.registerParameter('centroids', torch.randn([K, codeDim]).mul(0.1));
  }
  /** codes [P, C] -> the minibatch k-means loss and the cosine scores [P, K] */
  forward(codes: Tensor): { loss: Tensor; scores: Tensor } {
    const scores = torch.normalize(codes, 2, 1).matmul(torch.normalize(this.centroids, 2, 1).t());
    const hard = torch.oneHot(scores.argmax(1), this.K).float();
    return { loss: hard.mul(scores).sum(1).mean().neg(), scores };
  }
}

export const StegoTrainSettings = z.object({
  steps: z.number().int().positive(),
  batchSize: z.number().int().min(2).default(32),
  lr: z.number().positive().default(5e-4),
  /** neighbours per image for the k-NN term, by cosine of the image-level features */
  knn: z.number().int().positive().default(7),
  /** shifts b and weights of the three terms (the image with itself, with a k-NN neighbour, with a random image) */
  shifts: z
    .object({ self: z.number(), knn: z.number(), random: z.number() })
    .default({ self: 0.18, knn: 0.12, random: 0.46 }),
  weights: z
    .object({ self: z.number(), knn: z.number(), random: z.number() })
    .default({ self: 0.67, knn: 0.25, random: 0.63 }),
  seed: z.number().int().min(0).default(0),
  checkpointEvery: z.number().int().positive().default(200),
  logEvery: z.number().int().positive().default(20),
});

export const StegoConfig = z.object({
  /** a features file with patches (the frozen g) */
  features: z.string(),
  model: z
    .object({ codeDim: z.number().int().positive().default(32), K: z.number().int().min(2).default(11) })
    .default({ codeDim: 32, K: 11 }),
  train: StegoTrainSettings,
});
export type StegoConfig = z.infer<typeof StegoConfig>;
export type StegoConfigInput = z.input<typeof StegoConfig>;

/** The head and the probe together (one state dict, one optimizer). */
export class Stego extends nn.Module<[Tensor], Tensor> {
  readonly head: StegoHead;
  readonly probe: ClusterProbe;
  constructor(inDim: number, m: StegoConfig['model']) {
    super();
    this.head = this.registerModule('head', new StegoHead(inDim, m.codeDim));
    this.probe = this.registerModule('probe', new ClusterProbe(m.K, m.codeDim));
  }
  forward(patches: Tensor): Tensor {
    return this.head.call(patches);
  }
}

export class StegoTrainer extends TrainingLoop<StegoConfig> {
  protected readonly format = STEGO_FORMAT;

  private constructor(
    run: RunDir<StegoConfig>,
    readonly model: Stego,
    readonly optimizer: optim.AdamW,
    readonly scheduler: optim.LRScheduler,
    readonly loader: BatchSampler,
    readonly generator: torch.Generator,
    /** [N, P, D] frozen patch features */
    private readonly patches: Tensor,
    /** [N, knn] neighbour rows */
    private readonly neighbours: Int32Array,
  ) {
    super(run);
  }

  static async open(runDir: string, o: OpenRunOptions & { config?: StegoConfigInput } = {}): Promise<StegoTrainer> {
    return TrainingLoop.openRun(runDir, o, StegoConfig, (run) => {
      const { config } = run;
      const feats = loadFeatures(config.features, { patches: true });
      if (!feats.patches) {
        feats.features.dispose();
        throw new Error(`${config.features} has no patch features; extract them with selfguided features --patches`);
      }
      const [n, h, w, d] = feats.patches.shape as [number, number, number, number];
      const patches = torch.keep(feats.patches.reshape(n, h * w, d).float());
      feats.patches.dispose();
      const k = Math.min(config.train.knn, n - 1);
      const neighbours = torch.tidy(() => {
        const g = torch.normalize(feats.features.float(), 2, 1);
        const sim = g.matmul(g.t()).sub(torch.eye(n).mul(2));
        return Int32Array.from(sim.topk(k, 1).indices.toTypedArray() as BigInt64Array, Number);
      });
      feats.features.dispose();
      torch.manualSeed(config.train.seed);
      const model = new Stego(d, config.model);
      const optimizer = new optim.AdamW(model.parameters(), { lr: config.train.lr, weightDecay: 0 });
      const scheduler = new optim.LRScheduler(optimizer, config.train.lr, optim.linearWarmup(1));
      // The images of each step, an epoch at a time (the loop saves its place).
      const loader = new BatchSampler(n, { batchSize: config.train.batchSize, seed: config.train.seed });
      return new StegoTrainer(
        run,
        model,
        optimizer,
        scheduler,
        loader,
        torch.streamGenerator(config.train.seed, 'train.noise'),
        patches,
        neighbours,
      );
    });
  }

  get numPatchesPerImage(): number {
    return this.patches.shape[1]!;
  }

  protected trainingState(): TrainingState {
    return this;
  }

  protected override checkpointExtras() {
    return { meta: { inDim: this.patches.shape[2], patchesPerImage: this.patches.shape[1] } };
  }

  protected optimizationStep(): StepMetrics {
    const t = this.config.train;
    const rows = Array.from(this.loader.next().indices);
    const k = this.neighbours.length / this.patches.shape[0]!;
    const pick = torch.randint(0, k, [rows.length], { generator: this.generator }).toTypedArray() as BigInt64Array;
    const knnRows = rows.map((r, i) => this.neighbours[r * k + Number(pick[i]!)]!);
    const perm = torch.randperm(rows.length, { generator: this.generator }).toTypedArray() as BigInt64Array;
    const randRows = Array.from(perm, (p) => rows[Number(p)]!);
    const take = (rs: number[]) => this.patches.indexSelect(0, torch.tensor(Int32Array.from(rs)).long());
    const f = take(rows),
      fk = take(knnRows),
      fr = take(randRows);
    const c = this.model.call(f),
      ck = this.model.call(fk),
      cr = this.model.call(fr);
    const self = correspondenceLoss(f, f, c, c, t.shifts.self);
    const knn = correspondenceLoss(f, fk, c, ck, t.shifts.knn);
    const random = correspondenceLoss(f, fr, c, cr, t.shifts.random);
    const stego = self.mul(t.weights.self).add(knn.mul(t.weights.knn)).add(random.mul(t.weights.random));
    // The probe learns from the codes without pushing them (STEGO detaches them).
    const probe = this.model.probe.call(c.reshape(-1, c.shape[2]!).detach()).loss;
    const loss = this.backward(stego.add(probe));
    return {
      loss,
      stego: stego.item(),
      probe: probe.item(),
      self: self.item(),
      knn: knn.item(),
      random: random.item(),
    };
  }

  protected disposeState(): void {
    this.model.dispose();
    this.optimizer.dispose();
    this.patches.dispose();
  }
}

/**
 * Segment ids [N, S, S] from patch features [N, h, w, D] (and, for flip-averaging, the patches of the
 * horizontally flipped images, flipped back here): the head's codes averaged over both, scored against
 * the probe's centroids, the scores upsampled bilinearly, the best per pixel.
 */
export function stegoSegments(model: Stego, patches: Tensor, imageSize: number, flipped?: Tensor | null): Tensor {
  return torch.noGrad(() =>
    torch.tidy(() => {
      const [n, h, w, d] = patches.shape as [number, number, number, number];
      let codes = model.call(patches.reshape(n, h * w, d).float());
      if (flipped) {
        const back = flipped
          .flip(2)
          .reshape(n, h * w, d)
          .float();
        codes = codes.add(model.call(back)).div(2);
      }
      const cd = codes.shape[2]!;
      const scores = torch
        .normalize(codes.reshape(n * h * w, cd), 2, 1)
        .matmul(torch.normalize(model.probe.centroids, 2, 1).t())
        .reshape(n, h, w, model.probe.K)
        .permute(0, 3, 1, 2)
        .contiguous();
      return torch
        .interpolate(scores, { size: [imageSize, imageSize], mode: 'bilinear' })
        .argmax(1)
        .to('uint8');
    }),
  );
}

/** A trained STEGO head and probe from a run directory or checkpoint file. */
export function loadStego(pathOrRun: string): { model: Stego; config: StegoConfig; path: string } {
  const path = resolveCheckpoint(pathOrRun);
  const ck = loadCheckpoint(path, STEGO_FORMAT);
  try {
    const config = checkpointMeta(ck, 'config', StegoConfig);
    const model = new Stego(checkpointMeta(ck, 'inDim', z.number().int().positive()), config.model);
    model.loadStateDict(ck.model);
    model.eval();
    return { model, config, path };
  } finally {
    ck.dispose();
  }
}
