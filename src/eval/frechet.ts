// Frechet distance between two Gaussians fitted to feature sets, in float64:
//   FD = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).
// The trace of the matrix square root is computed as the sum of square roots of the eigenvalues of the
// symmetric PSD matrix S1^(1/2) S2 S1^(1/2), which stays stable for near-singular covariances (eigenvalues
// below zero from round-off are clamped). Name it after the network that made the features
// ("FD-evalnet"); it is FID only with Inception features.
import * as torch from '../torch/index.js';
import { keep, type Tensor } from '../torch/index.js';

export interface GaussianStats {
  /** [D] float64 */
  mu: Tensor;
  /** [D, D] float64 (unbiased) */
  sigma: Tensor;
  n: number;
}

export function featureStats(features: Tensor): GaussianStats {
  const n = features.shape[0]!;
  if (features.ndim !== 2 || n < 2)
    throw new RangeError(`feature statistics need [N >= 2, D] features, got [${features.shape.join(', ')}]`);
  return torch.tidy(() => {
    const x = features.double();
    const mu = x.mean(0);
    const xc = x.sub(mu);
    return {
      mu: keep(mu),
      sigma: keep(
        xc
          .t()
          .matmul(xc)
          .div(n - 1),
      ),
      n,
    };
  });
}

/** Symmetric PSD square root by eigendecomposition (negative round-off eigenvalues clamped to 0). */
function sqrtPsd(a: Tensor): Tensor {
  return torch.tidy(() => {
    const sym = a.add(a.t()).div(2);
    const { eigenvalues, eigenvectors } = torch.linalg.eigh(sym);
    return eigenvectors.mul(eigenvalues.clampMin(0).sqrt().unsqueeze(0)).matmul(eigenvectors.t());
  });
}

export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  if (a.mu.shape[0] !== b.mu.shape[0])
    throw new RangeError(`feature sizes differ: ${a.mu.shape[0]} vs ${b.mu.shape[0]}`);
  return torch.tidy(() => {
    const diff = a.mu.sub(b.mu).square().sum().item();
    const s1 = sqrtPsd(a.sigma);
    const m = s1.matmul(b.sigma).matmul(s1);
    const traceSqrt = torch.linalg.eigvalsh(m.add(m.t()).div(2)).clampMin(0).sqrt().sum().item();
    const fd = diff + a.sigma.diagonal().sum().item() + b.sigma.diagonal().sum().item() - 2 * traceSqrt;
    // Round-off can leave a tiny negative value for identical sets.
    return Math.max(0, fd);
  });
}

export function disposeStats(s: GaussianStats): void {
  s.mu.dispose();
  s.sigma.dispose();
}

/** Real-set statistics cached as safetensors with provenance. */
export function saveStats(path: string, s: GaussianStats, meta: Record<string, string> = {}): void {
  torch.safetensors.saveFile(
    path,
    { mu: s.mu, sigma: s.sigma },
    { ...meta, n: String(s.n), format: 'selfguided-fd-stats/1' },
  );
}

export function loadStats(path: string): { stats: GaussianStats; meta: Record<string, string> } {
  const { tensors, metadata } = torch.safetensors.loadFile(path);
  const mu = tensors.get('mu'),
    sigma = tensors.get('sigma');
  if (metadata.format !== 'selfguided-fd-stats/1' || !mu || !sigma) {
    for (const t of tensors.values()) t.dispose();
    throw new Error(`${path} is not a selfguided statistics file`);
  }
  return { stats: { mu, sigma, n: Number(metadata.n) }, meta: metadata };
}
