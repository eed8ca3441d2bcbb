// The weak baseline: raw pixels projected onto their top principal components (fit on the dataset).
import type { ImageDataset } from '../data/dataset.js';
import * as torch from '../torch/index.js';
import { keep, type Tensor } from '../torch/index.js';
import { hostRng } from '../util/streams.js';
import type { FeatureExtractor } from './extract.js';

export interface PixelsPcaOptions {
  components?: number;
  whiten?: boolean;
  /** fit on at most this many images (a seeded random subset) */
  fitSamples?: number;
  seed?: number;
}

export class PixelsPca implements FeatureExtractor {
  readonly name = 'pixels-pca';
  private mean: Tensor | null = null;
  private basis: Tensor | null = null;
  /** variance explained by each kept component, largest first */
  explained: number[] = [];

  constructor(readonly o: PixelsPcaOptions = {}) {}

  provenance() {
    return {
      extractor: this.name,
      config: JSON.stringify({
        components: this.o.components ?? 64,
        whiten: this.o.whiten ?? false,
        fitSamples: this.o.fitSamples ?? 20000,
        seed: this.o.seed ?? 0,
      }),
    };
  }

  fit(ds: ImageDataset): void {
    const comps = this.o.components ?? 64;
    const d = ds.channels * ds.size * ds.size;
    if (comps > d) throw new RangeError(`PCA: ${comps} components asked for, but images have only ${d} pixels`);
    const m = Math.min(ds.length, this.o.fitSamples ?? 20000);
    const idx = hostRng(this.o.seed ?? 0, 'pixels-pca.subset')
      .permutation(ds.length)
      .slice(0, m);
    torch.tidy(() => {
      const x = ds.images(idx).flatten(1).double();
      const mean = x.mean(0);
      const xc = x.sub(mean);
      const cov = xc
        .t()
        .matmul(xc)
        .div(Math.max(1, m - 1));
      const { eigenvalues, eigenvectors } = torch.linalg.eigh(cov);
      // eigh sorts ascending; keep the largest.
      const top = eigenvectors.narrow(1, d - comps, comps).flip(1);
      const vals = eigenvalues.narrow(0, d - comps, comps).flip(0);
      this.explained = Array.from(vals.toTypedArray() as Float64Array);
      const basis = this.o.whiten ? top.div(vals.clampMin(1e-12).sqrt().unsqueeze(0)) : top;
      this.mean?.dispose();
      this.basis?.dispose();
      this.mean = keep(mean.float());
      this.basis = keep(basis.float());
    });
  }

  embed(images: Tensor): { features: Tensor } {
    if (!this.mean || !this.basis) throw new Error('PixelsPca: call fit(dataset) before embed');
    return { features: torch.tidy(() => images.flatten(1).sub(this.mean!).matmul(this.basis!)) };
  }

  dispose(): void {
    this.mean?.dispose();
    this.basis?.dispose();
  }
}
