// torch.linalg: decompositions and solves (float32 and float64).
import { Op } from './op.js';
import { callT, callTs, type Tensor } from './tensor.js';

const O = {
  eigh: new Op('linalg_eigh'),
  eigvalsh: new Op('linalg_eigvalsh'),
  svd: new Op('linalg_svd'),
  svdvals: new Op('linalg_svdvals'),
  cholesky: new Op('linalg_cholesky'),
  inv: new Op('linalg_inv'),
  det: new Op('linalg_det'),
  slogdet: new Op('linalg_slogdet'),
  solve: new Op('linalg_solve'),
  qr: new Op('linalg_qr'),
  matrixNorm: new Op('linalg_matrix_norm', 'str_ord'),
};

/** Eigen-decomposition of symmetric (Hermitian) matrices, eigenvalues ascending. */
export function eigh(a: Tensor, uplo: 'L' | 'U' = 'L'): { eigenvalues: Tensor; eigenvectors: Tensor } {
  const [eigenvalues, eigenvectors] = callTs(O.eigh, [a, uplo]);
  return { eigenvalues: eigenvalues!, eigenvectors: eigenvectors! };
}
export function eigvalsh(a: Tensor, uplo: 'L' | 'U' = 'L'): Tensor {
  return callT(O.eigvalsh, [a, uplo]);
}
export function svd(a: Tensor, fullMatrices = true): { U: Tensor; S: Tensor; Vh: Tensor } {
  const [U, S, Vh] = callTs(O.svd, [a, fullMatrices, null]);
  return { U: U!, S: S!, Vh: Vh! };
}
export function svdvals(a: Tensor): Tensor {
  return callT(O.svdvals, [a, null]);
}
export function cholesky(a: Tensor, upper = false): Tensor {
  return callT(O.cholesky, [a, upper]);
}
export function inv(a: Tensor): Tensor {
  return callT(O.inv, [a]);
}
export function det(a: Tensor): Tensor {
  return callT(O.det, [a]);
}
export function slogdet(a: Tensor): { sign: Tensor; logabsdet: Tensor } {
  const [sign, logabsdet] = callTs(O.slogdet, [a]);
  return { sign: sign!, logabsdet: logabsdet! };
}
export function solve(a: Tensor, b: Tensor): Tensor {
  return callT(O.solve, [a, b, true]);
}
export function qr(a: Tensor, mode: 'reduced' | 'complete' | 'r' = 'reduced'): { Q: Tensor; R: Tensor } {
  const [Q, R] = callTs(O.qr, [a, mode]);
  return { Q: Q!, R: R! };
}
export function matrixNorm(a: Tensor, ord: 'fro' | 'nuc' = 'fro'): Tensor {
  return callT(O.matrixNorm, [a, ord, [-2, -1], false, null]);
}
