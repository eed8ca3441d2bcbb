// DINO's self-distillation (Caron et al. 2021), the objective of the paper's feature extractor: a student
// network matches, on every view, the sharpened and centred output of a teacher that is the student's
// exponential moving average and sees only the large (global) views. No negatives: the centring and the
// sharpening keep the outputs from collapsing.
import * as nn from '../../nn/index.js';
import * as torch from '../../torch/index.js';
import { foreach, type Tensor } from '../../torch/index.js';

/**
 * The projection head: an MLP to a bottleneck, L2-normalised, then a weight-normalised layer to K
 * prototypes. Its hidden layers are batch-normalised (DINO's option for convolutional backbones): without
 * it, the pooled ReLU features of a small ResNet share one large common direction, every image scored
 * the prototypes alike, and the centred teacher went uniform within 40 steps.
 */
export class DinoHead extends nn.Module {
  readonly mlp: nn.Sequential;
  readonly prototypes: Tensor;
  constructor(
    dim: number,
    hidden: number,
    bottleneck: number,
    readonly outDim: number,
    /** batch-normalised hidden layers (DINO leaves them out for ViTs; see DinoSettings.headBatchNorm) */
    batchNorm = true,
  ) {
    super();
    const norm = (): nn.Module[] => (batchNorm ? [new nn.BatchNorm1d(hidden)] : []);
    this.mlp = this.registerModule(
      'mlp',
      new nn.Sequential(
        new nn.Linear(dim, hidden),
        ...norm(),
        new nn.GELU(),
        new nn.Linear(hidden, hidden),
        ...norm(),
        new nn.GELU(),
        new nn.Linear(hidden, bottleneck),
      ),
    );
    // DINO's last layer has its weight norm's scale fixed at 1: each output is a cosine similarity.
    this.prototypes = this.registerParameter('prototypes', torch.randn([outDim, bottleneck]).mul(0.02));
  }
  /** The normalised bottleneck [B, bottleneck] (a feature) and the prototype scores [B, K] in [-1, 1]. */
  embed(x: Tensor): { bottleneck: Tensor; scores: Tensor } {
    const b = torch.normalize(this.mlp.call(x), 2, 1);
    return { bottleneck: b, scores: b.matmul(torch.normalize(this.prototypes, 2, 1).t()) };
  }
  forward(x: Tensor): Tensor {
    return this.embed(x).scores;
  }
}

/**
 * The DINO loss: the mean over every (teacher global view i, student view v != i) pair of the cross-entropy
 * between softmax((teacher_i - center) / teacherTemp) and softmax(student_v / studentTemp).
 *
 * Args: student [V * B, K] (the global views first, then the local ones), teacher [G * B, K] (the G global
 * views), center [K]. The teacher side carries no gradient.
 */
export function dinoLoss(
  student: Tensor,
  teacher: Tensor,
  center: Tensor,
  o: { studentTemp: number; teacherTemp: number; globalViews?: number },
): Tensor {
  return torch.tidy(() => {
    const g = o.globalViews ?? 2;
    const b = teacher.shape[0]! / g;
    const v = student.shape[0]! / b;
    if (!Number.isInteger(b) || !Number.isInteger(v) || v < g)
      throw new RangeError(`DINO: ${student.shape[0]} student and ${teacher.shape[0]} teacher rows do not make views`);
    const t = torch.noGrad(() => torch.softmax(teacher.detach().sub(center).div(o.teacherTemp), 1));
    const logS = torch.logSoftmax(student.div(o.studentTemp), 1);
    let total: Tensor | null = null;
    let terms = 0;
    for (let i = 0; i < g; i++) {
      const ti = t.narrow(0, i * b, b);
      for (let j = 0; j < v; j++) {
        if (j === i) continue;
        const ce = ti
          .mul(logS.narrow(0, j * b, b))
          .sum(1)
          .neg()
          .mean();
        total = total ? total.add(ce) : ce;
        terms++;
      }
    }
    return total!.div(terms);
  });
}

/**
 * The mean entropy of the teacher's targets softmax((scores - center) / temp) over the last dimension:
 * near 0 or near log K would be the two ways of collapsing.
 */
export function targetEntropy(scores: Tensor, center: Tensor, temp: number): number {
  return torch.tidy(() => {
    const p = torch.softmax(scores.sub(center).div(temp), scores.ndim - 1);
    return p
      .mul(p.clampMin(1e-12).log())
      .sum(scores.ndim - 1)
      .neg()
      .mean()
      .item();
  });
}

/** center <- m * center + (1 - m) * mean of the teacher's outputs (in place). */
export function updateCenter(center: Tensor, teacher: Tensor, momentum: number): void {
  torch.noGrad(() =>
    torch.tidy(() => {
      center.mul_(momentum).add_(
        teacher
          .detach()
          .mean(0)
          .mul(1 - momentum),
      );
    }),
  );
}

/** teacher <- m * teacher + (1 - m) * student over the parameters (the buffers follow their own forward passes). */
export function updateTeacher(teacher: nn.Module, student: nn.Module, momentum: number): void {
  torch.noGrad(() => {
    const t = teacher.parameters(),
      s = student.parameters();
    foreach.mul_(t, momentum);
    foreach.add_(t, s, 1 - momentum);
  });
}

/** The teacher's momentum at a step: from `base` to 1 along a half cosine over the run, as DINO. */
export function teacherMomentum(base: number, step: number, steps: number): number {
  return 1 - ((1 - base) * (Math.cos((Math.PI * Math.min(step, steps)) / Math.max(1, steps)) + 1)) / 2;
}

/** The teacher's temperature: linear from `start` to `end` over the first `warmup` steps, then `end`. */
export function teacherTemperature(start: number, end: number, warmup: number, step: number): number {
  return warmup <= 0 || step >= warmup ? end : start + ((end - start) * step) / warmup;
}
