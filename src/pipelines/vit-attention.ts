// What a ViT g looks at: the CLS token's attention over the patches in its last layer, per head, beside
// each image (DINO's figure). Objects that light up where they are, and not the background, are what
// LOST's seed and STEGO's segments need from g.
import type { ImageDataset } from '../data/dataset.js';
import { saveGrid } from '../data/png.js';
import { SslEncoderFeatures } from '../features/ssl/encoder-features.js';
import * as torch from '../torch/index.js';

/**
 * A grid with one row per image: the image, each head's CLS attention map and their mean (each map scaled
 * to its own maximum, nearest-upsampled to the image's size). Returns the number of heads.
 */
export async function saveAttentionMaps(
  checkpoint: string,
  ds: ImageDataset,
  o: { n?: number; out: string; scale?: number },
): Promise<number> {
  const enc = new SslEncoderFeatures(checkpoint);
  try {
    const vit = enc.model.vit;
    const n = Math.min(o.n ?? 8, ds.length);
    const heads = vit.config.heads;
    const grid = torch.noGrad(() =>
      torch.tidy(() => {
        const x = ds.images(Array.from({ length: n }, (_, i) => i));
        const cls = vit.lastAttention(x).cls;
        const maps = torch.cat([cls, cls.mean([1], { keepdim: true })], 1);
        const peak = maps.amax([2, 3], { keepdim: true }).clampMin(1e-12);
        const up = torch.interpolate(maps.div(peak), { size: [ds.size, ds.size], mode: 'nearest' });
        const asImages = up
          .mul(2)
          .sub(1)
          .unsqueeze(2)
          .expand([n, heads + 1, ds.channels, ds.size, ds.size]);
        return torch.cat([x.unsqueeze(1), asImages], 1).reshape(n * (heads + 2), ds.channels, ds.size, ds.size);
      }),
    );
    await saveGrid(grid, o.out, { nrow: heads + 2, scale: o.scale ?? 3 });
    grid.dispose();
    return heads;
  } finally {
    enc.dispose();
  }
}
