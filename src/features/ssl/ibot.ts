// iBOT's masked patch distillation (Zhou et al. 2022), the patch-level half of the ViT g's objective: the
// student sees a global view with some patches replaced by a mask token and must predict, at each masked
// patch, the teacher's (centred, sharpened) prototype distribution for that patch of the unmasked view.
// Chosen over a dense contrastive loss (DenseCL, VADeR) because it is DINO's own distillation applied to
// patches: the same head, teacher, centring and temperatures this project already has for DINO, no
// correspondence between two crops to compute, and it is what makes iBOT's and DINOv2's patch tokens
// separate parts and objects, which is what LOST and STEGO read.
import * as torch from '../../torch/index.js';
import type { Generator, Tensor } from '../../torch/index.js';

/**
 * The cross-entropy between softmax((teacher - center) / teacherTemp) and softmax(student / studentTemp)
 * at the masked patches: per image the mean over its masked patches (0 when none is masked), then the
 * mean over images, as iBOT.
 *
 * Args: student, teacher [R, N, K] (R views x images, N patches), mask [R, N] (true: masked for the
 * student), center [K]. The teacher side carries no gradient.
 */
export function maskedPatchLoss(
  student: Tensor,
  teacher: Tensor,
  mask: Tensor,
  center: Tensor,
  o: { studentTemp: number; teacherTemp: number },
): Tensor {
  return torch.tidy(() => {
    if (
      student.ndim !== 3 ||
      teacher.shape.join() !== student.shape.join() ||
      mask.shape.join() !== student.shape.slice(0, 2).join()
    )
      throw new RangeError(
        `masked patch loss: student [${student.shape.join(', ')}], teacher [${teacher.shape.join(', ')}], mask [${mask.shape.join(', ')}]`,
      );
    const t = torch.noGrad(() => torch.softmax(teacher.detach().sub(center).div(o.teacherTemp), 2));
    const ce = t
      .mul(torch.logSoftmax(student.div(o.studentTemp), 2))
      .sum(2)
      .neg();
    const m = mask.float();
    return ce.mul(m).sum(1).div(m.sum(1).clampMin(1)).mean();
  });
}

/**
 * iBOT's masks for R views of N patches: each view is masked with probability `prob`, and then each of its
 * patches with a ratio drawn uniformly from `ratio` (iBOT masks blocks; independent patches are the simpler
 * form its paper reports as close). Drawn from `generator` for all R rows, so that data-parallel ranks draw
 * the global batch's masks and keep their rows.
 */
export function patchMasks(
  rows: number,
  patches: number,
  o: { prob: number; ratio: [number, number] },
  generator: Generator,
): Tensor {
  return torch.tidy(() => {
    const masked = torch.rand([rows, 1], { generator }).lt(o.prob);
    const ratio = torch
      .rand([rows, 1], { generator })
      .mul(o.ratio[1] - o.ratio[0])
      .add(o.ratio[0]);
    return torch.rand([rows, patches], { generator }).lt(ratio).logicalAnd(masked);
  });
}
